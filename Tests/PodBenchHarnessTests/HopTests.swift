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
}
