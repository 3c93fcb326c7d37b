import Benchmark
import Foundation
import Glibc
import Histogram
import PodBenchCore
import PodBenchHarness
import PodBenchResults
import PodBenchRing
import PodBenchTransports
import PodBenchURing
import SystemPackage

// The hot paths of a measurement, in process. Each sample runs `perSample` messages (figures are
// per 1000 messages), so that even one allocation in a thousand messages shows as a malloc count
// of 1; the counts must stay at zero for everything a measured loop does
// (scripts/check-allocations.sh fails otherwise).

private let perSample = 1000

private func socketPair() -> (SocketChannel, SocketChannel) {
    var fds: [Int32] = [0, 0]
    precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
    return (
        SocketChannel(descriptor: FileDescriptor(rawValue: fds[0])),
        SocketChannel(descriptor: FileDescriptor(rawValue: fds[1]))
    )
}

/// The server side of `workload` over `channel`, phase after phase, until the channel fails.
private func serveForever<C: DataChannel>(_ channel: C, size: Int, workload: WorkloadKind) {
    var reader = FrameReader(channel: channel, maximumPayload: size)
    var oneWay = EncodedHistogram.makeLatencyHistogram()
    let http = HTTP1MessageWriter.response(bodyLength: size, seed: 1)
    let h2 = workload.speaksHTTP2 ? try! HTTP2Workload.serverSession(bodyLength: size, seed: 1) : nil
    while true {
        var checker = IntegrityChecker(payloadLength: size, verifyEvery: 16, datagrams: C.isDatagram)
        do {
            switch workload {
            case .pingpong: try PingPongWorkload.server(reader: &reader, checker: &checker, corruptSequence: nil)
            case .stream, .rate: try StreamWorkload.server(reader: &reader, checker: &checker, oneWay: &oneWay)
            case .http1, .http1Rate:
                try HTTP1Workload.server(reader: &reader, writer: http, checker: &checker, corruptSequence: nil)
            case .http2, .http2Rate:
                _ = try HTTP2Workload.server(
                    channel: channel, session: h2!, checker: &checker, corruptSequence: nil)
            }
        } catch {
            return
        }
    }
}

/// A peer on its own thread that runs the server side of `workload` phase after phase.
private final class Peer: @unchecked Sendable {
    let channel: SocketChannel
    let size: Int
    let workload: WorkloadKind

    init(channel: SocketChannel, size: Int, workload: WorkloadKind) {
        self.channel = channel
        self.size = size
        self.workload = workload
        Thread { [self] in serve() }.start()
    }

    func serve() {
        serveForever(channel, size: size, workload: workload)
    }
}

/// The client's end of a connection to a `Peer`, with its buffers, kept across samples.
private final class ClientSide: @unchecked Sendable {
    var reader: FrameReader<SocketChannel>
    let writer: FrameWriter
    /// The requests of the http1 workload.
    let http: HTTP1MessageWriter
    var histogram = EncodedHistogram.makeLatencyHistogram()

    init(size: Int, workload: WorkloadKind) {
        let (client, server) = socketPair()
        _ = Peer(channel: server, size: size, workload: workload)
        reader = FrameReader(channel: client, maximumPayload: size)
        writer = FrameWriter(payloadLength: size, seed: 1)
        http = HTTP1MessageWriter.request(bodyLength: size, seed: 1)
    }
}

/// The http2 workload's client end of a connection to a `Peer`: its session, kept across samples.
private final class HTTP2ClientSide: @unchecked Sendable {
    let channel: SocketChannel
    let session: HTTP2ClientSession
    var histogram = EncodedHistogram.makeLatencyHistogram()

    init(size: Int) {
        let (client, server) = socketPair()
        _ = Peer(channel: server, size: size, workload: .http2)
        channel = client
        session = try! HTTP2Workload.clientSession(streams: 16, bodyLength: size, seed: 1)
    }
}

