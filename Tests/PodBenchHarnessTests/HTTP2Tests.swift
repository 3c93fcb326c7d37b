import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import Testing

@testable import PodBenchHarness

/// HPACK against RFC 7541's own examples and hostile blocks; the HTTP/2 client session against
/// byte streams a server written here sends, right and wrong; `http2-load` against a socket server.
@Suite("HTTP/2 and HPACK")
struct HTTP2Tests {
    static func hex(_ text: String) -> [UInt8] {
        let digits = Array(text.filter { $0.isHexDigit })
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    /// The fields of `block` as text, decoded by `decoder`.
    static func decode(_ decoder: HPACK.Decoder, _ block: [UInt8]) throws -> [String] {
        var fields: [String] = []
        try block.withUnsafeBytes { bytes in
            try decoder.decode(bytes) { name, value in
                fields.append(String(decoding: name, as: UTF8.self) + ": " + String(decoding: value, as: UTF8.self))
            }
        }
        return fields
    }

    @Test("the Huffman code is RFC 7541's: its listed codes, its examples both ways")
    func huffman() throws {
        let code = HPACK.huffman
        for (symbol, bits, length) in [
            (48, 0x0, 5), (97, 0x3, 5), (0, 0x1FF8, 13), (32, 0x14, 6), (255, 0x3FF_FFEE, 26), (256, 0x3FFF_FFFF, 30),
            (10, 0x3FFF_FFFC, 30), (126, 0x1FFD, 13), (128, 0xF_FFE6, 20),
        ] {
            #expect(code.codes[symbol] == UInt32(bits) && Int(HPACK.codeLengths[symbol]) == length, "symbol \(symbol)")
        }
        for (text, coded) in [
            ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"), ("no-cache", "a8eb 1064 9cbf"),
            ("custom-key", "25a8 49e9 5ba9 7d7f"), ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
            ("Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),
        ] {
            #expect(HPACK.huffmanEncode(Array(text.utf8)) == Self.hex(coded), "\(text)")
        }
        // Every byte value round-trips, alone and together.
        let all = (0..<256).map { UInt8($0) }
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 1024, alignment: 8)
        defer { scratch.deallocate() }
        for text: [UInt8] in [all, all.reversed(), [], [0], [255, 255, 255]] {
            let coded = HPACK.huffmanEncode(text)
            let count = try coded.withUnsafeBytes { try HPACK.huffmanDecode($0, into: scratch, capacity: 1024) }
            #expect(Array(UnsafeRawBufferPointer(start: scratch, count: count)) == text)
        }
        // EOS, padding of 8 bits or more, padding that is not ones, output over capacity.
        for (bad, phrase) in [
            ([0xFF, 0xFF, 0xFF, 0xFF], "EOS"), ([0x1F, 0xFF], "ends inside a symbol"), ([0x18], "ends inside a symbol"),
            (HPACK.huffmanEncode(Array("aaaaaaaaaa".utf8)), "more than 4 bytes"),
        ] as [([UInt8], String)] {
            do {
                _ = try bad.withUnsafeBytes { try HPACK.huffmanDecode($0, into: scratch, capacity: 4) }
                Issue.record("\(bad) decoded")
            } catch let error as PodBenchError {
                #expect(error.message.contains(phrase), "\(error.message)")
            }
        }
    }

    @Test("RFC 7541 C.3 and C.6: requests and Huffman-coded responses through the dynamic table, with eviction")
    func rfcExamples() throws {
        let requests = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 1024)
        #expect(
            try Self.decode(requests, Self.hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"))
                == [":method: GET", ":scheme: http", ":path: /", ":authority: www.example.com"])
        #expect(
            try Self.decode(requests, Self.hex("8286 84be 5808 6e6f 2d63 6163 6865"))
                == [
                    ":method: GET", ":scheme: http", ":path: /", ":authority: www.example.com",
                    "cache-control: no-cache",
                ])
        #expect(requests.size == 110 && requests.count == 2)

