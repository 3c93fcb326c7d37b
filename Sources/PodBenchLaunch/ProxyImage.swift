import Foundation
import Glibc
import PodBenchCore

/// An image of this host's nginx or haproxy, made as podbench's own is (ContainerImage): no
/// registry, no base image, the program and the shared libraries it loads (and nginx's stream
/// module with its own), an empty /tmp, and an /etc/passwd and /etc/group that name root and nobody
/// (nginx looks its user up when it starts as root). The third container of a pod under `run
/// --isolation podman --preset http-proxy=…`.
public enum ProxyImage {
    /// The tag for `files` (the program, the files it loads and their libraries): a digest of their
    /// paths, sizes, inodes and modification times, so an upgraded proxy or library gets a new
    /// image and an unchanged one reuses its image.
    static let layoutVersion: UInt64 = 1

    public static func tag(name: String, files: [String]) throws -> String {
        // The layout's version first: an image of an older layout is not reused.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ layoutVersion
        for file in files {
            for byte in file.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            var info = stat()
            guard stat(file, &info) == 0 else {
                throw PodBenchError(.ioFailure, "cannot read \(file): \(String(cString: strerror(errno)))")
            }
            for value in [UInt64(info.st_size), UInt64(info.st_ino), UInt64(info.st_mtim.tv_sec)] {
                for shift in stride(from: 0, to: 64, by: 8) {
                    hash = (hash ^ ((value >> UInt64(shift)) & 0xff)) &* 0x100_0000_01b3
                }
            }
        }
        let digest = String(hash, radix: 16)
        return "localhost/podbench-\(name):\(String(repeating: "0", count: 16 - digest.count) + digest)"
    }

    /// Builds the image of `program` (its first file) and `extraFiles` as `tag` unless podman has
    /// it; returns whether it built. The context is made in, and removed from, `workDirectory`.
    @discardableResult
    public static func build(
        podman: Podman, program: String, extraFiles: [String], tag: String, workDirectory: String
    ) async throws -> Bool {
        if (try? await podman.run(["image", "exists", tag]))?.status == 0 { return false }
        let context = workDirectory + "/proxy-image"
        defer { try? FileManager.default.removeItem(atPath: context) }
        var libraries: [String] = []
        for file in [program] + extraFiles {
            for library in try await ContainerImage.libraries(of: file) where !libraries.contains(library) {
                libraries.append(library)
            }
        }
        let files = FileManager.default
        let root = context + "/rootfs"
        do {
            for folder in ["/tmp", "/etc"] {
                try files.createDirectory(atPath: root + folder, withIntermediateDirectories: true)
            }
            chmod(root + "/tmp", 0o1777)
            for file in [program] + extraFiles + libraries {
                try files.createDirectory(
                    atPath: root + (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try ContainerImage.copyResolved(file, to: root + file)
            }
            try "root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/:/nonexistent\n".write(
                toFile: root + "/etc/passwd", atomically: true, encoding: .utf8)
            try "root:x:0:\nnogroup:x:65534:\n".write(toFile: root + "/etc/group", atomically: true, encoding: .utf8)
        } catch {
            throw PodBenchError(
                .ioFailure, "cannot assemble the proxy image's files in \(root): \(error.localizedDescription)")
        }
        let file = """
            # Made by podbench from this host's \((program as NSString).lastPathComponent) and the libraries it loads.
            FROM scratch
            COPY rootfs/ /
            ENTRYPOINT ["\(program)"]

            """
        guard files.createFile(atPath: context + "/Containerfile", contents: Data(file.utf8)) else {
            throw PodBenchError(.ioFailure, "cannot write \(context)/Containerfile")
        }
        try await podman.check(
            ["build", "--quiet", "--tag", tag, "--file", context + "/Containerfile", context],
            doing: "building the image \(tag)")
        return true
    }
}