/// An shm connection in /dev/shm with a server thread echoing on the other end.
private final class SharedMemoryPair: @unchecked Sendable {
    var reader: FrameReader<SharedMemoryChannel>
    let writer: FrameWriter
    var histogram = EncodedHistogram.makeLatencyHistogram()

    init(size: Int) {
        let payload = size - FrameHeader.size
        let listener = try! SharedMemoryTransport.listen(
            directory: "/dev/shm", name: "podbench-bench-\(getpid())-\(size)", capacity: 1 << 20,
            strategy: .spinFutex(nanoseconds: 50_000))
        let client = try! SharedMemoryTransport.connect(
            path: listener.path, strategy: .spinFutex(nanoseconds: 50_000), timeoutNanoseconds: 60_000_000_000)
        let server = try! listener.accept(timeoutNanoseconds: 5_000_000_000)
        Thread {
            // The two sides on two CPUs, as a pinned run has them.
            _ = try? CPUPinning.pinCurrentThread(to: CPUPinning.allowedCPUs().last)
            var reader = FrameReader(channel: server, maximumPayload: payload)
            while true {
                var checker = IntegrityChecker(payloadLength: payload, verifyEvery: 16)
                do {
                    try PingPongWorkload.server(reader: &reader, checker: &checker, corruptSequence: nil)
                } catch {
                    return
                }
            }
        }.start()
        reader = FrameReader(channel: client, maximumPayload: payload)
        writer = FrameWriter(payloadLength: payload, seed: 1)
    }
}

/// A `file` connection in /dev/shm with a server thread echoing on the other end; small segments,
/// so that samples include rotation and the removal of read segments.
private final class FilePair: @unchecked Sendable {
    var reader: FrameReader<FileChannel>
    let writer: FrameWriter
    var histogram = EncodedHistogram.makeLatencyHistogram()

    init(size: Int) {
        let settings = FileTransport.Settings(follow: .inotify, sync: .none, segmentBytes: 256 << 10)
        let listener = try! FileTransport.listen(
            directory: "/dev/shm", name: "podbench-bench-\(getpid())-\(size)", settings: settings,
            timeoutNanoseconds: 60_000_000_000)
        let client = try! FileTransport.connect(
            path: listener.path, settings: settings, timeoutNanoseconds: 60_000_000_000)
        let server = try! listener.accept(timeoutNanoseconds: 5_000_000_000)
        Thread {
            _ = try? CPUPinning.pinCurrentThread(to: CPUPinning.allowedCPUs().last)
            var reader = FrameReader(channel: server, maximumPayload: size)
            while true {
                var checker = IntegrityChecker(payloadLength: size, verifyEvery: 16)
                do {
                    try PingPongWorkload.server(reader: &reader, checker: &checker, corruptSequence: nil)
                } catch {
                    return
                }
            }
        }.start()
        reader = FrameReader(channel: client, maximumPayload: size)
        writer = FrameWriter(payloadLength: size, seed: 1)
    }
}

/// A `uring-uds`-like connection: a socketpair with each end driven through its own io_uring,
/// a server thread echoing (pingpong) or draining (stream) on the other end.
private final class URingPair: @unchecked Sendable {
    var reader: FrameReader<URingSocketChannel>
    let writer: FrameWriter
    var histogram = EncodedHistogram.makeLatencyHistogram()

    init(size: Int, workload: WorkloadKind) {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let serverFD = fds[1]
        Thread {
            // The ring is made on the thread that uses it (defer-taskrun rings are single-issuer).
            let channel = try! URingSocketChannel(
                descriptor: FileDescriptor(rawValue: serverFD), uring: try! URing(entries: 24, setup: .deferTaskrun),
                batch: 16, timeoutNanoseconds: 60_000_000_000)
            serveForever(channel, size: size, workload: workload)
        }.start()
        // The benchmark's own thread uses this ring: a standard one (no single-issuer rule).
        let channel = try! URingSocketChannel(
            descriptor: FileDescriptor(rawValue: fds[0]), uring: try! URing(entries: 24, setup: .standard), batch: 16,
            timeoutNanoseconds: 60_000_000_000)
        reader = FrameReader(channel: channel, maximumPayload: size)
        writer = FrameWriter(payloadLength: size, seed: 1)
    }
}

