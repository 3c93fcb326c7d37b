import Foundation
import PodBenchCore
import PodBenchResults
import PodBenchTestSupport
import PodBenchTransports
import Testing

@testable import PodBenchHarness

@Suite("Control protocol")
struct ControlProtocolTests {
    func pair() throws -> (ControlConnection, SocketChannel) {
        let (a, b) = try socketPair()
        return (try ControlConnection(descriptor: a.descriptor, timeoutNanoseconds: 2_000_000_000), b)
    }

    @Test("messages round-trip through frames")
    func roundTrip() throws {
        let (a, b) = try socketPair()
        let left = try ControlConnection(descriptor: a.descriptor, timeoutNanoseconds: 2_000_000_000)
        let right = try ControlConnection(descriptor: b.descriptor, timeoutNanoseconds: 2_000_000_000)
        let spec = CaseSpec(transport: .udsAbstract, workload: .stream, messageSize: 4096, verifyEvery: 4)
        let messages: [ControlMessage] = [
            .hello(Hello(podbenchVersion: "1", serverCPU: 3)), .prepareCase(spec),
            .caseReady(endpoint: .socket(address: .ipv4(host: "127.0.0.1", port: 9))),
            .startPhase(index: -1, warmup: true), .phaseReady, .endCase, .caseEnded, .bye, .shutdown,
            .failure(code: .unavailable, message: "no"),
            .phaseReport(
                ServerPhaseReport(
                    usage: CPUUsage(
                        userNanoseconds: 1, systemNanoseconds: 2, voluntarySwitches: 3, involuntarySwitches: 4),
                    integrity: IntegrityCounts(received: 9), errorCode: nil, error: nil, cpu: 1)),
        ]
        for message in messages {
            try left.send(message)
            #expect(try right.receive() == message)
        }
    }

