import Foundation
import Testing

@testable import PodBenchHarness

/// The nginx configuration a user copies (`scripts/setup.sh`'s `podbench_nginx_config`, the one
/// docs/http.md shows and the end-to-end test runs through) is the one the preset starts: a fix
/// made in one (the 1 MiB body buffer against the 40 ms stall, 2026-12-04) reaches the other.
@Suite("proxy configuration")
struct ProxyConfigurationTests {
    @Test("scripts/setup.sh's nginx configuration is the preset's HTTP mode, word for word")
    func nginxScriptMatchesThePreset() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let dir = NSTemporaryDirectory() + "podbench-proxy-config-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/nginx.conf"
        let write = Process()
        write.executableURL = URL(fileURLWithPath: "/bin/bash")
        write.arguments = [
            "-c", #"source "$1" && podbench_nginx_config "$2" 8080 9000 "$3" 8443"#, "proxy-config",
            root + "/scripts/setup.sh", file, dir,
        ]
        write.standardInput = FileHandle.nullDevice
        try write.run()
        write.waitUntilExit()
        #expect(write.terminationStatus == 0)
        let script = try String(contentsOfFile: file, encoding: .utf8)
        #expect(
            script == ProxyLauncher.nginxConfiguration(directory: dir, http: 8080, h2: 8443, tcp: nil, target: 9000))
    }
}
