import Foundation
import Glibc
import PodBenchCore
import PodBenchTransports
import Testing

@testable import PodBenchHarness

@Suite("hops in the matrix")
struct HopTests {
    @Test("each case of the hop's transport runs direct, then through the hop; others once; the key names the hop")
    func expansion() throws {
        let hop = try MatrixRunner.Hop(via: "unix:/tmp/a.sock", listen: "tcp:127.0.0.1:9001", name: "socat")
        #expect(hop.transport == .tcp)
        let specs = MatrixRunner.cases(
            transports: [.tcp, .uds], workloads: [.pingpong, .rate], sizes: [64], options: TransportOptions(),
            verifyEvery: 1, corruptSequence: nil, rates: [1000, 2000], hop: hop)
        // tcp: pingpong, rate 1k, rate 2k, each twice; uds: three once.
        #expect(specs.count == 3 * 2 + 3)
        let tcp = specs.filter { $0.transport == .tcp }
        for pair in stride(from: 0, to: tcp.count, by: 2) {
            #expect(tcp[pair].options.via == nil)
            #expect(tcp[pair + 1].options.via == "unix:/tmp/a.sock")
            #expect(tcp[pair + 1].options.listen == "tcp:127.0.0.1:9001")
            #expect(tcp[pair + 1].key.options["hop"] == "socat" && tcp[pair + 1].key.options["hop-in"] == "uds")
            #expect(tcp[pair].key.options["hop"] == nil)
            #expect(tcp[pair].messagesPerSecond == tcp[pair + 1].messagesPerSecond)
            try tcp[pair + 1].validate()
        }
        #expect(specs.filter { $0.transport == .uds }.allSatisfy { $0.options.via == nil })
    }

    @Test("a hop's spec is refused when the target does not match the server's transport or is missing")
    func refused() throws {
        var spec = CaseSpec(transport: .uds, workload: .pingpong, messageSize: 64)
        spec.options.via = "tcp:127.0.0.1:9000"
        spec.options.listen = "tcp:127.0.0.1:9001"
        #expect(throws: PodBenchError.self) { try spec.validate() }
        spec.transport = .shm
        #expect(throws: PodBenchError.self) { try spec.validate() }
        spec.transport = .tcp
        try spec.validate()
        spec.options.listen = nil
        #expect(throws: PodBenchError.self) { try spec.validate() }
    }

    @Test("a hop's server side may be a directory of connections: file, fifo, shm; relative or mismatched ones refused")
    func directoryTargets() throws {
        for (target, kind) in [
            ("shm:/dev/shm/podbench-out", TransportKind.shm), ("file:/shared/out", .file), ("fifo:/shared/out", .fifo),
        ] {
            let hop = try MatrixRunner.Hop(via: "tcp:127.0.0.1:9000", listen: target, name: "relay")
            #expect(hop.transport == kind)
            let specs = MatrixRunner.cases(
                transports: [kind], workloads: [.pingpong], sizes: [64], options: TransportOptions(), verifyEvery: 1,
                corruptSequence: nil, rates: [], hop: hop)
            #expect(specs.count == 2)
            #expect(specs[1].options.listen == target && specs[1].key.options["hop-in"] == "tcp")
            try specs[1].validate()
        }
        var spec = CaseSpec(transport: .shm, workload: .pingpong, messageSize: 64)
        spec.options.via = "fifo:/shared/in"
        spec.options.listen = "file:/shared/out"
        #expect(throws: PodBenchError.self) { try spec.validate() }
        spec.options.listen = "shm:/dev/shm/out"
        try spec.validate()
        #expect(spec.key.options["hop-in"] == "fifo")
        #expect(throws: PodBenchError.self) { try Relay.Endpoint(parsing: "shm:relative/dir") }
        #expect(throws: PodBenchError.self) { try Relay.Endpoint(parsing: "file:") }
        spec.transport = .uringTCP
        spec.options.listen = "tcp:127.0.0.1:9001"
        #expect(throws: PodBenchError.self) { try spec.validate() }
    }

    @Test("run's relay forwards to the first transport asked for that a relay can reach")
    func relayOutbound() throws {
        #expect(try RelayLauncher.outbound(for: [.uringTCP, .shm, .tcp]) == .shm)
        #expect(try RelayLauncher.outbound(for: [.uds, .file]) == .uds)
        #expect {
            try RelayLauncher.outbound(for: [.uringTCP, .uringFile])
        } throws: {
            ($0 as? PodBenchError)?.message.contains("tcp, tcp6, uds, uds-abstract, file, fifo or shm") == true
        }
    }

    @Test("a FIFO client returns only once the server holds both ends: an immediate read waits for data, not EOF")
    func fifoHandshake() throws {
        let directory = NSTemporaryDirectory() + "podbench-fifo-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try FIFOTransport.listen(directory: directory, name: "podbench-test")
        let accepted = Thread {
            usleep(100_000)  // the server is slow to accept: the client must not read before it
            guard let server = try? listener.accept(timeoutNanoseconds: 2_000_000_000) else { return }
            usleep(50_000)
            try? ([7, 8, 9] as [UInt8]).withUnsafeBytes { try server.sendAll($0) }
            server.close()
        }
        accepted.start()
        let client = try FIFOTransport.connect(base: listener.base, timeoutNanoseconds: 2_000_000_000)
        defer { client.close() }
        #expect(access(listener.base + ".s2c", F_OK) != 0, "the server took the pair before connect returned")
        var buffer = [UInt8](repeating: 0, count: 8)
        #expect(try buffer.withUnsafeMutableBytes { try client.receiveSome(into: $0) } == 3)
        #expect(buffer.prefix(3) == [7, 8, 9])
    }
}