        let responses = HPACK.Decoder(sizeLimit: 256, maximumBlock: 1024)
        let first = [
            ":status: 302", "cache-control: private", "date: Mon, 21 Oct 2013 20:13:21 GMT",
            "location: https://www.example.com",
        ]
        #expect(
            try Self.decode(
                responses,
                Self.hex(
                    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"
                )) == first)
        #expect(responses.size == 222 && responses.count == 4)
        #expect(try Self.decode(responses, Self.hex("4883 640e ffc1 c0bf")) == [":status: 307"] + first.dropFirst())
        #expect(responses.size == 222 && responses.count == 4)
        #expect(
            try Self.decode(
                responses,
                Self.hex(
                    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07"
                ))
                == [
                    ":status: 200", "cache-control: private", "date: Mon, 21 Oct 2013 20:13:22 GMT",
                    "location: https://www.example.com", "content-encoding: gzip",
                    "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                ])
        #expect(responses.size == 215 && responses.count == 3)
        // A size update to 0 empties the table; a reference into it then fails.
        _ = try Self.decode(responses, [0x20])
        #expect(responses.size == 0 && responses.count == 0)
        #expect(throws: PodBenchError.self) { try Self.decode(responses, [0xBE]) }
    }

    @Test("hostile header blocks are refused in words, never a crash")
    func hostileBlocks() throws {
        for (block, phrase) in [
            ([0x80], "table entry 0"), ([0xBE], "refers to table entry 62"),
            ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "integer over"),
            ([0xFF, 0x80], "ends inside an integer"),
            // Found by the fuzzer: zero groups that shift a later one into the sign bit.
            ([0x7F, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x4F], "integer over"),
            ([0x40, 0x05, 0x61], "says 5 bytes"), ([0x00], "ends before a string"),
            ([0x3F, 0xE2, 0x1F], "over the 4096"), ([0x82, 0x20], "after a field"),
            ([0x41, 0x81, 0xFF], "ends inside a symbol"), ([0x41, 0x84, 0xFF, 0xFF, 0xFF, 0xFF], "EOS"),
            ([0x04], "ends before a string"),
        ] as [([UInt8], String)] {
            let decoder = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 64)
            do {
                _ = try Self.decode(decoder, block)
                Issue.record("\(block) decoded")
            } catch let error as PodBenchError {
                #expect(
                    error.code == .protocolViolation && error.message.contains(phrase), "\(block): \(error.message)")
            }
        }
        // An entry larger than the table empties it and is not added; indexing a name from the
        // table that the insertion itself evicts still stores the right name.
        let small = HPACK.Decoder(sizeLimit: 64, maximumBlock: 256)
        var block: [UInt8] = []
        HPACK.appendLiteral(name: "x-a", value: "1", .indexing, to: &block)
        HPACK.appendLiteral(name: "", nameIndex: 62, value: String(repeating: "v", count: 25), .indexing, to: &block)
        #expect(try Self.decode(small, block) == ["x-a: 1", "x-a: " + String(repeating: "v", count: 25)])
        #expect(small.count == 1 && small.size == 60)
        #expect(try Self.decode(small, [0xBE]) == ["x-a: " + String(repeating: "v", count: 25)])
        var big: [UInt8] = []
        HPACK.appendLiteral(name: "x-big", value: String(repeating: "v", count: 40), .indexing, to: &big)
        _ = try Self.decode(small, big)
        #expect(small.count == 0 && small.size == 0)
        // Many inserts through a small table: the storage compacts and every entry reads back.
        let churn = HPACK.Decoder(sizeLimit: 128, maximumBlock: 256)
        for i in 0..<500 {
            var one: [UInt8] = []
            HPACK.appendLiteral(name: "k\(i % 7)", value: String(repeating: "x", count: i % 23), .indexing, to: &one)
            HPACK.appendIndexed(62, to: &one)
            let fields = try Self.decode(churn, one)
            #expect(fields.count == 2 && fields[0] == fields[1], "\(i): \(fields)")
        }
    }

    // MARK: - The client session against scripted servers

    /// A session fed by hand: what a server sends goes in, what the client would send comes out.
    final class Script {
        let session: HTTP2ClientSession

        init(streams: Int = 1, maximumBody: Int = 1 << 20, expected: Int? = nil, requestBody: Int = 0) throws {
            session = try HTTP2ClientSession(
                .init(
                    streams: streams, path: "/body", authority: "x", maximumBodyLength: maximumBody,
                    expectedBodyLength: expected, requestBodyLength: requestBody))
            session.recordFrom = 0
            session.begin()
            session.sent()
        }

        /// What the client sent (as the driver does, after each `process`), not yet looked at.
        var collected: [UInt8] = []

        func feed(_ bytes: [UInt8], now: UInt64 = 100) throws {
            var at = 0
            repeat {
                let space = session.receiveSpace()
                let n = min(space.count, bytes.count - at)
                if n > 0 {
                    bytes.withUnsafeBytes { space.baseAddress!.copyMemory(from: $0.baseAddress! + at, byteCount: n) }
                }
                session.received(n)
                at += n
                try session.process(now: now)
                repeat {
                    collected += Array(session.pendingSend)
                    session.sent()
                    session.writeBodies()
                } while session.sendCount > 0
            } while at < bytes.count
        }

        /// The client's bytes sent and pending as frames (type, flags, stream, payload), then cleared.
        func sentFrames() -> [(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8])] {
            var bytes = collected
            collected = []
            repeat {
                bytes += Array(session.pendingSend)
                session.sent()
                session.writeBodies()
            } while session.sendCount > 0
            var frames: [(UInt8, UInt8, UInt32, [UInt8])] = []
            var at = bytes.starts(with: HTTP2.preface) ? HTTP2.preface.count : 0
            while at + 9 <= bytes.count {
                let length = Int(bytes[at]) << 16 | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2])
                let stream =
                    UInt32(bytes[at + 5]) << 24 | UInt32(bytes[at + 6]) << 16 | UInt32(bytes[at + 7]) << 8
                    | UInt32(bytes[at + 8])
                frames.append((bytes[at + 3], bytes[at + 4], stream, Array(bytes[at + 9..<at + 9 + length])))
                at += 9 + length
            }
            return frames
        }
    }

    static func frame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        HTTP2.appendFrameHeader(length: payload.count, type: type, flags: flags, stream: stream, to: &out)
        return out + payload
    }

    static let settings = frame(4, 0, 0, HTTP2.settingsPayload([(.maxConcurrentStreams, 100)]))

    static func responseBlock(status: String = "200", length: Int? = nil, extra: [(String, String)] = []) -> [UInt8] {
        var block: [UInt8] = []
        HPACK.appendLiteral(name: "", nameIndex: 8, value: status, .withoutIndexing, to: &block)
        HPACK.appendLiteral(name: "server", nameIndex: 54, value: "test", .indexing, to: &block)
        if let length { HPACK.appendLiteral(name: "", nameIndex: 28, value: "\(length)", .withoutIndexing, to: &block) }
        for (name, value) in extra { HPACK.appendLiteral(name: name, value: value, .withoutIndexing, to: &block) }
        return block
    }

    /// One 4000-byte entry, then 100 references to it: 400 KB decoded from a 4 KiB block.
    static func listBomb() -> [UInt8] {
        var block: [UInt8] = [0x88]
        HPACK.appendLiteral(
            name: "x-big", value: String(repeating: "v", count: 4000), .indexing, huffman: false, to: &block)
        return block + [UInt8](repeating: 0xBE, count: 100)
    }

    /// A regular field, then :status.
    static func fieldThenStatus() -> [UInt8] {
        var block: [UInt8] = []
        HPACK.appendLiteral(name: "x", value: "1", .withoutIndexing, to: &block)
        return block + [0x88]
    }

    /// HEADERS then DATA: a whole answer on `stream`.
    static func answer(_ stream: UInt32, _ body: [UInt8], length: Int? = -1) -> [UInt8] {
        frame(1, 4, stream, responseBlock(length: length == -1 ? body.count : length)) + frame(0, 1, stream, body)
    }

    @Test("16 streams: the requests are well-formed HPACK (indexed after the first), every answer is checked and timed")
    func sixteenStreams() throws {
        let script = try Script(streams: 16)
        try script.feed(Self.settings)
        var frames = script.sentFrames()
        #expect(frames.count == 1 && frames[0].type == 4 && frames[0].flags == 1, "the SETTINGS acknowledged")
        script.session.issue(now: 10)
        frames = script.sentFrames()
        #expect(frames.map(\.stream) == Array(stride(from: UInt32(1), through: 31, by: 2)))
        // What nginx's decoder sees: the same six fields in every request, the first indexing four.
        let server = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 1024)
        for frame in frames {
            #expect(frame.type == 1 && frame.flags == 5)
            #expect(
                try Self.decode(server, frame.payload) == [
                    ":method: GET", ":scheme: http", ":path: /body", ":authority: x",
                    "user-agent: podbench/\(PodBenchVersion.version)", "accept: */*",
                ])
        }
        #expect(server.count == 4 && frames[1].payload.count < 10, "\(frames[1].payload)")
        let body = Array("0123456789".utf8)
        // Answers out of order, DATA split in pieces, one with padding and trailers.
        var bytes: [UInt8] = []
        for stream in stride(from: UInt32(31), through: 3, by: -2) { bytes += Self.answer(stream, body) }
        bytes += Self.frame(1, 4 | 8, 1, [3] + Self.responseBlock(length: 10) + [0, 0, 0])
        bytes += Self.frame(0, 8, 1, [2] + body[0..<4] + [0, 0]) + Self.frame(0, 0, 1, Array(body[4...]))
        var trailer: [UInt8] = []
        HPACK.appendLiteral(name: "x-trailer", value: "1", .withoutIndexing, to: &trailer)
        bytes += Self.frame(1, 5, 1, trailer)
        try script.feed(bytes, now: 50)
        #expect(script.session.completed == 16 && script.session.recorded == 16 && script.session.active == 0)
        #expect(script.session.expectedLength == 10 && (40...41).contains(script.session.histogram.max))
        script.session.issue(now: 60)
        #expect(script.sentFrames().map(\.stream).first == 33)
    }

    @Test(
        "request bodies: POST with content-length, DATA within the server's stream and connection windows and frame size"
    )
    func requestBodyFlowControl() throws {
        let script = try Script(streams: 2, requestBody: 5000)
        // Stream windows of 1000 bytes.
        try script.feed(
            Self.frame(4, 0, 0, HTTP2.settingsPayload([(.maxConcurrentStreams, 100), (.initialWindowSize, 1000)])))
        _ = script.sentFrames()
        script.session.issue(now: 10, count: 1)
        var frames = script.sentFrames()
        let head = try #require(frames.first)
        #expect(head.type == 1 && head.flags == 4, "HEADERS without END_STREAM")
        let server = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 1024)
        #expect(
            try Self.decode(server, head.payload) == [
                ":method: POST", ":scheme: http", ":path: /body", ":authority: x",
                "user-agent: podbench/\(PodBenchVersion.version)", "accept: */*", "content-length: 5000",
            ])
        var body: [UInt8] = frames.dropFirst().filter { $0.type == 0 && $0.stream == 1 }.flatMap(\.payload)
        #expect(body.count == 1000, "the stream's window")
        // 1500 more; then SETTINGS takes the window to 0 - 1000 = -1000 (RFC 9113 6.9.2): a WINDOW_UPDATE
        // of 1000 sends nothing; 10,000 more sends the rest, the last frame ending the stream.
        try script.feed(Self.frame(8, 0, 1, HTTP2.bigEndian(1500)))
        body += script.sentFrames().filter { $0.type == 0 }.flatMap(\.payload)
        #expect(body.count == 2500)
        try script.feed(
            Self.frame(4, 0, 0, HTTP2.settingsPayload([(.initialWindowSize, 0)]))
                + Self.frame(8, 0, 1, HTTP2.bigEndian(1000)))
        #expect(script.sentFrames().filter { $0.type == 0 }.isEmpty)
        try script.feed(Self.frame(8, 0, 1, HTTP2.bigEndian(10_000)))
        frames = script.sentFrames().filter { $0.type == 0 }
        body += frames.flatMap(\.payload)
        #expect(body.count == 5000 && frames.last?.flags == 1 && frames.dropLast().allSatisfy { $0.flags == 0 })
        // podbench's pattern: the first 5000 bytes of the server's body.
        let pattern = HTTP2ServerSession.makeBody(length: 5000, seed: HTTP2ServerSession.Configuration.bodySeed)
        defer { pattern.deallocate() }
        #expect(body == Array(pattern.prefix(5000)))
        // Answered: the stream completes.
        try script.feed(Self.answer(1, [1, 2, 3]))
        #expect(script.session.completed == 1 && script.session.active == 0)

        // The connection's window (65,535 until a WINDOW_UPDATE on stream 0) bounds both streams;
        // frames never pass 16 KiB whatever SETTINGS_MAX_FRAME_SIZE says.
        let wide = try Script(streams: 2, requestBody: 50_000)
        try wide.feed(
            Self.frame(
                4, 0, 0,
                HTTP2.settingsPayload([
                    (.maxConcurrentStreams, 100), (.initialWindowSize, 1_000_000), (.maxFrameSize, 1 << 20),
                ])))
        _ = wide.sentFrames()
        wide.session.issue(now: 10)
        var data = wide.sentFrames().filter { $0.type == 0 }
        #expect(data.reduce(0) { $0 + $1.payload.count } == 65_535)
        #expect(data.allSatisfy { $0.payload.count <= 16_384 } && Set(data.map(\.stream)) == [1, 3])
        try wide.feed(Self.frame(8, 0, 0, HTTP2.bigEndian(1_000_000)))
        data = wide.sentFrames().filter { $0.type == 0 }
        #expect(data.reduce(0) { $0 + $1.payload.count } == 100_000 - 65_535)
        #expect(data.filter { $0.flags == 1 }.count == 2)

        // Streams take turns, a frame each: the first 64 KiB of three bodies go 1, 3, 5, 1.
        let three = try Script(streams: 3, requestBody: 100_000)
        try three.feed(
            Self.frame(
                4, 0, 0, HTTP2.settingsPayload([(.maxConcurrentStreams, 100), (.initialWindowSize, 1_000_000)]))
                + Self.frame(8, 0, 0, HTTP2.bigEndian(1_000_000)))
        _ = three.sentFrames()
        three.session.issue(now: 1)
        let order = three.session.pendingSend.count > 0 ? three.sentFrames().filter { $0.type == 0 }.map(\.stream) : []
        #expect(Array(order.prefix(9)) == [1, 3, 5, 1, 3, 5, 1, 3, 5], "\(order)")

        // An answer before the body was sent, and windows pushed over 2^31-1, are the server's fault.
        let early = try Script(streams: 1, requestBody: 100_000)
        try early.feed(Self.settings)
        early.session.issue(now: 1)
        #expect(throws: PodBenchError.self) { try early.feed(Self.answer(1, [1])) }
        let over = try Script(streams: 1, requestBody: 100_000)
        try over.feed(Self.settings)
        over.session.issue(now: 1)
        #expect(throws: PodBenchError.self) { try over.feed(Self.frame(8, 0, 1, HTTP2.bigEndian(0x7FFF_FFFF))) }
        let overConnection = try Script(streams: 1, requestBody: 10)
        try overConnection.feed(Self.settings)
        #expect(throws: PodBenchError.self) {
            try overConnection.feed(Self.frame(8, 0, 0, HTTP2.bigEndian(0x7FFF_FFFF)))
        }
    }

    @Test(
        "the end of a trial: its count goes out, the server's comes back; a reset or GOAWAY of it is the server's fault"
    )
    func endOfTrial() throws {
        let script = try Script(streams: 2)
        try script.feed(Self.settings)
        _ = script.sentFrames()
        #expect(script.session.canEnd)
        script.session.issueEnd(count: 1234, now: 5)
        let frames = script.sentFrames()
        #expect(frames.count == 1 && frames[0].type == 1 && frames[0].flags == 5 && frames[0].stream == 1)
        let server = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 1024)
        #expect(
            try Self.decode(server, frames[0].payload) == [
                ":method: POST", ":scheme: http", ":path: /podbench/end", ":authority: x",
                "user-agent: podbench/\(PodBenchVersion.version)", "content-length: 0",
                "x-podbench-request: 00000000000004d2",
            ])
        try script.feed(
            Self.frame(1, 5, 1, Self.responseBlock(length: 0, extra: [("x-podbench-request", "00000000000004d1")])))
        #expect(script.session.endAnswer == 1233 && script.session.active == 0 && script.session.completed == 0)
        // No count, or a body: not podbench's server.
        script.session.issueEnd(count: 1, now: 6)
        #expect(throws: PodBenchError.self) { try script.feed(Self.frame(1, 5, 3, Self.responseBlock(length: 0))) }
        // Refused, or left out by a GOAWAY: the end would never be answered.
        let refused = try Script()
        try refused.feed(Self.settings)
        refused.session.issueEnd(count: 1, now: 1)
        #expect {
            try refused.feed(Self.frame(3, 0, 1, HTTP2.bigEndian(7)))
        } throws: { ($0 as? PodBenchError)?.message.contains("reset the end of the trial") == true }
        let left = try Script()
        try left.feed(Self.settings)
        left.session.issueEnd(count: 1, now: 1)
        #expect {
            try left.feed(Self.frame(7, 0, 0, HTTP2.bigEndian(0) + HTTP2.bigEndian(0)))
        } throws: { ($0 as? PodBenchError)?.message.contains("leaves out the end of the trial") == true }
    }

    @Test("a server that floods PINGs and SETTINGS while reading nothing cannot overrun the send buffer")
    func acknowledgementFlood() throws {
        // Bodies pending (the budget full), then frames that each draw an answer, fed while the
        // driver may take input and never sent: what waits stays within the buffer.
        let session = try HTTP2ClientSession(
            .init(streams: 4, path: "/x", authority: "x", maximumBodyLength: 1 << 20, requestBodyLength: 1 << 20))
        session.begin()
        var input = Self.settings
        session.issue(now: 1)
        var rounds = 0
        var pattern = 0
        // Small rounds up to just below the bound, then a whole receive buffer of them at once.
        let bound = session.send.count - HTTP2ClientSession.receiveCapacity - HTTP2ClientSession.answerMargin
        var full = false
        while session.mayProcess && rounds < 10_000 {
            rounds += 1
            full = session.sendCount + 2000 >= bound
            let whole = session.receiveSpace()
            let space = full ? whole : UnsafeMutableRawBufferPointer(rebasing: whole[..<1000])
            var n = 0
            if !input.isEmpty {
                n = min(input.count, space.count)
                input.withUnsafeBytes { space.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
                input.removeFirst(n)
            }
            // Whole PINGs (17-byte answers) and empty SETTINGS (9-byte answers) in turn, as many as fit.
            while space.count - n >= 17 {
                let frame = pattern % 3 == 2 ? Self.frame(4, 0, 0, []) : Self.frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8])
                pattern += 1
                guard space.count - n >= frame.count else { break }
                frame.withUnsafeBytes {
                    (space.baseAddress! + n).copyMemory(from: $0.baseAddress!, byteCount: frame.count)
                }
                n += frame.count
            }
            session.received(n)
            try session.process(now: 2)
            session.issue(now: 2)
            session.writeBodies()
        }
        #expect(!session.mayProcess && full && rounds >= 2, "\(rounds) rounds, \(session.sendCount) bytes waiting")
        #expect(session.sendCount <= session.send.count)
    }

    @Test("PING is answered, a graceful GOAWAY frees the streams above its last one, a small table gets literals")
    func controlFrames() throws {
        let script = try Script(streams: 4)
        try script.feed(Self.settings + Self.frame(4, 0, 0, HTTP2.settingsPayload([(.headerTableSize, 0)])))
        _ = script.sentFrames()
        script.session.issue(now: 1)
        let server = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 1024)
        for frame in script.sentFrames() { _ = try Self.decode(server, frame.payload) }
        #expect(server.count == 0 && server.maximumSize == 0, "a size update to 0, nothing indexed")
        try script.feed(Self.frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]))
        let pong = script.sentFrames()
        #expect(
            pong.count == 1 && pong[0].type == 6 && pong[0].flags == 1 && pong[0].payload == [1, 2, 3, 4, 5, 6, 7, 8])
        try script.feed(
            Self.frame(7, 0, 0, HTTP2.bigEndian(3) + HTTP2.bigEndian(0)) + Self.answer(1, [1]) + Self.answer(3, [1]))
        #expect(script.session.goAway == 3 && script.session.active == 0 && script.session.unprocessed == 2)
        script.session.issue(now: 2)
        #expect(script.sentFrames().isEmpty, "no request after GOAWAY")
    }

    @Test("the server's table size is followed: a size update leads the next block, indexing only where it fits")
    func tableSizes() throws {
        for (size, indexed) in [(1000, true), (100, false), (4096, true), (70_000, true)] {
            let script = try Script(streams: 2)
            try script.feed(
                Self.settings + Self.frame(4, 0, 0, HTTP2.settingsPayload([(.headerTableSize, UInt32(size))])))
            _ = script.sentFrames()
            script.session.issue(now: 1)
            let server = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 1024)
            let frames = script.sentFrames()
            for frame in frames { #expect(try Self.decode(server, frame.payload).count == 6) }
            #expect(server.maximumSize == min(size, 4096), "\(size)")
            #expect((server.count == 4) == indexed, "\(size): \(server.count) entries")
            #expect((frames[0].payload[0] & 0xE0 == 0x20) == (size < 4096), "\(size): \(frames[0].payload[0])")
            // Shrinking below the entries after the first requests: an update, then literals.
            if indexed {
                try script.feed(
                    Self.frame(4, 0, 0, HTTP2.settingsPayload([(.headerTableSize, 50)])) + Self.answer(1, [1]))
                _ = script.sentFrames()
                script.session.issue(now: 2)
                for frame in script.sentFrames() { #expect(try Self.decode(server, frame.payload).count == 6) }
                #expect(server.maximumSize == 50 && server.size <= 50)
            }
        }
    }

    @Test("REFUSED_STREAM frees the request to go again (the open loop's keeps its intended time)")
    func refused() throws {
        let script = try Script(streams: 2)
        try script.feed(Self.settings)
        script.session.issue(now: 1, intended: 0)
        _ = script.sentFrames()
        try script.feed(Self.frame(3, 0, 3, HTTP2.bigEndian(7)))
        #expect(script.session.active == 1 && script.session.unprocessed == 1 && script.session.requeuedCount == 1)
        script.session.issueRequeued(now: 2)
        #expect(script.sentFrames().map(\.stream) == [5] && script.session.requeuedCount == 0)
        // Timed from its intended send (0): answered at 100, a round trip of 100.
        try script.feed(Self.answer(5, [1]), now: 100)
        #expect(script.session.histogram.max >= 100)
    }

    @Test("two table size changes before a request: the smallest, then the last (RFC 7541 4.2)")
    func twoSizeUpdates() throws {
        let script = try Script()
        try script.feed(
            Self.settings + Self.frame(4, 0, 0, HTTP2.settingsPayload([(.headerTableSize, 0)]))
                + Self.frame(4, 0, 0, HTTP2.settingsPayload([(.headerTableSize, 4096)])))
        _ = script.sentFrames()
        script.session.issue(now: 1)
        let frame = try #require(script.sentFrames().first)
        #expect(Array(frame.payload.prefix(4)) == [0x20, 0x3F, 0xE1, 0x1F], "\(frame.payload.prefix(4))")
        let server = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 1024)
        #expect(try Self.decode(server, frame.payload).count == 6 && server.maximumSize == 4096)
        #expect(HTTP2ClientSession.sizeUpdate(30) == (0x3E, 1) && HTTP2ClientSession.sizeUpdate(158) == (0x7F3F, 2))
        #expect(HTTP2ClientSession.sizeUpdate(159) == (0x01_803F, 3))
    }

    @Test("a megabyte of PINGs is answered, each, without the client's send buffer overflowing")
    func pingFlood() throws {
        let script = try Script()
        try script.feed(Self.settings)
        _ = script.sentFrames()
        let ping = Self.frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8])
        let count = (1 << 20) / ping.count
        try script.feed(Array([[UInt8]](repeating: ping, count: count).joined()))
        let pongs = script.sentFrames()
        #expect(pongs.count == count && pongs.allSatisfy { $0.type == 6 && $0.flags == 1 })
    }

    @Test("a hostile or broken server's frames end the run with the request or frame named, never a crash")
    func hostileServer() throws {
        let ok = Self.responseBlock(length: 3)
        var huge: [UInt8] = []
        HTTP2.appendFrameHeader(length: 16_385, type: 0, flags: 0, stream: 1, to: &huge)
        let cases: [(String, [UInt8], String)] = [
            (
                "404", Self.frame(1, 5, 1, Self.responseBlock(status: "404")),
                "request 0 (GET /body): the answer is :status 404"
            ),
            ("no status", Self.frame(1, 5, 1, [0x5C, 0x01, 0x30]), "the response has no :status"),
            ("frame too big", huge + [UInt8](repeating: 0, count: 16_385), "over the 16384 this client allows"),
            ("DATA unknown stream", Self.frame(0, 1, 5, [1]), "stream 5, which this client has not opened"),
            ("DATA before HEADERS", Self.frame(0, 1, 1, [1]), "DATA came before the response's HEADERS"),
            ("DATA on 0", Self.frame(0, 1, 0, [1]), "DATA on stream 0"),
            ("HEADERS on even stream", Self.frame(1, 5, 2, ok), "even stream"),
            (
                "length mismatch", Self.frame(1, 4, 1, ok) + Self.frame(0, 1, 1, [1, 2]),
                "the body has 2 bytes, its content-length says 3"
            ),
            (
                "body over length", Self.frame(1, 4, 1, ok) + Self.frame(0, 0, 1, [1, 2, 3, 4]),
                "longer than its content-length"
            ),
            ("bad padding", Self.frame(0, 8, 1, [9, 1]), "padding is longer than the frame"),
            ("reset", Self.frame(3, 0, 1, HTTP2.bigEndian(2)), "the server reset the stream (INTERNAL_ERROR)"),
            (
                "goaway error",
                Self.frame(7, 0, 0, HTTP2.bigEndian(0) + HTTP2.bigEndian(11) + Array("calm\u{1B}[31m down".utf8)),
                "GOAWAY ENHANCE_YOUR_CALM: 'calm"
            ),
            ("push", Self.frame(5, 4, 1, HTTP2.bigEndian(2) + ok), "PUSH_PROMISE"),
            (
                "continuation expected", Self.frame(1, 0, 1, ok) + Self.frame(6, 0, 0, [UInt8](repeating: 0, count: 8)),
                "where the CONTINUATION of stream 1"
            ),
            ("stray continuation", Self.frame(9, 4, 1, ok), "after a header block had ended"),
            (
                "uppercase name", Self.frame(1, 5, 1, Self.responseBlock(extra: [("X-Up", "1")])),
                "not a lowercase token"
            ),
            (
                "connection field", Self.frame(1, 5, 1, Self.responseBlock(extra: [("connection", "close")])),
                "connection-specific"
            ),
            ("CR in value", Self.frame(1, 5, 1, Self.responseBlock(extra: [("x-a", "1\r\nx: 2")])), "NUL, CR or LF"),
            ("two statuses", Self.frame(1, 5, 1, [0x88, 0x88]), ":status twice"),
            ("request pseudo", Self.frame(1, 5, 1, [0x88, 0x84]), "pseudo-header ':path'"),
            (
                "pseudo after field", Self.frame(1, 5, 1, Self.fieldThenStatus()),
                "pseudo-header comes after a regular field"
            ),
            ("status not digits", Self.frame(1, 5, 1, [0x08, 0x03] + Array("2x0".utf8)), "not 3 digits"),
            ("bad content-length", Self.frame(1, 5, 1, [0x88, 0x0F, 0x0D, 0x02] + Array("-1".utf8)), "not a length"),
            ("window 0", Self.frame(8, 0, 0, HTTP2.bigEndian(0)), "WINDOW_UPDATE of 0"),
            ("settings on stream", Self.frame(4, 0, 1, []), "SETTINGS on stream 1"),
            ("settings length", Self.frame(4, 0, 0, [0, 1, 0]), "not a multiple of 6"),
            (
                "frame size setting", Self.frame(4, 0, 0, HTTP2.settingsPayload([(.maxFrameSize, 100)])),
                "SETTINGS_MAX_FRAME_SIZE is 100"
            ),
            ("ping length", Self.frame(6, 0, 0, [1]), "PING of 1 bytes"),
            (
                "push enabled", Self.frame(4, 0, 0, HTTP2.settingsPayload([(.enablePush, 1)])),
                "SETTINGS_ENABLE_PUSH is 1"
            ),
            ("window on unopened stream", Self.frame(8, 0, 9, HTTP2.bigEndian(1)), "WINDOW_UPDATE on stream 9"),
            ("reset on even stream", Self.frame(3, 0, 2, HTTP2.bigEndian(0)), "even stream"),
            ("header list bomb", Self.frame(1, 5, 1, Self.listBomb()), "header list is larger than 256 KiB"),
            (
                "1xx ends stream", Self.frame(1, 5, 1, [0x08, 0x03] + Array("103".utf8)),
                "informational response (103) ends the stream"
            ),
            (
                "trailers without end",
                Self.frame(1, 4, 1, ok) + Self.frame(0, 0, 1, [1, 2, 3]) + Self.frame(1, 4, 1, []),
                "does not end the stream"
            ),
            (
                "bad HPACK", Self.frame(1, 5, 1, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
                "request 0 (GET, stream 1): an HPACK block carries an integer over"
            ),
            (
                "over max body",
                Self.frame(1, 4, 1, Self.responseBlock()) + Self.frame(0, 1, 1, [UInt8](repeating: 1, count: 200)),
                "longer than --max-body"
            ),
        ]
        for (name, bytes, phrase) in cases {
            let script = try Script(streams: 1, maximumBody: 100)
            try script.feed(Self.settings)
            script.session.issue(now: 1)
            _ = script.sentFrames()
            do {
                try script.feed(bytes)
                Issue.record("\(name): no error")
            } catch let error as PodBenchError {
                #expect(error.message.contains(phrase), "\(name): \(error.message)")
                #expect(!error.message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(name)")
            }
        }
        // Before SETTINGS: anything else, or an HTTP/1 answer.
        for (bytes, phrase) in [
            (Self.frame(6, 0, 0, [UInt8](repeating: 0, count: 8)), "first frame is PING, not SETTINGS"),
            (Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8), "answered in HTTP/1"),
        ] {
            do {
                try Script().feed(bytes)
                Issue.record("\(phrase): no error")
            } catch let error as PodBenchError {
                #expect(error.message.contains(phrase), "\(error.message)")
            }
        }
        // A second answer with another body than the first.
        let script = try Script()
        try script.feed(Self.settings)
        script.session.issue(now: 1)
        try script.feed(Self.answer(1, [1, 2, 3]))
        script.session.issue(now: 2)
        do {
            try script.feed(Self.answer(3, [1, 2, 4]))
            Issue.record("another body passed")
        } catch let error as PodBenchError {
            #expect(
                error.code == .integrityFailure && error.message.contains("request 1 has another body"),
                "\(error.message)")
        }
    }

    // MARK: - http2-load's run against a socket server written here

    /// Reads exactly `count` bytes.
    static func read(_ channel: SocketChannel, _ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var at = 0
        while at < count {
            at += try out.withUnsafeMutableBytes {
                try channel.receiveSome(into: UnsafeMutableRawBufferPointer(rebasing: $0[at...]))
            }
        }
        return out
    }

    /// The next frame the client sends: type, stream.
    static func readFrame(_ channel: SocketChannel) throws -> (type: UInt8, stream: UInt32) {
        let header = try read(channel, 9)
        let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
        _ = try read(channel, length)
        return (
            header[3],
            UInt32(header[5] & 0x7F) << 24 | UInt32(header[6]) << 16 | UInt32(header[7]) << 8 | UInt32(header[8])
        )
    }

    /// A TCP server that takes one connection, reads the preface, sends SETTINGS, and then calls
    /// `serve` with the channel.
    static func withServer(
        _ serve: @escaping @Sendable (SocketChannel) throws -> Void, client: (SocketAddress) throws -> Void
    ) throws {
        let listener = try SocketTransport.listen(
            kind: .tcp, options: TransportOptions(), sharedDirectory: "", name: "",
            fixed: .ipv4(host: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = Background {
            let channel = try listener.accept(timeoutNanoseconds: 10_000_000_000)
            defer { channel.close() }
            #expect(try read(channel, HTTP2.preface.count) == HTTP2.preface)
            try settings.withUnsafeBytes { try channel.sendAll($0) }
            try serve(channel)
        }
        try client(listener.address)
        try? server.wait()
    }

    @Test("http2-load against a socket server: 4 streams answered, counted, the connection ended politely")
    func runAgainstServer() throws {
        try Self.withServer({ channel in
            while true {
                let frame = try Self.readFrame(channel)
                if frame.type == 7 { return }  // the client's GOAWAY: done
                if frame.type == 1 {
                    try Self.answer(frame.stream, [7, 7, 7]).withUnsafeBytes { try channel.sendAll($0) }
                }
            }
        }) { address in
            let result = try HTTP2Load.run(
                try HTTP2Load.Plan(
                    target: address, path: "/", streams: 4, durationNanoseconds: 1_000_000_000,
                    warmupNanoseconds: 20_000_000, expectedBodyLength: 3))
            #expect(result.requests > 0 && result.streams == 4 && result.bodyLength == 3 && result.reconnects == 0)
            #expect(result.latency.totalCount == result.requests)
        }
    }

    @Test(
        "a server that keeps the connection busy with PINGs and never answers ends the run at --timeout, the request named"
    )
    func trickle() throws {
        try Self.withServer({ channel in
            _ = try Self.readFrame(channel)  // the SETTINGS
            // PINGs every 50 ms until the client leaves (at most 10 s).
            for _ in 0..<200 {
                do {
                    try Self.frame(6, 0, 0, [UInt8](repeating: 1, count: 8)).withUnsafeBytes { try channel.sendAll($0) }
                } catch { return }
                usleep(50_000)
            }
        }) { address in
            do {
                _ = try HTTP2Load.run(
                    try HTTP2Load.Plan(
                        target: address, path: "/", streams: 2, durationNanoseconds: 5_000_000_000,
                        warmupNanoseconds: 0,
                        timeoutNanoseconds: 300_000_000))
                Issue.record("the run did not end at its timeout")
            } catch let error as PodBenchError {
                #expect(error.code == .timeout)
                #expect(error.message.hasPrefix("request 0 took longer than --timeout (300ms)"), "\(error.message)")
            }
        }
    }

    @Test("a server that closes with requests open is named with the oldest request")
    func closes() throws {
        try Self.withServer({ channel in
            while try Self.readFrame(channel).type != 1 {}
        }) { address in
            do {
                _ = try HTTP2Load.run(
                    try HTTP2Load.Plan(
                        target: address, path: "/", streams: 1, durationNanoseconds: 5_000_000_000, warmupNanoseconds: 0
                    ))
                Issue.record("no error")
            } catch let error as PodBenchError {
                #expect(error.code == .peerClosed)
                #expect(
                    error.message.contains("with 1 requests unanswered (the oldest: request 0)"), "\(error.message)")
            }
        }
    }

    @Test("a server's graceful GOAWAY ends the connection after its last stream; the run goes on over a new one")
    func goAwayReconnects() throws {
        let listener = try SocketTransport.listen(
            kind: .tcp, options: TransportOptions(), sharedDirectory: "", name: "",
            fixed: .ipv4(host: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = Background {
            for connection in 0..<3 {
                let channel = try listener.accept(timeoutNanoseconds: 10_000_000_000)
                defer { channel.close() }
                _ = try Self.read(channel, HTTP2.preface.count)
                try Self.settings.withUnsafeBytes { try channel.sendAll($0) }
                var answered = 0
                while true {
                    let frame: (type: UInt8, stream: UInt32)
                    do { frame = try Self.readFrame(channel) } catch { break }  // the client closed
                    if frame.type == 7 { break }
                    guard frame.type == 1 else { continue }
                    var bytes = Self.answer(frame.stream, [1, 2, 3, 4])
                    answered += 1
                    // The first two connections say goodbye after their second answer, as nginx does
                    // at keepalive_requests; the third serves until the run ends.
                    if connection < 2 && answered == 2 {
                        // And closes at once, as nginx does: the client must not take that for an error.
                        bytes += Self.frame(7, 0, 0, HTTP2.bigEndian(frame.stream) + HTTP2.bigEndian(0))
                        try bytes.withUnsafeBytes { try channel.sendAll($0) }
                        break
                    }
                    try bytes.withUnsafeBytes { try channel.sendAll($0) }
                }
            }
        }
        let result = try HTTP2Load.run(
            try HTTP2Load.Plan(
                target: listener.address, path: "/", streams: 1, durationNanoseconds: 3_000_000_000,
                warmupNanoseconds: 0, expectedBodyLength: 4))
        #expect(
            result.reconnects == 2 && result.requests >= 4,
            "\(result.reconnects) reconnects, \(result.requests) requests")
        try server.wait()
    }

    @Test("the open loop sends on its schedule, never ahead of it, and counts the waits a slow server causes")
    func openLoop() throws {
        // An immediate server: at 2000/s for 1 s no more than the schedule's 2000 (+ the 4 in flight
        // as the phase begins) are counted, whatever the machine's speed.
        try Self.withServer({ channel in
            while true {
                let frame = try Self.readFrame(channel)
                if frame.type == 7 { return }
                if frame.type == 1 { try Self.answer(frame.stream, [7]).withUnsafeBytes { try channel.sendAll($0) } }
            }
        }) { address in
            let result = try HTTP2Load.run(
                try HTTP2Load.Plan(
                    target: address, path: "/", streams: 4, durationNanoseconds: 1_000_000_000, warmupNanoseconds: 0,
                    requestsPerSecond: 2000))
            #expect(result.requests > 0 && result.requests <= 2004, "\(result.requests)")
        }
        // A server that takes 20 ms an answer, one stream, 1000 requests a second asked: the
        // requests queue on the clock, and the later ones' latency counts their wait. At most
        // 15 answers fit in 300 ms; the k-th is due at k ms and ends no sooner than 20(k+1) ms.
        try Self.withServer({ channel in
            while true {
                let frame = try Self.readFrame(channel)
                if frame.type == 7 { return }
                if frame.type == 1 {
                    usleep(20_000)
                    try Self.answer(frame.stream, [7]).withUnsafeBytes { try channel.sendAll($0) }
                }
            }
        }) { address in
            let result = try HTTP2Load.run(
                try HTTP2Load.Plan(
                    target: address, path: "/", streams: 1, durationNanoseconds: 300_000_000, warmupNanoseconds: 0,
                    requestsPerSecond: 1000))
            #expect(result.requests >= 1 && result.requests <= 15, "\(result.requests)")
            // Request k (k >= 1) waited at least 19k ms: the slowest counted is far above 20 ms.
            #expect(result.latency.max >= UInt64(19_000_000 * (result.requests - 1)), "\(result.latency.max)")
        }
    }
}