/// Two connected Unix datagram sockets (what `uds-dgram` and, connected, `udp` hold) with a server
/// thread echoing (pingpong) or draining (stream) on the other end: the datagram paths of the
/// workloads (whole-datagram frames, the phase's end sent until acknowledged).
private final class DatagramPair: @unchecked Sendable {
    var reader: FrameReader<DatagramChannel>
    let writer: FrameWriter
    var histogram = EncodedHistogram.makeLatencyHistogram()

    init(size: Int, workload: WorkloadKind) {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0, &fds) == 0)
        for fd in fds { try! FileDescriptor(rawValue: fd).setIOTimeout(nanoseconds: 60_000_000_000) }
        let server = DatagramChannel(descriptor: FileDescriptor(rawValue: fds[1]))
        Thread { serveForever(server, size: size, workload: workload) }.start()
        reader = FrameReader(
            channel: DatagramChannel(descriptor: FileDescriptor(rawValue: fds[0])), maximumPayload: size)
        writer = FrameWriter(payloadLength: size, seed: 1)
    }
}

/// A `process-vm` connection inside this process (each side reads the other's memory with
/// process_vm_readv, here this process's own) with a server thread on the other end.
private final class ProcessVMPair: @unchecked Sendable {
    var reader: FrameReader<ProcessVMChannel>
    let writer: FrameWriter
    var histogram = EncodedHistogram.makeLatencyHistogram()

    init(size: Int, workload: WorkloadKind) {
        let listener = try! ProcessVMTransport.listen(client: getpid())
        guard case .process(let pid, let descriptors) = listener.endpoint else { fatalError("not a process endpoint") }
        nonisolated(unsafe) var client: ProcessVMChannel?
        let connected = DispatchSemaphore(value: 0)
        Thread {
            client = try! ProcessVMTransport.connect(
                pid: pid, descriptors: descriptors, timeoutNanoseconds: 60_000_000_000)
            connected.signal()
        }.start()
        let server = try! listener.accept(timeoutNanoseconds: 60_000_000_000)
        connected.wait()
        Thread {
            _ = try? CPUPinning.pinCurrentThread(to: CPUPinning.allowedCPUs().last)
            serveForever(server, size: size, workload: workload)
        }.start()
        reader = FrameReader(channel: client!, maximumPayload: size)
        writer = FrameWriter(payloadLength: size, seed: 1)
    }
}

/// A content-sync connection in /dev/shm (`sync-symlink` or `sync-rename`) with a server thread
/// echoing each version it reads: every message a published version, created and removed.
private final class ContentSyncPair: @unchecked Sendable {
    var reader: FrameReader<ContentSyncChannel>
    let writer: FrameWriter
    var histogram = EncodedHistogram.makeLatencyHistogram()

