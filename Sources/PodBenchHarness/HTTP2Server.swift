import Glibc
import PodBenchCore

/// The server side of one HTTP/2 connection (h2c with prior knowledge), as `podbench http-serve
/// --protocol h2c` runs it for h2load and podbench's own client: every request, whatever its
/// method and path, is answered `:status 200` with a fixed body of `bodyLength` bytes (HEAD: the
/// head alone), once the request's stream has ended (a request body is read, flow-controlled and
/// dropped) — but `POST /podbench/echo`, podbench's workload, whose body (at most `bodyLength`
/// bytes) must be podbench's pattern and is answered with a body of its length (a body that
/// differs resets its stream PROTOCOL_ERROR, a longer one CANCEL; both counted). Flow control is honoured both ways: the client's SETTINGS_INITIAL_WINDOW_SIZE,
/// SETTINGS_MAX_FRAME_SIZE and WINDOW_UPDATEs bound every DATA frame, and a body whose window is
/// shut waits in its stream until the client opens it. A state machine with no socket, as the
/// client: the driver puts what arrived into `receiveSpace()`, calls `process()`, then `produce()`
/// and sends `pendingSend` while `produce()` has more. Anything RFC 9113 calls a connection error
/// throws `.protocolViolation` naming the frame (`errorCode` then holds the code a GOAWAY says,
/// `goAwayFrame()` its bytes); a stream error resets that stream alone. Buffers are allocated once.
public final class HTTP2ServerSession: HTTP2Endpoint {
    public struct Configuration: Sendable {
        public var bodyLength: Int
        /// SETTINGS_MAX_CONCURRENT_STREAMS: a stream over it is refused (REFUSED_STREAM).
        public var maximumStreams: Int
        public var seed: UInt64

        /// The pattern's seed podbench's bodies use, both ways: the client's request bodies are the
        /// first bytes of the server's body, which the server checks at `/podbench/echo`.
        public static let bodySeed: UInt64 = 0x504F_4442_454E_4348

        public init(bodyLength: Int, maximumStreams: Int = 128, seed: UInt64 = bodySeed) {
            self.bodyLength = bodyLength
            self.maximumStreams = maximumStreams
            self.seed = seed
        }
    }

    static let receiveCapacity = 256 << 10
    /// What the client may send before a WINDOW_UPDATE, per stream and for the connection (what
    /// this server says in SETTINGS_INITIAL_WINDOW_SIZE and its first WINDOW_UPDATE).
    public static let receiveWindow = 1 << 20
    /// The largest header block taken (HEADERS and CONTINUATIONs joined) and the largest decoded list.
    public static let maximumHeaderBlock = 64 << 10
    public static let maximumHeaderList = 256 << 10
    /// What `pendingSend` may hold: DATA stops filling it there.
    static let sendCapacity = 256 << 10

    struct Slot {
        var stream: UInt32 = 0
        /// 0 free, 1 receiving the request, 2 answering.
        var state: UInt8 = 0
        var headSent = false
        var head = false
        /// `POST /podbench/echo`: the request body is checked and its length answered.
        var echo = false
        var received = 0
        /// `POST /podbench/end`: held (state 3) until the driver answers it (`answerEnd`).
        var end = false
        var endCount: UInt64 = 0
        /// The echo answer to spoil (`corruptEcho`): one byte of its first DATA frame flipped.
        var corrupt = false
        /// Body bytes still to send.
        var remaining = 0
        /// What the client lets this server send on the stream (may go below 0 when the client
        /// lowers SETTINGS_INITIAL_WINDOW_SIZE).
        var sendWindow = 0
        /// What the client may still send on the stream before this server's next WINDOW_UPDATE.
        var receiveWindow = 0
    }

