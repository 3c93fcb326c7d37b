import Foundation
import Glibc
import PodBenchCore

/// An image of podbench made with no registry and no base image: this very binary at /podbench,
/// the shared libraries it loads at the paths it loads them from, an empty /tmp and /shared.
/// `podman build` of a `FROM scratch` Containerfile over that tree; nothing is pulled.
public enum ContainerImage {
    /// Where the binary lives in the image (the image's entrypoint).
    public static let binaryPath = "/podbench"

    /// The tag for `binary`: its version and a digest of its size, change time and inode, so a
    /// rebuilt binary gets a new image and an unchanged one reuses the image it has.
    public static func defaultTag(binary: String) throws -> String {
        var info = stat()
        guard stat(binary, &info) == 0 else {
            throw PodBenchError(.ioFailure, "cannot read \(binary): \(String(cString: strerror(errno)))")
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in [
            UInt64(info.st_size), UInt64(info.st_ino), UInt64(info.st_mtim.tv_sec), UInt64(info.st_mtim.tv_nsec),
        ] {
            for shift in stride(from: 0, to: 64, by: 8) {
                hash = (hash ^ ((value >> UInt64(shift)) & 0xff)) &* 0x100_0000_01b3
            }
        }
        let digest = String(hash, radix: 16)
        return
            "localhost/podbench:\(PodBenchVersion.version)-\(String(repeating: "0", count: 16 - digest.count) + digest)"
    }

    /// The shared libraries `binary` loads, as absolute paths, from `ldd`; throws naming any the
    /// loader cannot find.
    public static func libraries(of binary: String) async throws -> [String] {
        let listing = try await ChildProcess.capture(
            executable: Podman.which("ldd") ?? "/usr/bin/ldd", arguments: [binary],
            environment: ProcessInfo.processInfo.environment,
            doing: "to list \(binary)'s libraries (install libc-bin)")
        return try parseLDD(listing.output, binary: binary)
    }

    /// The library paths in `ldd` output: `name => /path (addr)`, `/path (addr)`; vdso has none.
    public static func parseLDD(_ text: String, binary: String) throws -> [String] {
        var paths: [String] = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.contains("=> not found") {
                throw PodBenchError(
                    .unavailable,
                    "\(binary) needs \(line.components(separatedBy: " ").first ?? line), which the loader cannot find")
            }
            let target = line.components(separatedBy: "=> ").count == 2 ? line.components(separatedBy: "=> ")[1] : line
            guard target.hasPrefix("/"), let path = target.components(separatedBy: " ").first else { continue }
            if !paths.contains(path) { paths.append(path) }
        }
        if paths.isEmpty {
            throw PodBenchError(
                .unavailable,
                "ldd lists no libraries for \(binary): a static binary needs none, build with "
                    + "--static-swift-stdlib or give --image")
        }
        return paths
    }

    /// Where Debian keeps liburing's copyright and licence (liburing-dev, which the build needs).
    static let liburingNotices = ["/usr/share/doc/liburing-dev/copyright", "/usr/share/doc/liburing2/copyright"]

    /// Writes the build context into `directory`: rootfs/ and a Containerfile.
    public static func writeContext(binary: String, libraries: [String], commit: String?, into directory: String)
        throws
    {
        let files = FileManager.default
        let root = directory + "/rootfs"
        do {
            for folder in ["/tmp", "/shared"] {
                try files.createDirectory(atPath: root + folder, withIntermediateDirectories: true)
            }
            chmod(root + "/tmp", 0o1777)
            try copyResolved(binary, to: root + binaryPath)
            for library in libraries {
                try files.createDirectory(
                    atPath: root + (library as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try copyResolved(library, to: root + library)
            }
            // liburing is linked into the binary: its copyright and licence go with it (MIT's terms).
            for notice in liburingNotices where files.fileExists(atPath: notice) {
                try files.createDirectory(
                    atPath: root + (notice as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try copyResolved(notice, to: root + notice)
                break
            }
        } catch let error as PodBenchError {
            throw error
        } catch {
            throw PodBenchError(
                .ioFailure, "cannot assemble the image's files in \(root): \(error.localizedDescription)")
        }
        var file = """
            # Made by podbench from its own binary and the libraries it loads; see docs/kubernetes.md.
            FROM scratch
            COPY rootfs/ /
            LABEL io.podbench.version="\(PodBenchVersion.version)"

            """
        if let commit { file += "ENV PODBENCH_COMMIT=\(commit)\n" }
        file += "ENTRYPOINT [\"\(binaryPath)\"]\n"
        guard files.createFile(atPath: directory + "/Containerfile", contents: Data(file.utf8)) else {
            throw PodBenchError(.ioFailure, "cannot write \(directory)/Containerfile")
        }
    }

    /// Copies the file `source` names (following links) to `destination`, keeping its mode.
    static func copyResolved(_ source: String, to destination: String) throws {
        let resolved = URL(fileURLWithPath: source).resolvingSymlinksInPath().path
        try? FileManager.default.removeItem(atPath: destination)
        try FileManager.default.copyItem(atPath: resolved, toPath: destination)
    }

    /// Builds the image of `binary` as `tag` unless podman has it already (`rebuild` forces a
    /// build); returns whether it built. The context is made in, and left to, `workDirectory`.
    @discardableResult
    public static func build(
        podman: Podman, binary: String, tag: String, commit: String?, workDirectory: String, rebuild: Bool = false
    ) async throws -> Bool {
        if !rebuild, (try? await podman.run(["image", "exists", tag]))?.status == 0 { return false }
        let context = workDirectory + "/image"
        defer { try? FileManager.default.removeItem(atPath: context) }
        try writeContext(binary: binary, libraries: try await libraries(of: binary), commit: commit, into: context)
        try await podman.check(
            ["build", "--quiet", "--tag", tag, "--file", context + "/Containerfile", context],
            doing: "building the image \(tag)")
        return true
    }
}
