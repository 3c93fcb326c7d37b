import Foundation
import PodBenchCore
import PodBenchResults
import PodBenchTestSupport
import PodBenchTransports
import Testing

@testable import PodBenchHarness

/// The key every kind of case has in results files, as JSON, fixed when the key was still strings
/// (before #19). Baselines and old results files are matched by these keys: a change here is a
/// change of file format, so these strings never change with the code.
@Suite("case keys on disk")
struct CaseKeyGoldenTests {
    static func spec(
        _ transport: TransportKind, _ workload: WorkloadKind = .pingpong, size: Int = 64,
        rate: Int? = nil, streams: Int? = nil, _ edit: (inout TransportOptions) -> Void = { _ in }
    ) -> CaseSpec {
        var options = TransportOptions()
        edit(&options)
        return CaseSpec(
            transport: transport, workload: workload, messageSize: size, options: options, messagesPerSecond: rate,
            streams: streams)
    }

    static let golden: [(CaseSpec, String)] = [
        (spec(.tcp), #"{"messageSize":64,"options":{},"transport":"tcp","workload":"pingpong"}"#),
        (
            spec(.tcp6, .stream, size: 65536),
            #"{"messageSize":65536,"options":{},"transport":"tcp6","workload":"stream"}"#
        ),
        (
            spec(.tcp) { $0.socketBufferBytes = 262144 },
            #"{"messageSize":64,"options":{"socket-buffer":"262144"},"transport":"tcp","workload":"pingpong"}"#
        ),
        (
            spec(.uds, .rate, rate: 10000),
            #"{"messageSize":64,"options":{"rate":"10000"},"transport":"uds","workload":"rate"}"#
        ),
        (spec(.udsAbstract), #"{"messageSize":64,"options":{},"transport":"uds-abstract","workload":"pingpong"}"#),
        // HTTP/1.1 (#22): fixed when it was added.
        (
            spec(.uds, .http1, size: 1024),
            #"{"messageSize":1024,"options":{},"transport":"uds","workload":"http1"}"#
        ),
        (
            spec(.tcp, .http2, size: 1024) { _ in },
            #"{"messageSize":1024,"options":{"streams":"1"},"transport":"tcp","workload":"http2"}"#
        ),
        // HTTP/1.1's open loop (#22): fixed when it was added; its rate as the rate workload's.
        (
            spec(.tcp, .http1Rate, size: 64, rate: 5000),
            #"{"messageSize":64,"options":{"rate":"5000"},"transport":"tcp","workload":"http1-rate"}"#
        ),
        // HTTP/2's open loop (#22): fixed when it was added; its rate and its streams.
        (
            spec(.uds, .http2Rate, size: 4096, rate: 20000, streams: 16),
            #"{"messageSize":4096,"options":{"rate":"20000","streams":"16"},"transport":"uds","workload":"http2-rate"}"#
        ),
        // The datagram channels (#19): fixed when they were added.
        (spec(.udp), #"{"messageSize":64,"options":{},"transport":"udp","workload":"pingpong"}"#),
        (
            spec(.udp6, .stream) { $0.socketBufferBytes = 65536 },
            #"{"messageSize":64,"options":{"socket-buffer":"65536"},"transport":"udp6","workload":"stream"}"#
        ),
        (
            spec(.udsDgram, .rate, rate: 5000),
            #"{"messageSize":64,"options":{"rate":"5000"},"transport":"uds-dgram","workload":"rate"}"#
        ),
        // The process namespace's channels (#23): fixed when they were added.
        (spec(.pidfdPipe), #"{"messageSize":64,"options":{},"transport":"pidfd-pipe","workload":"pingpong"}"#),
        (spec(.scmPipe), #"{"messageSize":64,"options":{},"transport":"scm-pipe","workload":"pingpong"}"#),
        (spec(.signal, .stream), #"{"messageSize":64,"options":{},"transport":"signal","workload":"stream"}"#),
        (
            spec(.processVM, .stream),
            #"{"messageSize":64,"options":{"wait":"spin-futex"},"transport":"process-vm","workload":"stream"}"#
        ),
        (
            spec(.syncSymlink, .rate, rate: 100),
            #"{"messageSize":64,"options":{"follow":"inotify","rate":"100"},"transport":"sync-symlink","workload":"rate"}"#
        ),
        (
            spec(.syncRename, .stream, size: 4096) { $0.follow = "poll:1ms" },
            #"{"messageSize":4096,"options":{"follow":"poll:1ms"},"transport":"sync-rename","workload":"stream"}"#
        ),
        (spec(.fifo, .stream), #"{"messageSize":64,"options":{},"transport":"fifo","workload":"stream"}"#),
        (
            spec(.shm),
            #"{"messageSize":64,"options":{"ring":"1048576","wait":"spin-futex"},"transport":"shm","workload":"pingpong"}"#
        ),
        (
            spec(.shm) {
                $0.wait = "spin"; $0.ringBytes = 4096
            },
            #"{"messageSize":64,"options":{"ring":"4096","wait":"spin"},"transport":"shm","workload":"pingpong"}"#
        ),
        (
            spec(.shm, .stream) { $0.wait = "futex" },
            #"{"messageSize":64,"options":{"ring":"1048576","wait":"futex"},"transport":"shm","workload":"stream"}"#
        ),
        (
            spec(.shm) { $0.wait = "spin-futex:200us" },
            #"{"messageSize":64,"options":{"ring":"1048576","wait":"spin-futex:200000ns"},"transport":"shm","workload":"pingpong"}"#
        ),
        (
            spec(.file),
            #"{"messageSize":64,"options":{"follow":"inotify","fsync":"none","segment":"4MiB"},"transport":"file","workload":"pingpong"}"#
        ),
        (
            spec(.file, .stream) {
                $0.fsync = "every:100"; $0.follow = "poll:200us"; $0.segmentBytes = 1 << 20
            },
            #"{"messageSize":64,"options":{"follow":"poll:200us","fsync":"every:100","segment":"1MiB"},"transport":"file","workload":"stream"}"#
        ),
        (
            spec(.file) { $0.fsync = "each" },
            #"{"messageSize":64,"options":{"follow":"inotify","fsync":"each","segment":"4MiB"},"transport":"file","workload":"pingpong"}"#
        ),
        (
            spec(.uringTCP),
            #"{"messageSize":64,"options":{"batch":"16","buffers":"copy","setup":"default"},"transport":"uring-tcp","workload":"pingpong"}"#
        ),
        (
            spec(.uringUDS, .stream) {
                $0.uringSetup = "defer-taskrun"; $0.uringBatch = 8; $0.uringBuffers = "registered"
            },
            #"{"messageSize":64,"options":{"batch":"8","buffers":"registered","setup":"defer-taskrun"},"transport":"uring-uds","workload":"stream"}"#
        ),
        (
            spec(.uringTCP) {
                $0.uringSetup = "sqpoll"; $0.socketBufferBytes = 1 << 20
            },
            #"{"messageSize":64,"options":{"batch":"16","buffers":"copy","setup":"sqpoll","socket-buffer":"1048576"},"transport":"uring-tcp","workload":"pingpong"}"#
        ),
        (
            spec(.uringFile, .stream) { $0.fsync = "every:8" },
            #"{"messageSize":64,"options":{"follow":"inotify","fsync":"every:8","segment":"4MiB","setup":"default"},"transport":"uring-file","workload":"stream"}"#
        ),
        (
            spec(.tcp, .rate, size: 256, rate: 50000) {
                $0.via = "unix:/shared/relay.sock"; $0.listen = "tcp:127.0.0.1:9001"; $0.hop = "relay"
            },
            #"{"messageSize":256,"options":{"hop":"relay","hop-in":"uds","rate":"50000"},"transport":"tcp","workload":"rate"}"#
        ),
        (
            spec(.tcp) {
                $0.via = "tcp:127.0.0.1:9000"; $0.listen = "tcp:127.0.0.1:9001"
            },
            #"{"messageSize":64,"options":{"hop":"proxy","hop-in":"tcp"},"transport":"tcp","workload":"pingpong"}"#
        ),
        (
            spec(.shm) {
                $0.via = "tcp:127.0.0.1:9000"; $0.listen = "shm:/dev/shm/out"; $0.hop = "haproxy"
            },
            #"{"messageSize":64,"options":{"hop":"haproxy","hop-in":"tcp","ring":"1048576","wait":"spin-futex"},"transport":"shm","workload":"pingpong"}"#
        ),
        (
            spec(.fifo) {
                $0.via = "file:/shared/in"; $0.listen = "fifo:/shared/out"; $0.hop = "relay"
            },
            #"{"messageSize":64,"options":{"hop":"relay","hop-in":"file"},"transport":"fifo","workload":"pingpong"}"#
        ),
    ]

    @Test("every kind of case has the key it had when keys were strings")
    func golden() throws {
        let encoder = ResultsStore.encoder(pretty: false)
        for (spec, json) in Self.golden {
            try spec.validate()
            #expect(String(decoding: try encoder.encode(try spec.key()), as: UTF8.self) == json, "\(spec)")
            let decoded = try JSONDecoder().decode(CaseKey.self, from: Data(json.utf8))
            #expect(try decoded == spec.key(), "\(json)")
        }
        #expect(Set(Self.golden.map(\.0.transport)) == Set(TransportKind.allCases))
        #expect(Set(Self.golden.map(\.0.workload)) == Set(WorkloadKind.allCases))
    }
}

@Suite("committed results files")
struct CommittedResultsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The committed results files: the example run and the report's fixture.
    static func files() throws -> [URL] {
        let example = root.appendingPathComponent("results/example")
        let names = try FileManager.default.contentsOfDirectory(atPath: example.path).filter { $0.hasSuffix(".json") }
        #expect(!names.isEmpty)
        return names.sorted().map { example.appendingPathComponent($0) }
            + [root.appendingPathComponent("Tests/PodBenchReportTests/Fixtures/run.json")]
    }

    /// Not under the sanitizers (scripts/sanitizers.sh sets `PODBENCH_SANITIZED`): it is the strict
    /// reader on one thread over 1.8 MB, 1.4 s in a debug build and 67 s under the thread
    /// sanitizer, which has no race to find in it; the reader's memory safety under the address
    /// sanitizer is the `ResultsFiles` fuzzer's job (scripts/fuzz.sh, seeded with a results file).
    @Test(
        "each reads and writes back the same JSON: keys, options and figures",
        .disabled(
            if: ProcessInfo.processInfo.environment["PODBENCH_SANITIZED"] != nil,
            "one thread reading 1.8 MB: the plain pass runs it, the ResultsFiles fuzzer runs the reader under ASan"))
    func roundTrip() throws {
        for url in try Self.files() {
            let data = try Data(contentsOf: url)
            let run = try ResultsStore.decode(data, source: url.lastPathComponent)
            let again = try ResultsStore.encoder(pretty: false).encode(run)
            let before = try JSONSerialization.jsonObject(with: data) as? NSDictionary
            let after = try JSONSerialization.jsonObject(with: again) as? NSDictionary
            #expect(before != nil && before == after, "\(url.lastPathComponent)")
            #expect(!run.cases.isEmpty)
        }
    }
}

@Suite("the transport catalog")
struct TransportCatalogTests {
    @Test("the catalog's switch gives each kind the type that answers to it")
    func complete() {
        for kind in TransportKind.allCases { #expect(TransportCatalog.transport(kind).kind == kind) }
    }

    @Test("a kind carries datagrams exactly when its channel type is a datagram channel")
    func datagramKinds() {
        struct IsDatagram: TransportVisitor {
            typealias Failure = Never
            func visit<T: Transport>(_ transport: T.Type) -> Bool { T.Channel.isDatagram }
        }
        for kind in TransportKind.allCases {
            #expect(TransportCatalog.visit(kind, with: IsDatagram()) == kind.carriesDatagrams, "\(kind)")
        }
    }

    @Test("each transport's cases keep exactly the options it reads, and the hop's")
    func ownOptions() {
        let all = TransportOptions.everyOption
        // What each kind read before the catalog (MatrixRunner's clearing, written out).
        let reads: [TransportKind: Set<String>] = [
            .tcp: ["socket"], .tcp6: ["socket"], .uds: ["socket"], .udsAbstract: ["socket"], .fifo: [],
            .shm: ["ring", "wait"], .file: ["follow", "fsync", "segment"],
            .uringTCP: ["socket", "setup", "batch", "buffers"], .uringUDS: ["socket", "setup", "batch", "buffers"],
            .uringFile: ["follow", "fsync", "segment", "setup"],
            .udp: ["socket"], .udp6: ["socket"], .udsDgram: ["socket"], .pidfdPipe: [], .scmPipe: [], .signal: [],
            .processVM: ["wait"], .syncSymlink: ["follow"], .syncRename: ["follow"],
        ]
        for kind in TransportKind.allCases {
            let own = TransportCatalog.transport(kind).own(all)
            let kept: [(String, Bool)] = [
                ("socket", own.socketBufferBytes != nil), ("ring", own.ringBytes != nil), ("wait", own.wait != nil),
                ("follow", own.follow != nil), ("fsync", own.fsync != nil), ("segment", own.segmentBytes != nil),
                ("setup", own.uringSetup != nil), ("batch", own.uringBatch != nil),
                ("buffers", own.uringBuffers != nil),
            ]
            #expect(Set(kept.filter(\.1).map(\.0)) == reads[kind], "\(kind)")
            #expect(own.via == all.via && own.listen == all.listen && own.hop == all.hop, "\(kind)")
        }
    }

    @Test("the matrix makes each listed variant of each transport, in order")
    func matrixVariants() throws {
        let specs = MatrixRunner.cases(
            transports: [.shm, .uringFile, .uringTCP, .tcp], workloads: [.pingpong], sizes: [64],
            options: TransportOptions(socketBufferBytes: 65536), verifyEvery: 1, corruptSequence: nil,
            shmWaits: ["spin", "futex"], fileFsyncs: ["none", "each"], uringSetups: ["default", "sqpoll"])
        let keys = try specs.map { try $0.key().description }
        #expect(
            keys == [
                "shm pingpong 64 ring=1048576 wait=spin", "shm pingpong 64 ring=1048576 wait=futex",
                "uring-file pingpong 64 follow=inotify fsync=none segment=4MiB setup=default",
                "uring-file pingpong 64 follow=inotify fsync=none segment=4MiB setup=sqpoll",
                "uring-file pingpong 64 follow=inotify fsync=each segment=4MiB setup=default",
                "uring-file pingpong 64 follow=inotify fsync=each segment=4MiB setup=sqpoll",
                "uring-tcp pingpong 64 batch=16 buffers=copy setup=default socket-buffer=65536",
                "uring-tcp pingpong 64 batch=16 buffers=copy setup=sqpoll socket-buffer=65536",
                "tcp pingpong 64 socket-buffer=65536",
            ], "\(keys)")
    }
}