    public let configuration: Configuration
    let decoder: HPACK.Decoder
    let block: UnsafeMutableRawBufferPointer
    var blockCount = 0
    var continuing: UInt32 = 0
    var continuingFlags: UInt8 = 0
    /// A HEADERS frame whose priority named its own stream: reset once its block is decoded.
    var selfDependent: UInt32 = 0
    let body: UnsafeRawBufferPointer
    let ownsBody: Bool
    /// The response's header block (`:status 200`, content-length, server), the same every time.
    let responseBlock: [UInt8]
    let slots: UnsafeMutablePointer<Slot>
    let slotCount: Int
    public private(set) var active = 0
    var prefaceSeen = 0
    var settingsReceived = false
    /// The highest stream the client opened.
    public private(set) var lastStream: UInt32 = 0
    var connectionSendWindow = 65_535
    var connectionReceiveWindow = 65_535
    var peerInitialWindow = 65_535
    var peerMaximumFrame = HTTP2.defaultMaximumFrameSize
    /// Where the next `produce()` starts its round over the answering streams.
    var nextSlot = 0
    /// The code the connection error thrown last carries (for the GOAWAY).
    public private(set) var errorCode: UInt32 = 0
    /// The client sent GOAWAY: no stream above `lastStream` will come.
    public private(set) var clientGoingAway = false
    public private(set) var answered: UInt64 = 0
    public private(set) var refused: UInt64 = 0
    public private(set) var reset: UInt64 = 0
    /// Echo requests whose body was not podbench's pattern, or was longer than `bodyLength`.
    public private(set) var alteredBodies: UInt64 = 0
    public private(set) var oversizedBodies: UInt64 = 0
    /// Echo requests taken whole (their bodies checked), over the connection's life.
    public private(set) var echoed: UInt64 = 0
    /// A test's fault: the echo answer numbered so (by `echoed` when its request ended) has one
    /// byte of its body flipped, so that the client's check must see it.
    public var corruptEcho: UInt64?
    /// The client's count in a `POST /podbench/end` whose stream has ended (nil: none waits):
    /// the driver answers it with `answerEnd`.
    public private(set) var endRequested: UInt64?
    var endSlot = -1
    /// The end answer's head up to the value of its `x-podbench-request` (`appendRequestID` writes it).
    let endHead: [UInt8]
    /// The echo answer's head around its content-length's digits: `:status 200` and the literal's
    /// name (indexed), then `server`.
    let echoHeadPrefix: [UInt8]
    let echoHeadSuffix: [UInt8]

    /// What one session holds: its buffers, HPACK's table and scratch, its slots, and the body unless
    /// it is shared (`http-serve` sizes its connections by it).
    public static func bytesHeld(bodyLength: Int, maximumStreams: Int = 128, sharedBody: Bool) -> Int {
        receiveCapacity + sendCapacity + 4096 + maximumHeaderBlock + 2 * max(maximumHeaderBlock * 8 / 5 + 8, 4096)
            + 2 * 4096 + (4096 / 32 + 1) * 16 + maximumStreams * MemoryLayout<Slot>.stride + 4096
            + (sharedBody ? 0 : bodyLength)
    }

    /// Fills a body of `length` bytes with the pattern `seed` gives (what `sharedBody` takes).
    public static func makeBody(length: Int, seed: UInt64) -> UnsafeMutableRawBufferPointer {
        let body = UnsafeMutableRawBufferPointer.allocate(byteCount: max(length, 1), alignment: 64)
        _ = PayloadTemplate(filling: UnsafeMutableRawBufferPointer(rebasing: body[..<length]), seed: seed)
        return body
    }

