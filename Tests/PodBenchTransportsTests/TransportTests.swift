import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import Testing

/// The transports of this module as `Transport`s: their options, cases and keys.
@Suite("transports, one type each")
struct TransportTests {
    static let everything = TransportOptions.everyOption

    @Test("each listed wait strategy or fsync mode is a case of its own; others make one case")
    func variants() {
        let lists = VariantLists(shmWaits: ["spin", "futex"], fileFsyncs: ["none", "each", "every:8"])
        #expect(SharedMemoryTransport.variants(of: TransportOptions(), lists: lists).map(\.wait) == ["spin", "futex"])
        #expect(
            FileTransport.variants(of: TransportOptions(), lists: lists).map(\.fsync) == ["none", "each", "every:8"])
        #expect(TCPTransport.variants(of: TransportOptions(), lists: lists) == [TransportOptions()])
    }

    @Test("keys spell the defaults out; options that do not parse are refused")
    func keysAndValidation() throws {
        #expect(try SharedMemoryTransport.keyOptions(TransportOptions()) == ["ring": "1048576", "wait": "spin-futex"])
        #expect(
            try FileTransport.keyOptions(TransportOptions()) == [
                "follow": "inotify", "fsync": "none", "segment": "4MiB",
            ])
        #expect(try TCPTransport.keyOptions(Self.everything) == ["socket-buffer": "1048576"])
        #expect(try TCPTransport.keyOptions(TransportOptions()) == [:])
        #expect(throws: PodBenchError.self) { try TCPTransport.validate(TransportOptions(socketBufferBytes: 512)) }
        var bad = TransportOptions()
        bad.wait = "nap"
        #expect(throws: PodBenchError.self) { try SharedMemoryTransport.validate(bad) }
        #expect(throws: PodBenchError.self) { try SharedMemoryTransport.keyOptions(bad) }
        bad = TransportOptions(ringBytes: 1000)
        #expect(throws: PodBenchError.self) { try SharedMemoryTransport.validate(bad) }
        bad = TransportOptions(fsync: "sometimes")
        #expect(throws: PodBenchError.self) { try FileTransport.validate(bad) }
        try FIFOTransport.validate(Self.everything)
    }
}
