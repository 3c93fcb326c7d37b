import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import Testing

@testable import PodBenchHarness

/// The HTTP/2 server session (`http-serve --protocol h2c`) against podbench's own client session
/// wired to it in memory, against a client written here that holds its windows shut, and against
/// hostile byte streams. h2load against the real server is in PatternEndToEndTests.
@Suite("HTTP/2 server")
struct HTTP2ServerTests {
    /// Bytes in, frames out, as the driver does it (process, produce while it has more).
    final class Harness {
        let server: HTTP2ServerSession
        var out: [UInt8] = []
        /// Times `process` was called again on frames left waiting (the send buffer was full).
        var backlogRounds = 0

        init(bodyLength: Int, maximumStreams: Int = 128) throws {
            server = try HTTP2ServerSession(.init(bodyLength: bodyLength, maximumStreams: maximumStreams))
            take()
        }

        func take() {
            out += Array(server.pendingSend)
            server.sent()
        }

        func feed(_ bytes: [UInt8]) throws {
            var at = 0
            repeat {
                let space = server.receiveSpace()
                let n = min(space.count, bytes.count - at)
                if n > 0 {
                    bytes.withUnsafeBytes { space.baseAddress!.copyMemory(from: $0.baseAddress! + at, byteCount: n) }
                }
                server.received(n)
                at += n
                repeat {
                    try server.process()
                    take()
                    while server.produce() { take() }
                    take()
                    if server.backlogged { backlogRounds += 1 }
                } while server.backlogged
            } while at < bytes.count
        }