    /// - Parameter sharedBody: the body (`makeBody`), read only, kept alive by the caller for the
    ///   session's life: a server's connections share one. Nil: the session makes its own.
    public init(_ configuration: Configuration, sharedBody: UnsafeRawBufferPointer? = nil) throws {
        guard (1...1024).contains(configuration.maximumStreams) else {
            throw PodBenchError(.invalidConfiguration, "streams at once: 1 to 1024")
        }
        guard (0...HTTP1Server.largestBody).contains(configuration.bodyLength) else {
            throw PodBenchError(
                .invalidConfiguration, "--body-size: at most \(ByteSize.format(HTTP1Server.largestBody)) over HTTP/2")
        }
        self.configuration = configuration
        var head: [UInt8] = []
        HPACK.appendIndexed(HPACK.staticIndex(name: ":status", value: "200"), to: &head)
        HPACK.appendLiteral(
            name: "content-length", nameIndex: HPACK.staticIndex(name: "content-length"),
            value: String(configuration.bodyLength), .withoutIndexing, huffman: false, to: &head)
        HPACK.appendLiteral(
            name: "server", nameIndex: HPACK.staticIndex(name: "server"), value: "podbench", .withoutIndexing,
            huffman: false, to: &head)
        responseBlock = head
        // The echo head is the same block with the length's digits written per answer: the
        // encoder's bytes for a one-digit value, split around the value.
        var probe: [UInt8] = []
        HPACK.appendIndexed(HPACK.staticIndex(name: ":status", value: "200"), to: &probe)
        HPACK.appendLiteral(
            name: "content-length", nameIndex: HPACK.staticIndex(name: "content-length"), value: "0", .withoutIndexing,
            huffman: false, to: &probe)
        precondition(probe.last == UInt8(ascii: "0") && probe[probe.count - 2] == 1)
        echoHeadPrefix = Array(probe.dropLast(2))
        var suffix: [UInt8] = []
        HPACK.appendLiteral(
            name: "server", nameIndex: HPACK.staticIndex(name: "server"), value: "podbench", .withoutIndexing,
            huffman: false, to: &suffix)
        echoHeadSuffix = suffix
        var end: [UInt8] = []
        HPACK.appendIndexed(HPACK.staticIndex(name: ":status", value: "200"), to: &end)
        for (name, value) in [("content-length", "0"), ("server", "podbench")] {
            HPACK.appendLiteral(
                name: name, nameIndex: HPACK.staticIndex(name: name), value: value, .withoutIndexing, huffman: false,
                to: &end)
        }
        HPACK.appendLiteral(name: "x-podbench-request", value: "0", .withoutIndexing, huffman: false, to: &end)
        precondition(end.last == UInt8(ascii: "0") && end[end.count - 2] == 1)
        endHead = Array(end.dropLast(2))
        decoder = HPACK.Decoder(sizeLimit: 4096, maximumBlock: Self.maximumHeaderBlock)
        block = .allocate(byteCount: Self.maximumHeaderBlock, alignment: 64)
        if let sharedBody {
            precondition(sharedBody.count >= configuration.bodyLength)
            body = sharedBody
            ownsBody = false
        } else {
            body = UnsafeRawBufferPointer(Self.makeBody(length: configuration.bodyLength, seed: configuration.seed))
            ownsBody = true
        }
        slotCount = configuration.maximumStreams
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: Slot(), count: slotCount)
        // Frames stop being processed once the answers pass sendCapacity; the largest answer to one
        // frame (a PING's 17 bytes, a RST_STREAM and two WINDOW_UPDATEs) fits in the rest.
        super.init(receiveCapacity: Self.receiveCapacity, sendCapacity: Self.sendCapacity + 4096)
        // The server's preface: SETTINGS, then the connection's window opened to receiveWindow.
        var out: [UInt8] = []
        HTTP2.appendFrame(
            type: .settings, stream: 0,
            payload: HTTP2.settingsPayload([
                (.maxConcurrentStreams, UInt32(slotCount)), (.initialWindowSize, UInt32(Self.receiveWindow)),
                (.maxHeaderListSize, UInt32(Self.maximumHeaderList)),
            ]), to: &out)
        HTTP2.appendFrame(
            type: .windowUpdate, stream: 0, payload: HTTP2.bigEndian(UInt32(Self.receiveWindow - 65_535)), to: &out)
        connectionReceiveWindow = Self.receiveWindow
        out.withUnsafeBytes { append($0) }
    }

    deinit {
        block.deallocate()
        if ownsBody { body.deallocate() }
        slots.deinitialize(count: slotCount)
        slots.deallocate()
    }

    // MARK: - The driver's side

    /// Whether whole frames wait unprocessed (the send buffer was full): send, then `process()` again.
    public var backlogged: Bool {
        end - start >= HTTP2.frameHeaderLength && end - start >= HTTP2.frameHeaderLength + frameHeader().length
    }

    /// Whether every stream is answered and nothing waits to be sent (the client may close now).
    public var idle: Bool { active == 0 && sendCount == 0 }

    /// A GOAWAY with `errorCode` and `message` (cleaned to printable ASCII) as its debug data.
    public func goAwayFrame(_ message: String) -> [UInt8] {
        var out: [UInt8] = []
        let debug = message.utf8.prefix(256).map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }
        HTTP2.appendFrame(
            type: .goAway, stream: 0, payload: HTTP2.bigEndian(lastStream) + HTTP2.bigEndian(errorCode) + debug,
            to: &out)
        return out
    }

    /// Writes answers into `pendingSend`: each answering stream's HEADERS, then DATA frames as the
    /// windows (the connection's and the stream's), the client's frame size and the buffer allow,
    /// one frame a stream a round. Returns whether more could be written once `pendingSend` is sent.
    @discardableResult
    public func produce() -> Bool {
        guard active > 0 else { return false }
        let frameLimit = min(peerMaximumFrame, HTTP2.defaultMaximumFrameSize)
        var progress = true
        while progress {
            progress = false
            for k in 0..<slotCount {
                let i = (nextSlot + k) % slotCount
                guard slots[i].state == 2 else { continue }
                let stream = slots[i].stream
                if !slots[i].headSent {
                    guard sendCount + HTTP2.frameHeaderLength + responseBlock.count + 64 <= Self.sendCapacity else {
                        return true
                    }
                    let done = slots[i].remaining == 0
                    if slots[i].echo {
                        appendEchoHead(length: slots[i].remaining, stream: stream, done: done)
                    } else {
                        appendHeader(
                            length: responseBlock.count, type: .headers,
                            flags: HTTP2.Flag.endHeaders | (done ? HTTP2.Flag.endStream : 0), stream: stream)
                        responseBlock.withUnsafeBytes { append($0) }
                    }
                    slots[i].headSent = true
                    progress = true
                    if done {
                        finish(i)
                        continue
                    }
                }
                let room = Self.sendCapacity - sendCount - HTTP2.frameHeaderLength
                guard room > 0 else {
                    nextSlot = i
                    return true
                }
                let chunk = min(slots[i].remaining, frameLimit, connectionSendWindow, slots[i].sendWindow, room)
                guard chunk > 0 else { continue }
                let offset = (slots[i].echo ? slots[i].received : configuration.bodyLength) - slots[i].remaining
                slots[i].remaining -= chunk
                slots[i].sendWindow -= chunk
                connectionSendWindow -= chunk
                let last = slots[i].remaining == 0
                appendHeader(length: chunk, type: .data, flags: last ? HTTP2.Flag.endStream : 0, stream: stream)
                append(UnsafeRawBufferPointer(rebasing: body[offset..<offset + chunk]))
                if slots[i].corrupt {
                    slots[i].corrupt = false
                    send[sendCount - 1] ^= 0xFF
                }
                progress = true
                if last { finish(i) }
            }
        }
        return false
    }

    /// The echo answer's HEADERS: `:status 200`, `content-length: length`, `server`.
    @inline(__always)
    func appendEchoHead(length: Int, stream: UInt32, done: Bool) {
        let value = HTTP2Endpoint.decimalLiteralLength(UInt64(length))
        appendHeader(
            length: echoHeadPrefix.count + value + echoHeadSuffix.count, type: .headers,
            flags: HTTP2.Flag.endHeaders | (done ? HTTP2.Flag.endStream : 0), stream: stream)
        echoHeadPrefix.withUnsafeBytes { append($0) }
        appendDecimal(UInt64(length))
        echoHeadSuffix.withUnsafeBytes { append($0) }
    }

    /// Answers the `POST /podbench/end` that waits (`endRequested`) with `count` in its
    /// `x-podbench-request`: what this side counted, which the client holds against its own.
    public func answerEnd(count: UInt64) {
        guard endRequested != nil, endSlot >= 0, slots[endSlot].state == 3, slots[endSlot].end else { return }
        appendHeader(
            length: endHead.count + HTTP2Endpoint.requestIDLiteralLength, type: .headers,
            flags: HTTP2.Flag.endHeaders | HTTP2.Flag.endStream, stream: slots[endSlot].stream)
        endHead.withUnsafeBytes { append($0) }
        appendRequestID(count)
        release(endSlot)
    }

    func finish(_ slot: Int) {
        release(slot)
        answered &+= 1
    }

    /// Frees a stream's slot, however it ended (answered, reset either way, the end answered): the
    /// one place `active` goes down, so a reset of the held end of a trial forgets it too.
    func release(_ slot: Int) {
        if slot == endSlot {
            endSlot = -1
            endRequested = nil
        }
        slots[slot].state = 0
        active -= 1
    }

    // MARK: - Frames

    @inline(__always)
    func slotIndex(_ stream: UInt32) -> Int? {
        for i in 0..<slotCount where slots[i].state != 0 && slots[i].stream == stream { return i }
        return nil
    }

    /// A connection error: `code` for the GOAWAY, `message` for the log.
    func connectionError(_ code: UInt32, _ message: String) -> PodBenchError {
        errorCode = code
        return PodBenchError(.protocolViolation, message + " (\(HTTP2.errorName(code)))")
    }

    /// A stream error: the stream is reset and forgotten; the connection goes on.
    func streamError(_ stream: UInt32, _ code: UInt32) {
        if let slot = slotIndex(stream) { release(slot) }
        appendReset(stream: stream, code: code)
        reset &+= 1
    }

    /// Handles every whole frame received.
    /// - Throws: `.protocolViolation` for a connection error (`errorCode` says which).
    public func process() throws {
        let base = UnsafeRawPointer(receive.baseAddress!)
        if prefaceSeen < HTTP2.preface.count {
            let count = min(end - start, HTTP2.preface.count - prefaceSeen)
            guard count > 0 else { return }
            let matches = HTTP2.preface.withUnsafeBytes {
                memcmp(base + start, $0.baseAddress! + prefaceSeen, count) == 0
            }
            guard matches else {
                let http1 = prefaceSeen == 0 && count >= 4 && memcmp(base + start, "PRI ", 4) != 0
                throw connectionError(
                    1,
                    http1
                        ? "the client did not start with HTTP/2's preface (an HTTP/1 request? this port speaks h2c with prior knowledge)"
                        : "the client's preface is not HTTP/2's")
            }
            prefaceSeen += count
            start += count
        }
        // Acknowledgements and resets may outgrow what they answer (a 13-byte RST_STREAM for a 9-byte
        // DATA frame): past the send buffer's share the rest waits for `backlogged`'s next call.
        while end - start >= HTTP2.frameHeaderLength && sendCount <= Self.sendCapacity {
            let header = base + start
            let (length, type, flags, stream) = frameHeader()
            guard length <= HTTP2.defaultMaximumFrameSize else {
                throw connectionError(
                    6, "the client sent \(HTTP2.frameName(type)) of \(length) bytes, over this server's 16384")
            }
            guard end - start >= HTTP2.frameHeaderLength + length else { break }
            let payload = UnsafeRawBufferPointer(start: header + HTTP2.frameHeaderLength, count: length)
            start += HTTP2.frameHeaderLength + length
            if !settingsReceived && (type != HTTP2.FrameType.settings.rawValue || flags & HTTP2.Flag.ack != 0) {
                throw connectionError(1, "the client's first frame is \(HTTP2.frameName(type)), not SETTINGS")
            }
            if continuing != 0 && (type != HTTP2.FrameType.continuation.rawValue || stream != continuing) {
                throw connectionError(
                    1,
                    "the client sent \(HTTP2.frameName(type)) on stream \(stream) where the CONTINUATION of stream \(continuing)'s header block must come"
                )
            }
            switch HTTP2.FrameType(rawValue: type) {
            case .data: try data(payload, flags: flags, stream: stream)
            case .headers: try headers(payload, flags: flags, stream: stream)
            case .continuation:
                guard continuing != 0 else {
                    throw connectionError(1, "the client sent CONTINUATION on stream \(stream) outside a header block")
                }
                guard payload.count <= block.count - blockCount else {
                    throw connectionError(
                        11, "a header block is longer than \(Self.maximumHeaderBlock / 1024) KiB")
                }
                if payload.count > 0 {
                    (block.baseAddress! + blockCount).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
                }
                blockCount += payload.count
                if flags & HTTP2.Flag.endHeaders != 0 {
                    continuing = 0
                    try request(
                        UnsafeRawBufferPointer(start: block.baseAddress!, count: blockCount), stream: stream,
                        flags: continuingFlags)
                }
            case .settings: try settings(payload, flags: flags, stream: stream)
            case .ping:
                guard stream == 0 else { throw connectionError(1, "the client sent PING on stream \(stream)") }
                guard length == 8 else { throw connectionError(6, "the client sent a PING of \(length) bytes") }
                if flags & HTTP2.Flag.ack == 0 {
                    appendHeader(length: 8, type: .ping, flags: HTTP2.Flag.ack, stream: 0)
                    append(payload)
                }
            case .goAway:
                guard stream == 0, length >= 8 else {
                    throw connectionError(1, "the client sent a GOAWAY of \(length) bytes on stream \(stream)")
                }
                clientGoingAway = true
            case .resetStream:
                guard stream != 0 else { throw connectionError(1, "the client sent RST_STREAM on stream 0") }
                guard length == 4 else { throw connectionError(6, "the client sent a RST_STREAM of \(length) bytes") }
                guard stream <= lastStream else {
                    throw connectionError(1, "the client reset stream \(stream), which it never opened")
                }
                if let slot = slotIndex(stream) { release(slot) }
            case .windowUpdate: try windowUpdate(payload, stream: stream)
            case .priority:
                guard stream != 0 else { throw connectionError(1, "the client sent PRIORITY on stream 0") }
                let selfDependent = length == 5 && HTTP2.load32(payload.baseAddress!, 0) & 0x7FFF_FFFF == stream
                guard length == 5, !selfDependent else {
                    // A stream error; on a stream not opened yet no RST_STREAM may be sent (RFC 9113
                    // 5.1): the connection's, then.
                    guard stream <= lastStream else {
                        throw connectionError(
                            length == 5 ? 1 : 6,
                            "the client sent a PRIORITY \(length == 5 ? "that depends on its own" : "of \(length) bytes") on stream \(stream), not opened yet"
                        )
                    }
                    streamError(stream, length == 5 ? 1 : 6)
                    break
                }
            case .pushPromise:
                throw connectionError(1, "the client sent PUSH_PROMISE (only a server may)")
            case nil:
                break  // Unknown frame types are ignored (RFC 9113 5.5).
            }
        }
        if start == end {
            start = 0
            end = 0
        }
    }

    func settings(_ payload: UnsafeRawBufferPointer, flags: UInt8, stream: UInt32) throws {
        guard stream == 0 else { throw connectionError(1, "the client sent SETTINGS on stream \(stream)") }
        if flags & HTTP2.Flag.ack != 0 {
            guard payload.isEmpty else {
                throw connectionError(6, "the client acknowledged SETTINGS with \(payload.count) bytes")
            }
            return
        }
        guard payload.count % 6 == 0 else {
            throw connectionError(6, "the client sent SETTINGS of \(payload.count) bytes, not a multiple of 6")
        }
        var offset = 0
        while offset < payload.count {
            let identifier =
                UInt16(payload[offset]) << 8 | UInt16(payload[offset + 1])
            let value = HTTP2.load32(payload.baseAddress!, offset + 2)
            offset += 6
            switch HTTP2.Setting(rawValue: identifier) {
            case .enablePush:
                guard value <= 1 else { throw connectionError(1, "the client's SETTINGS_ENABLE_PUSH is \(value)") }
            case .initialWindowSize:
                guard value <= UInt32(HTTP2.maximumWindow) else {
                    throw connectionError(3, "the client's SETTINGS_INITIAL_WINDOW_SIZE is \(value), over 2^31-1")
                }
                // Every open stream's window moves by the difference (RFC 9113 6.9.2).
                let delta = Int(value) - peerInitialWindow
                for i in 0..<slotCount where slots[i].state != 0 {
                    guard slots[i].sendWindow + delta <= HTTP2.maximumWindow else {
                        throw connectionError(
                            3,
                            "the client's SETTINGS_INITIAL_WINDOW_SIZE takes stream \(slots[i].stream)'s window over 2^31-1"
                        )
                    }
                    slots[i].sendWindow += delta
                }
                peerInitialWindow = Int(value)
            case .maxFrameSize:
                guard value >= 16_384, value <= 16_777_215 else {
                    throw connectionError(
                        1, "the client's SETTINGS_MAX_FRAME_SIZE is \(value), not within 16384…16777215")
                }
                peerMaximumFrame = Int(value)
            case .headerTableSize, .maxConcurrentStreams, .maxHeaderListSize, nil:
                // This server's responses use no dynamic table and no push; the list is 3 fields.
                break
            }
        }
        settingsReceived = true
        appendHeader(length: 0, type: .settings, flags: HTTP2.Flag.ack, stream: 0)
    }

    func windowUpdate(_ payload: UnsafeRawBufferPointer, stream: UInt32) throws {
        guard payload.count == 4 else {
            throw connectionError(6, "the client sent a WINDOW_UPDATE of \(payload.count) bytes")
        }
        let increment = Int(HTTP2.load32(payload.baseAddress!, 0) & 0x7FFF_FFFF)
        if stream == 0 {
            guard increment != 0 else {
                throw connectionError(1, "the client sent a WINDOW_UPDATE of 0 for the connection")
            }
            guard connectionSendWindow + increment <= HTTP2.maximumWindow else {
                throw connectionError(3, "the client's WINDOW_UPDATE takes the connection's window over 2^31-1")
            }
            connectionSendWindow += increment
            return
        }
        guard stream <= lastStream else {
            throw connectionError(1, "the client sent WINDOW_UPDATE on stream \(stream), which it never opened")
        }
        guard let slot = slotIndex(stream) else { return }  // A stream that ended: ignored (RFC 9113 6.9).
        guard increment != 0 else { return streamError(stream, 1) }
        guard slots[slot].sendWindow + increment <= HTTP2.maximumWindow else { return streamError(stream, 3) }
        slots[slot].sendWindow += increment
    }

    /// The part of a DATA or HEADERS payload that is not padding (nil: the padding is too long).
    func unpadded(_ payload: UnsafeRawBufferPointer, flags: UInt8, skip: Int = 0) -> UnsafeRawBufferPointer? {
        var from = skip
        var to = payload.count
        if flags & HTTP2.Flag.padded != 0 {
            guard payload.count >= 1 else { return nil }
            from += 1
            to -= Int(payload[0])
        }
        guard from <= to else { return nil }
        return UnsafeRawBufferPointer(rebasing: payload[from..<to])
    }

    func data(_ payload: UnsafeRawBufferPointer, flags: UInt8, stream: UInt32) throws {
        guard stream != 0 else { throw connectionError(1, "the client sent DATA on stream 0") }
        guard stream <= lastStream else {
            throw connectionError(1, "the client sent DATA on stream \(stream), which it never opened")
        }
        // The whole frame counts against both windows (RFC 9113 6.9.1), whatever becomes of it.
        guard payload.count <= connectionReceiveWindow else {
            throw connectionError(3, "the client sent more DATA than the connection's window allows")
        }
        connectionReceiveWindow -= payload.count
        if connectionReceiveWindow < Self.receiveWindow / 2 {
            appendWindowUpdate(stream: 0, increment: Self.receiveWindow - connectionReceiveWindow)
            connectionReceiveWindow = Self.receiveWindow
        }
        guard let content = unpadded(payload, flags: flags) else {
            throw connectionError(1, "the client sent DATA on stream \(stream) whose padding is longer than the frame")
        }
        guard let slot = slotIndex(stream) else { return }  // An ended stream's: dropped (RFC 9113 5.1).
        // Its request had ended (the answer is going): STREAM_CLOSED.
        guard slots[slot].state == 1 else { return streamError(stream, 5) }
        guard payload.count <= slots[slot].receiveWindow else { return streamError(stream, 3) }
        slots[slot].receiveWindow -= payload.count
        if slots[slot].echo && content.count > 0 {
            // podbench's pattern, byte for byte: the first bytes of this server's own body.
            let at = slots[slot].received
            guard content.count <= configuration.bodyLength - at else {
                oversizedBodies &+= 1
                return streamError(stream, 8)
            }
            guard memcmp(content.baseAddress!, body.baseAddress! + at, content.count) == 0 else {
                alteredBodies &+= 1
                return streamError(stream, 1)
            }
            slots[slot].received = at + content.count
        }
        if flags & HTTP2.Flag.endStream != 0 {
            answer(slot)
        } else if slots[slot].receiveWindow < Self.receiveWindow / 2 {
            appendWindowUpdate(stream: stream, increment: Self.receiveWindow - slots[slot].receiveWindow)
            slots[slot].receiveWindow = Self.receiveWindow
        }
    }

    func headers(_ payload: UnsafeRawBufferPointer, flags: UInt8, stream: UInt32) throws {
        guard stream != 0 else { throw connectionError(1, "the client sent HEADERS on stream 0") }
        guard let fragment = unpadded(payload, flags: flags, skip: flags & HTTP2.Flag.priority != 0 ? 5 : 0) else {
            throw connectionError(
                1, "the client sent HEADERS on stream \(stream) whose padding is longer than the frame")
        }
        selfDependent = 0
        if flags & HTTP2.Flag.priority != 0 {
            let at = flags & HTTP2.Flag.padded != 0 ? 1 : 0
            if HTTP2.load32(payload.baseAddress!, at) & 0x7FFF_FFFF == stream {
                // A stream that depends on itself (RFC 9113 5.3.1): a stream error once its block is decoded.
                selfDependent = stream
            }
        }
        if flags & HTTP2.Flag.endHeaders != 0 { return try request(fragment, stream: stream, flags: flags) }
        if fragment.count > 0 { block.baseAddress!.copyMemory(from: fragment.baseAddress!, byteCount: fragment.count) }
        blockCount = fragment.count
        continuing = stream
        continuingFlags = flags
    }

    /// A whole header block: a new request, or the trailers of one whose body is coming.
    func request(_ fragment: UnsafeRawBufferPointer, stream: UInt32, flags: UInt8) throws {
        let endStream = flags & HTTP2.Flag.endStream != 0
        let existing = slotIndex(stream)
        // A stream that ended (answered, reset or refused here, or skipped): its block is decoded for
        // the table's sake and dropped, as RFC 9113 5.1 lets frames that cross a reset be.
        if existing == nil {
            guard stream & 1 == 1 else {
                throw connectionError(
                    1, "the client sent HEADERS on stream \(stream), an even one (clients open odd streams)")
            }
        }
        let ended = existing == nil && stream <= lastStream
        if existing == nil && !ended { lastStream = stream }
        // The block is decoded whatever becomes of the stream: the table is the connection's.
        var method = 0  // 0 none, 1 HEAD, 2 another, 3 POST
        var echoPath = false
        var endPath = false
        var count: UInt64?
        var path = false
        var scheme = false
        var malformed = false
        var regular = false
        var listSize = 0
        var fields = 0
        do {
            try decoder.decode(fragment) { name, value in
                fields += 1
                listSize += name.count + value.count + 32
                guard listSize <= Self.maximumHeaderList else {
                    throw connectionError(
                        11, "a header list is larger than \(Self.maximumHeaderList / 1024) KiB decoded")
                }
                guard let first = name.first else {
                    malformed = true
                    return
                }
                for byte in value where byte == 0 || byte == 0x0A || byte == 0x0D { malformed = true }
                if first == UInt8(ascii: ":") {
                    if regular || existing != nil { malformed = true }
                    if HTTP2.equals(name, ":method") {
                        if method != 0 || value.isEmpty { malformed = true }
                        method = HTTP2.equals(value, "HEAD") ? 1 : HTTP2.equals(value, "POST") ? 3 : 2
                    } else if HTTP2.equals(name, ":path") {
                        if path || value.isEmpty { malformed = true }
                        path = true
                        echoPath = HTTP2.equals(value, "/podbench/echo")
                        endPath = HTTP2.equals(value, "/podbench/end")
                    } else if HTTP2.equals(name, ":scheme") {
                        if scheme { malformed = true }
                        scheme = true
                    } else if !HTTP2.equals(name, ":authority") {
                        malformed = true
                    }
                    return
                }
                regular = true
                for byte in name where !HTTP1.isToken(byte) || (byte >= 0x41 && byte <= 0x5A) { malformed = true }
                if HTTP2.equals(name, "x-podbench-request") {
                    if let id = HTTP1.requestID(value) { count = id } else { malformed = true }
                }
                if HTTP2.equals(name, "connection") || HTTP2.equals(name, "transfer-encoding")
                    || HTTP2.equals(name, "keep-alive") || HTTP2.equals(name, "upgrade")
                    || HTTP2.equals(name, "proxy-connection")
                    || (HTTP2.equals(name, "te") && !HTTP2.equals(value, "trailers"))
                {
                    malformed = true
                }
            }
        } catch let error as PodBenchError {
            if errorCode == 0 { errorCode = 9 }  // COMPRESSION_ERROR: the table can no longer be trusted.
            throw PodBenchError(.protocolViolation, "stream \(stream): \(error.message)")
        }
        if ended { return }
        if let existing {
            // Trailers: they must end the stream, and come while it is open (STREAM_CLOSED after its end).
            guard slots[existing].state == 1 else { return streamError(stream, 5) }
            guard endStream else { return streamError(stream, 1) }
            if malformed { return streamError(stream, 1) }
            return answer(existing)
        }
        // An end of a trial needs its count, and comes alone (a second one while one waits is the
        // client's mistake).
        let ending = method == 3 && endPath
        if malformed || method == 0 || !path || !scheme || selfDependent == stream
            || (ending && (count == nil || endSlot >= 0))
        {
            // A malformed request is a stream error (RFC 9113 8.1.1).
            return streamError(stream, 1)
        }
        guard active < slotCount, !clientGoingAway, let slot = (0..<slotCount).first(where: { slots[$0].state == 0 })
        else {
            refused &+= 1
            appendReset(stream: stream, code: 7)
            return
        }
        slots[slot] = Slot(
            stream: stream, state: 1, headSent: false, head: method == 1, echo: method == 3 && echoPath, received: 0,
            end: ending, endCount: count ?? 0, corrupt: false, remaining: 0, sendWindow: peerInitialWindow,
            receiveWindow: Self.receiveWindow)
        active += 1
        if endStream { answer(slot) }
    }

    /// The request on `slot` ended: its answer is due.
    func answer(_ slot: Int) {
        if slots[slot].end {
            // Held for the driver, which answers with its own count.
            slots[slot].state = 3
            endSlot = slot
            endRequested = slots[slot].endCount
            return
        }
        if slots[slot].echo {
            slots[slot].corrupt = echoed == corruptEcho
            echoed &+= 1
        }
        slots[slot].state = 2
        slots[slot].remaining =
            slots[slot].head ? 0 : slots[slot].echo ? slots[slot].received : configuration.bodyLength
    }
}
