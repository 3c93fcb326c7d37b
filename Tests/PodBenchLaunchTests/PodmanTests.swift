import Foundation
import PodBenchCore
import Testing

@testable import PodBenchLaunch

@Suite("podman settings and the image's files")
struct PodmanTests {
    @Test("containers.conf: ulimits within the host's hard limits, runc named only where crun cannot run")
    func containersConf() {
        let text = PodmanSettings.containersConf(nofile: 20000, nproc: 32768, runtime: "runc")
        #expect(text.contains("default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]"))
        #expect(text.contains("[engine]\nruntime = \"runc\""))
        #expect(!PodmanSettings.containersConf(nofile: 1, nproc: 1, runtime: nil).contains("[engine]"))
        #expect(PodmanSettings.runtimeChoice(cgroupVersion: "hybrid", runcPath: "/usr/bin/runc") == "runc")
        #expect(PodmanSettings.runtimeChoice(cgroupVersion: "v1", runcPath: "/usr/bin/runc") == "runc")
        #expect(PodmanSettings.runtimeChoice(cgroupVersion: "v2", runcPath: "/usr/bin/runc") == nil)
        #expect(PodmanSettings.runtimeChoice(cgroupVersion: "hybrid", runcPath: nil) == nil)
        let limits = PodmanSettings.hardLimits()
        #expect(limits.nofile > 0 && limits.nofile <= 1_048_576 && limits.nproc <= 32768)
    }

    @Test("the io_uring profile is the base profile plus one rule allowing the three io_uring calls")
    func seccompProfile() throws {
        let base = Data(
            #"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#
                .utf8)
        let out = try PodmanSettings.allowingIOURing(base)
        let profile = try #require(try JSONSerialization.jsonObject(with: out) as? [String: Any])
        #expect(profile["defaultAction"] as? String == "SCMP_ACT_ERRNO")
        #expect(profile["defaultErrnoRet"] as? Int == 38)
        let rules = try #require(profile["syscalls"] as? [[String: Any]])
        #expect(rules.count == 2)
        #expect(rules[0]["names"] as? [String] == ["read"])
        #expect(rules[1]["names"] as? [String] == ["io_uring_setup", "io_uring_enter", "io_uring_register"])
        #expect(rules[1]["action"] as? String == "SCMP_ACT_ALLOW")
        #expect(throws: PodBenchError.self) { try PodmanSettings.allowingIOURing(Data("[1,2]".utf8)) }
        #expect(try PodmanSettings.securityOption(.unconfined, directory: "/nonexistent") == "seccomp=unconfined")
        #expect(try PodmanSettings.securityOption(.runtime, directory: "/nonexistent") == nil)
    }

    @Test("ldd's output: libraries by path, the vdso left out, a missing library named, a static binary refused")
    func lddOutput() throws {
        let text = """
            \tlinux-vdso.so.1 (0x00007ffd)
            \tlibswiftCore.so => /opt/swift/usr/lib/swift/linux/libswiftCore.so (0x00007f37)
            \tliburing.so.2 => /lib/x86_64-linux-gnu/liburing.so.2 (0x00007f374ef15000)
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f374d41e000)
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f374f3bc000)
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f374d41e000)
            """
        #expect(
            try ContainerImage.parseLDD(text, binary: "b") == [
                "/opt/swift/usr/lib/swift/linux/libswiftCore.so", "/lib/x86_64-linux-gnu/liburing.so.2",
                "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2",
            ])
        #expect {
            try ContainerImage.parseLDD("\tliburing.so.2 => not found\n", binary: "/x/podbench")
        } throws: { ($0 as? PodBenchError)?.message.contains("liburing.so.2") == true }
        #expect(throws: PodBenchError.self) {
            try ContainerImage.parseLDD("\tnot a dynamic executable\n", binary: "b")
        }
    }

    @Test("the image's files: the binary at /podbench, each library at its own path, /tmp open to all")
    func context() async throws {
        let directory = NSTemporaryDirectory() + "podbench-image-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = "/proc/self/exe"
        let libraries = try await ContainerImage.libraries(
            of: URL(fileURLWithPath: binary).resolvingSymlinksInPath().path)
        try ContainerImage.writeContext(binary: binary, libraries: libraries, commit: "abc123", into: directory)
        let root = directory + "/rootfs"
        #expect(FileManager.default.isExecutableFile(atPath: root + "/podbench"))
        for library in libraries { #expect(FileManager.default.fileExists(atPath: root + library), "\(library)") }
        var info = stat()
        #expect(stat(root + "/tmp", &info) == 0 && info.st_mode & 0o7777 == 0o1777)
        // liburing is linked in (liburing-dev builds the package): its notice goes with the binary.
        let notice = try #require(ContainerImage.liburingNotices.first { FileManager.default.fileExists(atPath: $0) })
        #expect(try String(contentsOfFile: root + notice, encoding: .utf8).contains("MIT"))
        let file = try String(contentsOfFile: directory + "/Containerfile", encoding: .utf8)
        #expect(file.contains("FROM scratch") && file.contains("ENV PODBENCH_COMMIT=abc123"))
        #expect(file.contains("ENTRYPOINT [\"/podbench\"]"))
        let tag = try ContainerImage.defaultTag(binary: binary)
        #expect(tag.hasPrefix("localhost/podbench:\(PodBenchVersion.version)-") && tag.count > 30)
        #expect(try ContainerImage.defaultTag(binary: binary) == tag)
    }

    @Test("a pod's owner is this process while it lives; a pid that is gone owns nothing")
    func owner() throws {
        let me = try #require(PodmanPod.owner(of: getpid()))
        #expect(me.hasPrefix("\(getpid()):"))
        #expect(PodmanPod.owner(of: getpid()) == me)
        #expect(PodmanPod.owner(of: 0x3fff_ffff) == nil)
        let pod = PodmanPod(podman: Podman(executable: "/bin/false", environment: [:]), name: "p")
        let create = pod.createArguments(shmSize: "64m")
        #expect(create.contains("--share") && create.contains("net,ipc,uts") && create.contains("64m"))
        #expect(create.contains("io.podbench.owner=\(me)"))
        // A case that needs the process namespace (pidfd-pipe) shares it too.
        let sharing = pod.createArguments(shmSize: "64m", sharesProcessNamespace: true)
        #expect(sharing[sharing.firstIndex(of: "--share")! + 1] == "net,ipc,uts,pid")
        let run = pod.runArguments(
            container: "c", detached: false, image: "i", volumes: ["/a"], securityOption: "seccomp=unconfined",
            command: ["client"])
        #expect(
            run == [
                "run", "--rm", "--init", "--pod", "p", "--name", "c", "--volume", "/a:/a", "--security-opt",
                "seccomp=unconfined", "i", "client",
            ])
    }
}