        /// The server's frames since the last call.
        func frames() -> [(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8])] {
            var frames: [(UInt8, UInt8, UInt32, [UInt8])] = []
            var at = 0
            while at + 9 <= out.count {
                let length = Int(out[at]) << 16 | Int(out[at + 1]) << 8 | Int(out[at + 2])
                let stream =
                    UInt32(out[at + 5] & 0x7F) << 24 | UInt32(out[at + 6]) << 16 | UInt32(out[at + 7]) << 8
                    | UInt32(out[at + 8])
                frames.append((out[at + 3], out[at + 4], stream, Array(out[at + 9..<at + 9 + length])))
                at += 9 + length
            }
            out.removeFirst(at)
            return frames
        }
    }

    static func frame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        HTTP2.appendFrameHeader(length: payload.count, type: type, flags: flags, stream: stream, to: &out)
        return out + payload
    }

    static func request(method: String = "GET", path: String = "/x") -> [UInt8] {
        var block: [UInt8] = []
        HPACK.appendLiteral(name: "", nameIndex: 2, value: method, .withoutIndexing, to: &block)
        HPACK.appendIndexed(6, to: &block)  // :scheme http
        HPACK.appendLiteral(name: "", nameIndex: 4, value: path, .withoutIndexing, to: &block)
        HPACK.appendLiteral(name: "", nameIndex: 1, value: "x", .withoutIndexing, to: &block)
        return block
    }

    static func start(_ settings: [(HTTP2.Setting, UInt32)] = []) -> [UInt8] {
        HTTP2.preface + frame(4, 0, 0, HTTP2.settingsPayload(settings))
    }

    @Test("podbench's client against the server in memory: 16 streams, every answer checked, both sides count alike")
    func ownClient() throws {
        let server = try Harness(bodyLength: 3000)
        let client = try HTTP2ClientSession(
            .init(streams: 16, path: "/any", authority: "x", maximumBodyLength: 1 << 20, expectedBodyLength: 3000))
        client.recordFrom = 0
        client.begin()
        var toServer = Array(client.pendingSend)
        client.sent()
        for round in 0..<200 {
            try server.feed(toServer)
            toServer = []
            let bytes = server.out
            server.out = []
            var at = 0
            while at < bytes.count {
                let space = client.receiveSpace()
                let n = min(space.count, bytes.count - at)
                bytes.withUnsafeBytes { space.baseAddress!.copyMemory(from: $0.baseAddress! + at, byteCount: n) }
                client.received(n)
                at += n
                try client.process(now: UInt64(round + 1) * 1000)
            }
            client.issue(now: UInt64(round + 1) * 1000)
            toServer = Array(client.pendingSend)
            client.sent()
        }
        #expect(client.completed >= 16 * 190, "\(client.completed)")
        #expect(server.server.answered == client.completed)
        #expect(client.expectedLength == 3000)
        #expect(server.server.reset == 0 && server.server.refused == 0)
    }

    @Test(
        "POST /podbench/echo: podbench's client's bodies are checked and answered with their length, in memory, through both sides' windows"
    )
    func echo() throws {
        for (size, streams) in [(1, 4), (3000, 16), (100_000, 4), (1 << 20, 2)] {
            let server = try Harness(bodyLength: 1 << 20)
            let client = try HTTP2ClientSession(
                .init(
                    streams: streams, path: "/podbench/echo", authority: "x", maximumBodyLength: 1 << 20,
                    expectedBodyLength: size, requestBodyLength: size))
            client.recordFrom = 0
            client.begin()
            var toServer: [UInt8] = []
            func drain() {
                repeat {
                    toServer += Array(client.pendingSend)
                    client.sent()
                    client.writeBodies()
                } while client.sendCount > 0
            }
            drain()
            for round in 0..<60 {
                try server.feed(toServer)
                toServer = []
                let bytes = server.out
                server.out = []
                var at = 0
                while at < bytes.count {
                    let space = client.receiveSpace()
                    let n = min(space.count, bytes.count - at)
                    bytes.withUnsafeBytes { space.baseAddress!.copyMemory(from: $0.baseAddress! + at, byteCount: n) }
                    client.received(n)
                    at += n
                    try client.process(now: UInt64(round + 1) * 1000)
                    drain()
                }
                client.issue(now: UInt64(round + 1) * 1000)
                drain()
            }
            // A megabyte body takes about two rounds (the server's 1 MiB window reopens at half).
            #expect(client.completed >= 20, "\(size): \(client.completed)")
            #expect(server.server.answered == client.completed, "\(size)")
            #expect(client.expectedLength == size)
            #expect(server.server.alteredBodies == 0 && server.server.reset == 0, "\(size)")
        }
    }

    @Test("POST /podbench/echo: a body that is not podbench's pattern, or longer than the server's, resets its stream")
    func echoRefusals() throws {
        var block: [UInt8] = []
        HPACK.appendLiteral(name: "", nameIndex: 2, value: "POST", .withoutIndexing, to: &block)
        HPACK.appendIndexed(6, to: &block)
        HPACK.appendLiteral(name: "", nameIndex: 4, value: "/podbench/echo", .withoutIndexing, to: &block)
        let pattern = HTTP2ServerSession.makeBody(length: 100, seed: HTTP2ServerSession.Configuration.bodySeed)
        defer { pattern.deallocate() }
        let good = Array(pattern.prefix(100))
        let h = try Harness(bodyLength: 100)
        // The right 100 bytes in two frames: answered with a 100-byte body and content-length 100.
        try h.feed(
            Self.start() + Self.frame(1, 4, 1, block) + Self.frame(0, 0, 1, Array(good[..<40]))
                + Self.frame(0, 1, 1, Array(good[40...])))
        var frames = h.frames().filter { $0.stream == 1 }
        #expect(frames.map(\.type) == [1, 0] && frames[1].payload == good && frames[1].flags == 1)
        let decoder = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 1024)
        var fields: [String] = []
        try frames[0].payload.withUnsafeBytes {
            try decoder.decode($0) {
                fields.append(String(decoding: $0, as: UTF8.self) + ": " + String(decoding: $1, as: UTF8.self))
            }
        }
        #expect(fields == [":status: 200", "content-length: 100", "server: podbench"])
        // One byte changed: PROTOCOL_ERROR on that stream, counted; the connection goes on.
        var altered = good
        altered[77] ^= 1
        try h.feed(Self.frame(1, 4, 3, block) + Self.frame(0, 1, 3, altered))
        frames = h.frames()
        #expect(frames.count == 1 && frames[0].type == 3 && frames[0].stream == 3 && frames[0].payload == [0, 0, 0, 1])
        #expect(h.server.alteredBodies == 1)
        // 101 bytes to a server whose bodies are 100: CANCEL.
        try h.feed(Self.frame(1, 4, 5, block) + Self.frame(0, 1, 5, good + [0]))
        frames = h.frames()
        #expect(frames.count == 1 && frames[0].type == 3 && frames[0].payload == [0, 0, 0, 8])
        #expect(h.server.oversizedBodies == 1)
        // An empty echo: content-length 0, the head ends the stream.
        try h.feed(Self.frame(1, 5, 7, block))
        frames = h.frames()
        #expect(frames.count == 1 && frames[0].type == 1 && frames[0].flags == 5)
        // Another path's POST body is dropped and the fixed body answered.
        try h.feed(Self.frame(1, 4, 9, Self.request(method: "POST")) + Self.frame(0, 1, 9, altered))
        frames = h.frames().filter { $0.type == 0 }
        #expect(frames.count == 1 && frames[0].payload == good)
        #expect(h.server.answered == 3 && h.server.reset == 2)
    }

    @Test("the end of a trial is held for the driver; a reset of it is forgotten, and the next request answered")
    func endOfTrial() throws {
        var end: [UInt8] = []
        HPACK.appendLiteral(name: "", nameIndex: 2, value: "POST", .withoutIndexing, to: &end)
        HPACK.appendIndexed(6, to: &end)
        HPACK.appendLiteral(name: "", nameIndex: 4, value: "/podbench/end", .withoutIndexing, to: &end)
        HPACK.appendLiteral(name: "x-podbench-request", value: "000000000000000c", .withoutIndexing, to: &end)
        let h = try Harness(bodyLength: 10)
        try h.feed(Self.start() + Self.frame(1, 5, 1, end))
        #expect(h.server.endRequested == 12 && h.frames().filter { $0.stream == 1 }.isEmpty)
        h.server.answerEnd(count: 11)
        h.take()
        let answer = try #require(h.frames().first { $0.stream == 1 })
        let decoder = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 1024)
        var fields: [String] = []
        try answer.payload.withUnsafeBytes {
            try decoder.decode($0) {
                fields.append(String(decoding: $0, as: UTF8.self) + ": " + String(decoding: $1, as: UTF8.self))
            }
        }
        #expect(answer.flags == 5)
        #expect(
            fields == [":status: 200", "content-length: 0", "server: podbench", "x-podbench-request: 000000000000000b"])
        #expect(h.server.endRequested == nil && h.server.active == 0)
        // Held, then reset by the client, with a GET behind it: the GET is answered as a GET, the
        // end forgotten (answering it now writes nothing), and nothing is counted twice.
        try h.feed(
            Self.frame(1, 5, 3, end) + Self.frame(3, 0, 3, HTTP2.bigEndian(8)) + Self.frame(1, 5, 5, Self.request()))
        #expect(h.server.endRequested == nil)
        h.server.answerEnd(count: 1)
        h.take()
        let frames = h.frames()
        #expect(frames.map(\.stream) == [5, 5] && frames[1].payload.count == 10, "\(frames.map(\.stream))")
        #expect(h.server.active == 0 && h.server.idle)
        // An end without its count, or a second while one waits: that stream is reset.
        var bare: [UInt8] = []
        HPACK.appendLiteral(name: "", nameIndex: 2, value: "POST", .withoutIndexing, to: &bare)
        HPACK.appendIndexed(6, to: &bare)
        HPACK.appendLiteral(name: "", nameIndex: 4, value: "/podbench/end", .withoutIndexing, to: &bare)
        try h.feed(Self.frame(1, 5, 7, bare))
        #expect(h.frames().map(\.type) == [3] && h.server.endRequested == nil)
        try h.feed(Self.frame(1, 5, 9, end) + Self.frame(1, 5, 11, end))
        #expect(h.frames().map(\.type) == [3] && h.server.endRequested == 12)
    }

    @Test("flow control: DATA never passes the client's windows, waits while they are shut, goes on with WINDOW_UPDATE")
    func flowControl() throws {
        let body = 100_000
        let h = try Harness(bodyLength: body)
        // Stream windows of 1000 bytes, frames of at most 16384, the connection's window at 65,535.
        try h.feed(Self.start([(.initialWindowSize, 1000)]) + Self.frame(1, 5, 1, Self.request()))
        var frames = h.frames()
        #expect(frames.contains { $0.type == 4 && $0.flags == 1 })  // SETTINGS acknowledged
        let head = try #require(frames.first { $0.type == 1 })
        #expect(head.stream == 1 && head.flags & 1 == 0)
        var data = frames.filter { $0.type == 0 }.reduce(0) { $0 + $1.payload.count }
        #expect(data == 1000, "the stream's window is 1000 bytes")
        // A lower SETTINGS_INITIAL_WINDOW_SIZE takes the stream's window below 0 (1000 - 1000 - 1000):
        // nothing more, even when the connection's window opens, or the stream's by 1000.
        try h.feed(Self.frame(4, 0, 0, HTTP2.settingsPayload([(.initialWindowSize, 0)])))
        try h.feed(Self.frame(8, 0, 0, HTTP2.bigEndian(1_000_000)) + Self.frame(8, 0, 1, HTTP2.bigEndian(1000)))
        frames = h.frames()
        #expect(frames.filter { $0.type == 0 }.count == 0)
        // The rest once the stream's window has room for it, in frames of at most 16 KiB; the last ends the stream.
        try h.feed(Self.frame(8, 0, 1, HTTP2.bigEndian(200_000)))
        frames = h.frames()
        data += frames.filter { $0.type == 0 }.reduce(0) { $0 + $1.payload.count }
        #expect(data == body)
        #expect(frames.allSatisfy { $0.type != 0 || $0.payload.count <= 16_384 })
        #expect(frames.last.map { $0.type == 0 && $0.flags == 1 } == true)
        // The connection's window (65,535 until the client opens it) bounds all streams together.
        let wide = try Harness(bodyLength: body)
        try wide.feed(
            Self.start([(.initialWindowSize, 1_000_000)]) + Self.frame(1, 5, 1, Self.request())
                + Self.frame(1, 5, 3, Self.request()))
        #expect(wide.frames().filter { $0.type == 0 }.reduce(0) { $0 + $1.payload.count } == 65_535)
        try wide.feed(Self.frame(8, 0, 0, HTTP2.bigEndian(1_000_000)))
        #expect(wide.frames().filter { $0.type == 0 }.reduce(0) { $0 + $1.payload.count } == 2 * body - 65_535)
        #expect(wide.server.answered == 2)
        #expect(h.server.answered == 1 && h.server.idle)
    }

    @Test(
        "a request body is read within the windows this server gives, and answered when the stream ends; HEAD gets the head"
    )
    func requestBodies() throws {
        let h = try Harness(bodyLength: 10)
        try h.feed(Self.start() + Self.frame(1, 4, 1, Self.request(method: "POST")))
        var sent = 0
        for _ in 0..<40 {
            try h.feed(Self.frame(0, 0, 1, [UInt8](repeating: 7, count: 16_384)))
            sent += 16_384
        }
        // 655,360 bytes: more than half of each 1 MiB window, so both were opened again.
        var frames = h.frames()
        #expect(frames.contains { $0.type == 8 && $0.stream == 0 })
        #expect(frames.contains { $0.type == 8 && $0.stream == 1 })
        #expect(!frames.contains { $0.type == 1 })
        try h.feed(Self.frame(0, 1, 1, [1, 2, 3]))
        frames = h.frames()
        #expect(frames.map(\.type) == [1, 0] && frames[1].payload.count == 10 && frames[1].flags == 1)
        try h.feed(Self.frame(1, 5, 3, Self.request(method: "HEAD")))
        frames = h.frames()
        #expect(frames.count == 1 && frames[0].type == 1 && frames[0].flags == 5)
    }

    @Test("streams over SETTINGS_MAX_CONCURRENT_STREAMS are refused; a malformed request resets its stream alone")
    func streamErrors() throws {
        let h = try Harness(bodyLength: 5, maximumStreams: 2)
        try h.feed(
            Self.start() + Self.frame(1, 4, 1, Self.request()) + Self.frame(1, 4, 3, Self.request())
                + Self.frame(1, 5, 5, Self.request()))
        var frames = h.frames()
        #expect(frames.contains { $0.type == 3 && $0.stream == 5 && $0.payload == HTTP2.bigEndian(7) })
        #expect(h.server.refused == 1)
        // No :path: PROTOCOL_ERROR on that stream; an uppercase name too; the others still answered.
        var noPath: [UInt8] = []
        HPACK.appendIndexed(2, to: &noPath)
        HPACK.appendIndexed(6, to: &noPath)
        var upper = Self.request()
        HPACK.appendLiteral(name: "X-Up", value: "1", .withoutIndexing, huffman: false, to: &upper)
        try h.feed(
            Self.frame(0, 1, 1, []) + Self.frame(1, 5, 7, noPath) + Self.frame(1, 5, 9, upper)
                + Self.frame(0, 1, 3, []))
        frames = h.frames()
        #expect(frames.contains { $0.type == 3 && $0.stream == 7 && $0.payload == HTTP2.bigEndian(1) })
        #expect(frames.contains { $0.type == 3 && $0.stream == 9 && $0.payload == HTTP2.bigEndian(1) })
        #expect(frames.filter { $0.type == 0 && $0.flags == 1 }.map(\.stream).sorted() == [1, 3])
        // The client resets a stream it is sending on: its answer never comes.
        try h.feed(Self.frame(1, 4, 11, Self.request()) + Self.frame(3, 0, 11, HTTP2.bigEndian(8)))
        try h.feed(Self.frame(0, 1, 11, []))
        frames = h.frames()
        #expect(!frames.contains { $0.stream == 11 && $0.type <= 1 })
    }

    @Test("a hostile client's connection errors are thrown with the GOAWAY's code, never a crash")
    func hostileClients() throws {
        var badIndex = Self.request()
        badIndex.append(0x80)  // index 0
        let cases: [(String, [UInt8], UInt32)] = [
            ("HTTP/1", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), 1),
            ("no SETTINGS first", HTTP2.preface + Self.frame(6, 0, 0, [UInt8](repeating: 0, count: 8)), 1),
            ("SETTINGS of 5 bytes", HTTP2.preface + Self.frame(4, 0, 0, [0, 0, 0, 0, 0]), 6),
            ("frame over 16 KiB", Self.start() + Self.frame(0, 0, 1, [UInt8](repeating: 0, count: 16_385)), 6),
            ("DATA on stream 0", Self.start() + Self.frame(0, 0, 0, [1]), 1),
            ("DATA on an idle stream", Self.start() + Self.frame(0, 0, 9, [1]), 1),
            ("an even stream", Self.start() + Self.frame(1, 5, 2, Self.request()), 1),
            (
                "an even stream below the last",
                Self.start() + Self.frame(1, 5, 3, Self.request()) + Self.frame(1, 5, 2, Self.request()), 1
            ),
            ("PRIORITY on itself, not opened", Self.start() + Self.frame(2, 0, 5, HTTP2.bigEndian(5) + [16]), 1),
            ("PRIORITY of 4 bytes, not opened", Self.start() + Self.frame(2, 0, 5, [0, 0, 0, 1]), 6),
            ("HPACK index 0", Self.start() + Self.frame(1, 5, 1, badIndex), 9),
            ("a header list over 256 KiB decoded", Self.start() + Self.frame(1, 5, 1, Self.listBomb()), 11),
            ("CONTINUATION alone", Self.start() + Self.frame(9, 4, 1, [0x82]), 1),
            (
                "HEADERS between HEADERS and CONTINUATION",
                Self.start() + Self.frame(1, 0, 1, [0x82]) + Self.frame(1, 5, 3, Self.request()), 1
            ),
            ("PUSH_PROMISE", Self.start() + Self.frame(5, 4, 1, [0, 0, 0, 2]), 1),
            ("WINDOW_UPDATE of 0 on the connection", Self.start() + Self.frame(8, 0, 0, [0, 0, 0, 0]), 1),
            ("connection window past 2^31-1", Self.start() + Self.frame(8, 0, 0, HTTP2.bigEndian(0x7FFF_FFFF)), 3),
            (
                "INITIAL_WINDOW_SIZE over 2^31-1",
                HTTP2.preface + Self.frame(4, 0, 0, HTTP2.settingsPayload([(.initialWindowSize, 0x8000_0000)])), 3
            ),
            (
                "MAX_FRAME_SIZE under 16384",
                HTTP2.preface + Self.frame(4, 0, 0, HTTP2.settingsPayload([(.maxFrameSize, 100)])), 1
            ),
            ("padding past the frame", Self.start() + Self.frame(1, 0x0C, 1, [200] + Self.request()), 1),
            ("PING of 7 bytes", Self.start() + Self.frame(6, 0, 0, [0, 0, 0, 0, 0, 0, 0]), 6),
            ("RST_STREAM on an idle stream", Self.start() + Self.frame(3, 0, 7, [0, 0, 0, 8]), 1),
        ]
        for (name, bytes, code) in cases {
            let h = try Harness(bodyLength: 100)
            var failure: PodBenchError?
            do { try h.feed(bytes) } catch let error as PodBenchError { failure = error }
            let error = try #require(failure, "\(name): accepted")
            #expect(error.code == .protocolViolation, "\(name)")
            #expect(h.server.errorCode == code, "\(name): \(HTTP2.errorName(h.server.errorCode)), \(error.message)")
            // The GOAWAY names the last stream opened and the code; its text is printable.
            let goAway = h.server.goAwayFrame(error.message + "\u{1B}[2J\n")
            #expect(Array(goAway[13..<17]) == HTTP2.bigEndian(code), "\(name)")
            #expect(Array(goAway[9..<13]) == HTTP2.bigEndian(h.server.lastStream), "\(name)")
            #expect(goAway.count > 17 && goAway.dropFirst(17).allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "\(name)")
        }
    }

    @Test(
        "a flood of frames each answered with more bytes than it has is bounded: processed in rounds, every one answered"
    )
    func floods() throws {
        let h = try Harness(bodyLength: 1)
        try h.feed(Self.start() + Self.frame(1, 5, 1, Self.request()))
        _ = h.frames()
        // 60,000 empty PRIORITY frames on stream 1: each a 13-byte RST_STREAM (FRAME_SIZE_ERROR) for 9
        // bytes, more than the send buffer holds: the reading waits while the answers go.
        let flood = Array(repeating: Self.frame(2, 0, 1, []), count: 60_000).joined()
        try h.feed(Array(flood))
        let frames = h.frames()
        #expect(frames.filter { $0.type == 3 && $0.payload == HTTP2.bigEndian(6) }.count == 60_000)
        #expect(h.backlogRounds > 0)
        // And 30,000 PINGs, each answered.
        try h.feed(Array(Array(repeating: Self.frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]), count: 30_000).joined()))
        #expect(h.frames().filter { $0.type == 6 && $0.flags == 1 }.count == 30_000)
    }

    /// One 4000-byte entry, then 100 references to it: 400 KB decoded from a 4 KiB block.
    static func listBomb() -> [UInt8] {
        var block = request()
        HPACK.appendLiteral(
            name: "x-big", value: String(repeating: "v", count: 4000), .indexing, huffman: false, to: &block)
        return block + [UInt8](repeating: 0xBE, count: 100)
    }

    @Test("frames on ended streams are dropped, trailers and CONTINUATION complete a request, GOAWAY stops new streams")
    func streamLifecycle() throws {
        let h = try Harness(bodyLength: 4)
        // A request whose block is split across HEADERS and two CONTINUATIONs; then trailers end
        // another after its DATA.
        let block = Self.request()
        try h.feed(
            Self.start() + Self.frame(1, 1, 1, Array(block[..<2])) + Self.frame(9, 0, 1, Array(block[2..<5]))
                + Self.frame(9, 4, 1, Array(block[5...])))
        var frames = h.frames()
        #expect(frames.filter { $0.stream == 1 }.map(\.type) == [1, 0])
        var trailer: [UInt8] = []
        HPACK.appendLiteral(name: "x-sum", value: "1", .withoutIndexing, to: &trailer)
        try h.feed(
            Self.frame(1, 4, 3, Self.request(method: "POST")) + Self.frame(0, 0, 3, [1, 2])
                + Self.frame(1, 5, 3, trailer))
        frames = h.frames()
        #expect(frames.filter { $0.stream == 3 }.map(\.type) == [1, 0])
        // Stream 1 and 3 have ended: their DATA, HEADERS and a lower new stream are dropped, not answered
        // or reset, and the HPACK table stays in step (an indexed literal in a dropped block is used by
        // the next request).
        var indexing: [UInt8] = []
        HPACK.appendIndexed(2, to: &indexing)
        HPACK.appendIndexed(6, to: &indexing)
        HPACK.appendLiteral(name: "", nameIndex: 4, value: "/kept", .indexing, to: &indexing)
        var usesIt: [UInt8] = []
        HPACK.appendIndexed(2, to: &usesIt)
        HPACK.appendIndexed(6, to: &usesIt)
        HPACK.appendIndexed(62, to: &usesIt)
        try h.feed(Self.frame(0, 1, 1, [9]) + Self.frame(1, 5, 3, indexing) + Self.frame(1, 5, 5, usesIt))
        frames = h.frames()
        #expect(frames.filter { $0.type == 3 }.isEmpty)
        #expect(frames.filter { $0.stream == 5 }.map(\.type) == [1, 0])
        // Trailers on a stream whose request had ended (its answer waits on a shut window): STREAM_CLOSED.
        let shut = try Harness(bodyLength: 100)
        try shut.feed(Self.start([(.initialWindowSize, 0)]) + Self.frame(1, 5, 1, Self.request()))
        try shut.feed(Self.frame(1, 5, 1, trailer))
        #expect(shut.frames().contains { $0.type == 3 && $0.stream == 1 && $0.payload == HTTP2.bigEndian(5) })
        // A stream that depends on itself is reset, its block still decoded.
        try h.feed(Self.frame(1, 0x25, 7, HTTP2.bigEndian(7) + [16] + Self.request()))
        #expect(h.frames().contains { $0.type == 3 && $0.stream == 7 && $0.payload == HTTP2.bigEndian(1) })
        // After the client's GOAWAY a new stream is refused; PRIORITY on another stream is ignored.
        try h.feed(
            Self.frame(7, 0, 0, HTTP2.bigEndian(0) + HTTP2.bigEndian(0)) + Self.frame(2, 0, 11, [0, 0, 0, 1, 16])
                + Self.frame(1, 5, 9, Self.request()))
        frames = h.frames()
        #expect(frames.map(\.type) == [3] && frames.first?.stream == 9 && frames.first?.payload == HTTP2.bigEndian(7))
        #expect(h.server.answered == 3 && h.server.refused == 1)
    }
}