    init(size: Int, publishing: ContentPublishing) {
        let listener = try! ContentSyncTransport.listen(
            directory: "/dev/shm", name: "podbench-bench-\(getpid())-\(size)-\(publishing)", publishing: publishing,
            follow: .inotify, timeoutNanoseconds: 60_000_000_000)
        let client = try! ContentSyncTransport.connect(
            path: listener.path, publishing: publishing, follow: .inotify, timeoutNanoseconds: 60_000_000_000)
        let server = try! listener.accept(timeoutNanoseconds: 5_000_000_000)
        Thread {
            _ = try? CPUPinning.pinCurrentThread(to: CPUPinning.allowedCPUs().last)
            serveForever(server, size: size, workload: .pingpong)
        }.start()
        reader = FrameReader(channel: client, maximumPayload: size)
        writer = FrameWriter(payloadLength: size, seed: 1)
    }
}

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]
    Benchmark.defaultConfiguration = .init(
        metrics: metrics, timeUnits: .microseconds, warmupIterations: 3, scalingFactor: .one,
        maxDuration: .seconds(3), maxIterations: 200)

    for size in [64, 65536] {
        // One connection and one serving thread per benchmark, made before any measurement, so
        // that thread start-up cannot allocate inside a measured window.
        let pingpong = ClientSide(size: size, workload: .pingpong)
        Benchmark("pingpong loop over a socketpair, \(ByteSize.format(size)), 1000 messages") { benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 16)
            benchmark.startMeasurement()
            let outcome = try PingPongWorkload.client(
                reader: &pingpong.reader, writer: pingpong.writer, checker: &checker, histogram: &pingpong.histogram,
                plan: plan)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }

        // The HTTP/1.1 client's measured loop (#22): request, parse the response's head, check
        // its number, length and body.
        let http1 = ClientSide(size: size, workload: .http1)
        Benchmark("http1 loop over a socketpair, \(ByteSize.format(size)), 1000 requests") { benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 16)
            benchmark.startMeasurement()
            let outcome = try HTTP1Workload.client(
                reader: &http1.reader, writer: http1.http, checker: &checker, histogram: &http1.histogram, plan: plan)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }

        // The http1-rate workload's client (#22): the same exchange on its schedule, every request
        // due at once (a rate no loop reaches), so the samples time the loop, not a clock's waits.
        let http1Rate = ClientSide(size: size, workload: .http1)
        Benchmark("http1-rate loop over a socketpair, \(ByteSize.format(size)), 1000 requests due at once") {
            benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 16)
            benchmark.startMeasurement()
            let outcome = try HTTP1Workload.openLoopClient(
                reader: &http1Rate.reader, writer: http1Rate.http, checker: &checker, histogram: &http1Rate.histogram,
                plan: plan, requestsPerSecond: 1e15)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }

        // The http2 workload's client (#22): 16 streams of POST /podbench/echo over one connection,
        // its event loop (non-blocking sends, ppoll, recv), the bodies' DATA and checksums, and the
        // phase's in-band end. The session is made once, as a case makes it.
        let h2 = HTTP2ClientSide(size: size)
        Benchmark("http2 loop at 16 streams over a socketpair, \(ByteSize.format(size)), 1000 requests") { benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 1)
            benchmark.startMeasurement()
            let outcome = try HTTP2Workload.client(
                channel: h2.channel, session: h2.session, checker: &checker, histogram: &h2.histogram, plan: plan,
                peerTimeoutNanoseconds: 60_000_000_000)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }

        // The http2-rate workload's client (#22): the same session on its schedule, every request
        // due at once (a rate no loop reaches), so the samples time the loop, not a clock's waits.
        let h2Rate = HTTP2ClientSide(size: size)
        Benchmark(
            "http2-rate loop at 16 streams over a socketpair, \(ByteSize.format(size)), 1000 requests due at once"
        ) {
            benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 1)
            benchmark.startMeasurement()
            let outcome = try HTTP2Workload.client(
                channel: h2Rate.channel, session: h2Rate.session, checker: &checker, histogram: &h2Rate.histogram,
                plan: plan, peerTimeoutNanoseconds: 60_000_000_000, requestsPerSecond: 1e15)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }

        // `http-load`'s loop (#22): a fixed GET, the response's head parsed, its body held to the
        // first's checksum.
        let load = ClientSide(size: size, workload: .http1)
        let get = try! HTTP1Load.request(path: "/file", host: "127.0.0.1:8080")
        let getBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: get.count, alignment: 64)
        getBuffer.copyBytes(from: get)
        Benchmark("http-load GET loop over a socketpair, \(ByteSize.format(size)), 1000 requests") { benchmark in
            var expectation = HTTP1Load.Expectation(bodyLength: size)
            var sequence: UInt64 = 0
            benchmark.startMeasurement()
            let ending = try HTTP1Load.loop(
                reader: &load.reader, request: UnsafeRawBufferPointer(getBuffer), expectation: &expectation,
                histogram: &load.histogram, record: true, deadline: .max, limit: UInt64(perSample),
                maximumBody: size, sequence: &sequence)
            benchmark.stopMeasurement()
            blackHole(ending)
        }

        // `http-load --rate`'s open loop (#22): GETs written on their schedule, pipelined, without
        // blocking (MSG_DONTWAIT, ppoll, recv), answers parsed and held to the first's checksum, each
        // latency from its intended time. A request due every microsecond for 1 ms: the pipeline
        // fills, and the loop runs as fast as the answers come.
        let openSide = ClientSide(size: size, workload: .http1)
        let pipeline = HTTP1Load.Pipeline(request: get, maximumBody: size, depth: 1024)
        let openPlan = try! HTTP1Load.Plan(
            target: .ipv4(host: "127.0.0.1", port: 8080), path: "/file", durationNanoseconds: 1_000_000,
            warmupNanoseconds: 0, expectedBodyLength: size, maximumBodyLength: size, requestsPerSecond: 1e6,
            pipelineDepth: 1024)
        var openChannel = openSide.reader.channel
        // 1,000 requests due in 1 ms, all written (the pipeline takes 1,024), however late the loop
        // wakes: a sample is 1,000 requests.
        Benchmark("http-load --rate open loop, pipelined, over a socketpair, \(ByteSize.format(size)), 1000 requests") {
            benchmark in
            benchmark.startMeasurement()
            let result: HTTP1Load.Result
            do {
                result = try HTTP1Load.openLoop(
                    openPlan, rate: 1e6, channel: &openChannel, pipeline: pipeline, histogram: &openSide.histogram)
            } catch {
                // The socketpair may hold stale answers: no later sample could be trusted.
                fatalError("the open loop failed: \(error)")
            }
            benchmark.stopMeasurement()
            precondition(result.requests == 1000, "a sample is 1,000 requests, not \(result.requests)")
            blackHole(result.requests)
        }

        // `http2-load`'s session (#22) at 16 streams, no I/O: each answer (an nginx-like header
        // block, Huffman-coded, and DATA frames of 16 KiB at most) processed as it would arrive,
        // HPACK-decoded and checked, and the next request written.
        var answers: [UInt8] = []
        var answerEnds: [Int] = []
        var responseBlock: [UInt8] = []
        HPACK.appendIndexed(8, to: &responseBlock)
        for (index, value) in [
            (54, "nginx/1.22.1"), (33, "Fri, 04 Dec 2026 23:20:00 GMT"), (31, "application/octet-stream"),
            (28, "\(size)"), (44, "Fri, 04 Dec 2026 19:00:00 GMT"), (34, "\"6931a7f0-40\""), (18, "bytes"),
        ] {
            HPACK.appendLiteral(name: "", nameIndex: index, value: value, .withoutIndexing, to: &responseBlock)
        }
        let body = [UInt8](repeating: 0x5A, count: size)
        for request in 0..<(perSample + 16) {
            let stream = UInt32(2 * request + 1)
            HTTP2.appendFrameHeader(
                length: responseBlock.count, type: 1, flags: HTTP2.Flag.endHeaders, stream: stream, to: &answers)
            answers += responseBlock
            var at = 0
            repeat {
                let piece = min(16_384, size - at)
                HTTP2.appendFrameHeader(
                    length: piece, type: 0, flags: at + piece == size ? HTTP2.Flag.endStream : 0, stream: stream,
                    to: &answers)
                answers += body[at..<at + piece]
                at += piece
            } while at < size
            answerEnds.append(answers.count)
        }
        var settingsFrame: [UInt8] = []
        HTTP2.appendFrameHeader(length: 6, type: 4, flags: 0, stream: 0, to: &settingsFrame)
        settingsFrame += HTTP2.settingsPayload([(.maxConcurrentStreams, 128)])
        Benchmark("http2-load session at 16 streams (no I/O), \(ByteSize.format(size)), 1000 requests") { benchmark in
            let session = try HTTP2ClientSession(
                .init(streams: 16, path: "/file", authority: "127.0.0.1:8080", maximumBodyLength: size))
            session.recordFrom = 0
            session.begin()
            func feed(_ bytes: UnsafeRawBufferPointer) throws {
                let space = session.receiveSpace()
                space.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                session.received(bytes.count)
                try session.process(now: MonotonicClock.now())
            }
            try settingsFrame.withUnsafeBytes { try feed($0) }
            session.issue(now: MonotonicClock.now())
            session.sent()
            try answers.withUnsafeBytes { all in
                benchmark.startMeasurement()
                var from = 0
                for request in 0..<perSample {
                    try feed(UnsafeRawBufferPointer(rebasing: all[from..<answerEnds[request]]))
                    from = answerEnds[request]
                    session.issue(now: MonotonicClock.now())
                    session.sent()
                }
                benchmark.stopMeasurement()
            }
            precondition(session.completed == UInt64(perSample))
            blackHole(session.recorded)
        }

        // `http-serve --protocol h2c`'s session (#22), no I/O: a GET's HEADERS (six fields, HPACK
        // literals) taken, decoded and checked, its answer (HEADERS and DATA frames within the windows)
        // written into the send buffer.
        var requestFrames: [UInt8] = HTTP2.preface
        HTTP2.appendFrame(
            type: .settings, stream: 0,
            payload: HTTP2.settingsPayload([(.initialWindowSize, UInt32(HTTP2.clientWindow))]), to: &requestFrames)
        HTTP2.appendFrame(
            type: .windowUpdate, stream: 0, payload: HTTP2.bigEndian(UInt32(HTTP2.clientWindow)), to: &requestFrames)
        let requestStart = requestFrames.count
        var requestBlock: [UInt8] = []
        HPACK.appendIndexed(2, to: &requestBlock)
        HPACK.appendIndexed(6, to: &requestBlock)
        for (index, value) in [(4, "/file"), (1, "127.0.0.1:8080"), (58, "podbench"), (19, "*/*")] {
            HPACK.appendLiteral(name: "", nameIndex: index, value: value, .withoutIndexing, to: &requestBlock)
        }
        for request in 0..<perSample {
            HTTP2.appendFrameHeader(
                length: requestBlock.count, type: 1, flags: HTTP2.Flag.endHeaders | HTTP2.Flag.endStream,
                stream: UInt32(2 * request + 1), to: &requestFrames)
            requestFrames += requestBlock
        }
        let requestLength = HTTP2.frameHeaderLength + requestBlock.count
        Benchmark("http-serve h2c session (no I/O), \(ByteSize.format(size)), 1000 requests") { benchmark in
            let server = try HTTP2ServerSession(.init(bodyLength: size))
            func feed(_ bytes: UnsafeRawBufferPointer) throws {
                let space = server.receiveSpace()
                space.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                server.received(bytes.count)
                try server.process()
                server.sent()
                while server.produce() { server.sent() }
                server.sent()
            }
            try requestFrames.withUnsafeBytes { all in
                try feed(UnsafeRawBufferPointer(rebasing: all[..<requestStart]))
                benchmark.startMeasurement()
                var from = requestStart
                for _ in 0..<perSample {
                    try feed(UnsafeRawBufferPointer(rebasing: all[from..<from + requestLength]))
                    from += requestLength
                }
                benchmark.stopMeasurement()
            }
            precondition(server.answered == UInt64(perSample) && server.idle)
            blackHole(server.answered)
        }

        let stream = ClientSide(size: size, workload: .stream)
        Benchmark("stream loop over a socketpair, \(ByteSize.format(size)), 1000 messages") { benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            benchmark.startMeasurement()
            let outcome = try StreamWorkload.client(
                reader: &stream.reader, writer: stream.writer, plan: plan, corruptSequence: nil)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }

        // The open-loop sender at 1M messages/s (1 ms per sample): pacing, stamping, flushing.
        let rate = ClientSide(size: size, workload: .rate)
        Benchmark("rate loop over a socketpair at 1M/s, \(ByteSize.format(size)), 1000 messages") { benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            benchmark.startMeasurement()
            let outcome = try RateWorkload.client(
                reader: &rate.reader, writer: rate.writer, plan: plan, messagesPerSecond: 1_000_000,
                corruptSequence: nil)
            benchmark.stopMeasurement()
            blackHole(outcome.messages)
        }

        Benchmark("frame prepare and check (no I/O), \(ByteSize.format(size)), 1000 messages") { benchmark in
            let writer = FrameWriter(payloadLength: size, seed: 1)
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 1)
            benchmark.startMeasurement()
            for i in 0..<perSample {
                let frame = writer.prepare(sequence: UInt64(i), timestamp: 0)
                checker.check(FrameHeader.read(from: frame.baseAddress!)!, frame: frame)
            }
            benchmark.stopMeasurement()
            blackHole(checker.counts)
        }
    }

    for size in [96, 65568] {
        // A ring in ordinary memory, pushed and popped on one thread: the ring's own cost.
        Benchmark("ring push and pop, \(ByteSize.format(size)), 1000 messages") { benchmark in
            let capacity = 1 << 20
            let block = UnsafeMutableRawPointer.allocate(
                byteCount: RingLayout.controlBlockSize + capacity, alignment: 4096)
            defer { block.deallocate() }
            block.initializeMemory(as: UInt8.self, repeating: 0, count: RingLayout.controlBlockSize + capacity)
            let ring = RingPointers(block: block, capacity: capacity)
            ring.reset()
            var producer = RingProducer(ring: ring, consumerSleeps: true)
            var consumer = RingConsumer(ring: ring, producerSleeps: true)
            let message = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
            let sink = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
            defer {
                message.deallocate()
                sink.deallocate()
            }
            message.initializeMemory(as: UInt8.self, repeating: 7)
            benchmark.startMeasurement()
            for _ in 0..<perSample {
                precondition(producer.write(UnsafeRawBufferPointer(message)) == size)
                precondition(consumer.read(into: sink) == size)
            }
            benchmark.stopMeasurement()
            blackHole(sink[0])
        }

        // The shm channel between two threads: one echoes, one measures, as in a pingpong case.
        let shm = SharedMemoryPair(size: size)
        Benchmark(
            "shm channel pingpong between two threads, \(ByteSize.format(size - FrameHeader.size)), 1000 messages"
        ) {
            benchmark in
            _ = try? CPUPinning.pinCurrentThread(to: CPUPinning.allowedCPUs().first)
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: size - FrameHeader.size, verifyEvery: 16)
            benchmark.startMeasurement()
            let outcome = try PingPongWorkload.client(
                reader: &shm.reader, writer: shm.writer, checker: &checker, histogram: &shm.histogram, plan: plan)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }
    }

    for size in [64, 65536] {
        let file = FilePair(size: size)
        Benchmark("file channel pingpong between two threads, \(ByteSize.format(size)), 1000 messages") { benchmark in
            _ = try? CPUPinning.pinCurrentThread(to: CPUPinning.allowedCPUs().first)
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 16)
            benchmark.startMeasurement()
            let outcome = try PingPongWorkload.client(
                reader: &file.reader, writer: file.writer, checker: &checker, histogram: &file.histogram, plan: plan)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }
    }

    for size in [64, 1024] {
        let pingpong = URingPair(size: size, workload: .pingpong)
        Benchmark("io_uring channel pingpong over a socketpair, \(ByteSize.format(size)), 1000 messages") { benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 16)
            benchmark.startMeasurement()
            let outcome = try PingPongWorkload.client(
                reader: &pingpong.reader, writer: pingpong.writer, checker: &checker, histogram: &pingpong.histogram,
                plan: plan)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }
        let stream = URingPair(size: size, workload: .stream)
        Benchmark("io_uring channel stream over a socketpair, \(ByteSize.format(size)), 1000 messages") { benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            benchmark.startMeasurement()
            let outcome = try StreamWorkload.client(
                reader: &stream.reader, writer: stream.writer, plan: plan, corruptSequence: nil)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }
    }

    for size in [64, 65536] {
        let pingpong = DatagramPair(size: size, workload: .pingpong)
        Benchmark("datagram channel pingpong over a socketpair, \(ByteSize.format(size)), 1000 messages") {
            benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 16, datagrams: true)
            benchmark.startMeasurement()
            let outcome = try PingPongWorkload.client(
                reader: &pingpong.reader, writer: pingpong.writer, checker: &checker, histogram: &pingpong.histogram,
                plan: plan)
            benchmark.stopMeasurement()
            precondition(outcome.messages == UInt64(perSample))
            blackHole(outcome)
        }
        let stream = DatagramPair(size: size, workload: .stream)
        Benchmark("datagram channel stream over a socketpair, \(ByteSize.format(size)), 1000 messages") { benchmark in
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            benchmark.startMeasurement()
            let outcome = try StreamWorkload.client(
                reader: &stream.reader, writer: stream.writer, plan: plan, corruptSequence: nil)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }
    }

    for size in [64, 65536] {
        let pingpong = ProcessVMPair(size: size, workload: .pingpong)
        Benchmark("process-vm channel pingpong between two threads, \(ByteSize.format(size)), 1000 messages") {
            benchmark in
            _ = try? CPUPinning.pinCurrentThread(to: CPUPinning.allowedCPUs().first)
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 16)
            benchmark.startMeasurement()
            let outcome = try PingPongWorkload.client(
                reader: &pingpong.reader, writer: pingpong.writer, checker: &checker, histogram: &pingpong.histogram,
                plan: plan)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }
        let stream = ProcessVMPair(size: size, workload: .stream)
        Benchmark("process-vm channel stream between two threads, \(ByteSize.format(size)), 1000 messages") {
            benchmark in
            _ = try? CPUPinning.pinCurrentThread(to: CPUPinning.allowedCPUs().first)
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            benchmark.startMeasurement()
            let outcome = try StreamWorkload.client(
                reader: &stream.reader, writer: stream.writer, plan: plan, corruptSequence: nil)
            benchmark.stopMeasurement()
            blackHole(outcome)
        }
    }

    for publishing in [ContentPublishing.symlink, .rename] {
        let pair = ContentSyncPair(size: 4096, publishing: publishing)
        Benchmark("content-sync (\(publishing)) pingpong between two threads, 4KiB, 1000 messages") { benchmark in
            _ = try? CPUPinning.pinCurrentThread(to: CPUPinning.allowedCPUs().first)
            let plan = PhasePlan(durationNanoseconds: 0, messageLimit: UInt64(perSample))
            var checker = IntegrityChecker(payloadLength: 4096, verifyEvery: 16, datagrams: true)
            benchmark.startMeasurement()
            let outcome = try PingPongWorkload.client(
                reader: &pair.reader, writer: pair.writer, checker: &checker, histogram: &pair.histogram, plan: plan)
            benchmark.stopMeasurement()
            precondition(outcome.messages == UInt64(perSample))
            blackHole(outcome)
        }
    }

    Benchmark("payload checksum, 1MiB") { benchmark in
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        _ = PayloadTemplate(filling: payload, seed: 3)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(PayloadChecksum.checksum(UnsafeRawBufferPointer(payload))) }
        benchmark.stopMeasurement()
        payload.deallocate()
    }

    Benchmark("histogram record, 1000 values") { benchmark in
        var histogram = EncodedHistogram.makeLatencyHistogram()
        benchmark.startMeasurement()
        for i in 0..<perSample { histogram.record(UInt64(1000 + (i & 4095) * 7)) }
        benchmark.stopMeasurement()
        blackHole(histogram.totalCount)
    }

    // The results codec is not a hot loop; it allocates by design. Measured for its cost only.
    Benchmark(
        "histogram encode and decode (results codec)",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal])
    ) { benchmark in
        var histogram = EncodedHistogram.makeLatencyHistogram()
        for i in 0..<100_000 { histogram.record(UInt64(5000 + (i * 7919) % 200_000)) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try EncodedHistogram(histogram).decode()) }
        benchmark.stopMeasurement()
    }
}