    @Test("a frame of another protocol version gets a clear error, and the peer is told")
    func otherVersion() throws {
        let (connection, raw) = try pair()
        defer { raw.close() }
        let frame = try ControlConnection.encodeFrame(.bye, version: 99)
        try frame.withUnsafeBytes { try raw.sendAll($0) }
        #expect {
            try connection.receive()
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .protocolViolation && e!.message.contains("version 99")
        }
        // The peer got a failure frame explaining why.
        let peer = try ControlConnection(descriptor: raw.descriptor, timeoutNanoseconds: 1_000_000_000)
        guard case .failure(_, let text) = try peer.receive() else {
            Issue.record("expected a failure message")
            return
        }
        #expect(text.contains("same podbench version"))
    }

    static let version = UInt8(PodBenchVersion.controlProtocol)

    @Test(
        "hostile bytes end in an error, never a crash or a huge allocation",
        arguments: [
            Array("GET / HTTP/1.1\r\n\r\n".utf8),
            // In this build's version: a frame of another version is refused before its length is read.
            Array("PBCT".utf8) + [ControlProtocolTests.version, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F],  // 2 GiB body
            Array("PBCT".utf8) + [ControlProtocolTests.version, 0, 0, 0, 5, 0, 0, 0] + Array("{bad}".utf8),
            // A truncated body, then one that is not a message.
            Array("PBCT".utf8) + [ControlProtocolTests.version, 0, 0, 0, 9, 0, 0, 0] + Array("{}".utf8),
            Array("PBCT".utf8) + [ControlProtocolTests.version, 0, 0, 0, 2, 0, 0, 0] + Array("{}".utf8),
        ])
    func hostile(bytes: [UInt8]) throws {
        let (connection, raw) = try pair()
        try bytes.withUnsafeBytes { try raw.sendAll($0) }
        raw.descriptor.shutdownBoth()
        #expect(throws: PodBenchError.self) { try connection.receive() }
        raw.close()
    }

    @Test("endpoints travel typed: every kind round-trips, with its JSON shape fixed")
    func typedEndpoints() throws {
        let endpoints: [(Endpoint, String)] = [
            (.socket(address: .ipv4(host: "127.0.0.1", port: 41234)), #"{"socket":{"address":"tcp:127.0.0.1:41234"}}"#),
            (.socket(address: .unixAbstract("podbench-a")), #"{"socket":{"address":"unix:@podbench-a"}}"#),
            (.ring(path: "/dev/shm/podbench-a.ring"), #"{"ring":{"path":"/dev/shm/podbench-a.ring"}}"#),
            (.file(path: "/shared/podbench-a.file"), #"{"file":{"path":"/shared/podbench-a.file"}}"#),
            (.fifo(base: "/shared/podbench-a"), #"{"fifo":{"base":"/shared/podbench-a"}}"#),
            (
                .datagram(address: .ipv4(host: "127.0.0.1", port: 41234), nonce: 7),
                #"{"datagram":{"address":"tcp:127.0.0.1:41234","nonce":7}}"#
            ),
            (
                .datagram(address: .unixPath("/shared/podbench-a.dgram"), nonce: 18_446_744_073_709_551_615),
                #"{"datagram":{"address":"unix:/shared/podbench-a.dgram","nonce":18446744073709551615}}"#
            ),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for (endpoint, json) in endpoints {
            #expect(String(decoding: try encoder.encode(endpoint), as: UTF8.self) == json)
            #expect(try JSONDecoder().decode(Endpoint.self, from: Data(json.utf8)) == endpoint)
        }
        let hops: [(HopEndpoint, String)] = [
            ("tcp:[::1]:9000", #"{"socket":"tcp:[::1]:9000"}"#),
            ("unix:/shared/r.sock", #"{"socket":"unix:/shared/r.sock"}"#),
            ("file:/shared/out", #"{"file":"/shared/out"}"#), ("shm:/dev/shm/out", #"{"shm":"/dev/shm/out"}"#),
            ("fifo:/shared/out", #"{"fifo":"/shared/out"}"#),
        ]
        for (hop, json) in hops {
            #expect(String(decoding: try encoder.encode(hop), as: UTF8.self) == json)
            #expect(try JSONDecoder().decode(HopEndpoint.self, from: Data(json.utf8)) == hop)
            #expect(try HopEndpoint(parsing: hop.description) == hop)
        }
        for bad in [
            #"{"file":"relative"}"#, #"{"file":""}"#, #"{"file":"/a","shm":"/b"}"#, "{}", #"{"door":"/x"}"#,
            #"{"socket":"unix:"}"#, #"{"socket":"tcp:localhost:80"}"#, #""file:/x""#, #"{"file":"/x","door":1}"#,
        ] {
            #expect(throws: (any Error).self, "\(bad)") {
                try JSONDecoder().decode(HopEndpoint.self, from: Data(bad.utf8))
            }
        }
    }

    @Test("the fuzz corpus's whole messages decode in this protocol version")
    func corpusSeedsDecode() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FuzzCorpus/control")
        var decoded = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path)
        where !["truncated", "oversized", "other-version"].contains(name) {
            var bytes = Array(try Data(contentsOf: directory.appendingPathComponent(name)))
            while !bytes.isEmpty {
                let length = try ControlConnection.bodyLength(
                    ofHeader: Array(bytes.prefix(ControlConnection.headerSize)))
                let end = ControlConnection.headerSize + length
                _ = try ControlConnection.decodeBody(Array(bytes[ControlConnection.headerSize..<end]))
                bytes.removeFirst(end)
                decoded += 1
            }
        }
        #expect(decoded >= 10)
    }

    @Test("a silent peer times out within the set time")
    func silentPeer() throws {
        let (a, b) = try socketPair()
        defer { b.close() }
        let connection = try ControlConnection(descriptor: a.descriptor, timeoutNanoseconds: 200_000_000)
        let start = MonotonicClock.now()
        #expect {
            try connection.receive()
        } throws: { ($0 as? PodBenchError)?.code == .timeout }
        #expect(MonotonicClock.now() - start < 3_000_000_000)
    }
}
