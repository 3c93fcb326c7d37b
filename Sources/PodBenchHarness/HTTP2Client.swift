import Glibc
import Histogram
import PodBenchCore
import PodBenchResults

/// The client side of one HTTP/2 connection as `podbench http2-load` drives it: up to `streams`
/// GETs of one path outstanding at once, each answered stream checked (status 200, length,
/// the body's checksum against the first answer's) and timed from its send to its last byte.
/// It is a state machine with no socket: the driver puts what arrived into `receiveSpace()`,
/// calls `process(now:)`, then `issue(now:)`, and sends `pendingSend` (frames and acknowledgements
/// in one write); the fuzz target drives it the same way with a hostile byte stream. Buffers are
/// allocated once; nothing is allocated per frame or per request.
public final class HTTP2ClientSession: HTTP2Endpoint {
    public struct Configuration: Sendable {
        /// Streams outstanding at once (fewer when the server's SETTINGS_MAX_CONCURRENT_STREAMS says so).
        public var streams: Int
        public var path: String
        /// The `:authority` field.
        public var authority: String
        public var maximumBodyLength: Int
        /// The body length every response must have; nil: the first response's.
        public var expectedBodyLength: Int?
        /// Each request's body (POST with a `content-length`, DATA frames bound by the server's
        /// windows and frame size; podbench's pattern, which podbench's server checks at
        /// `/podbench/echo`); 0: a GET with no body.
        public var requestBodyLength: Int
        /// The request bodies' pattern (podbench's server checks them against its own body, made with
        /// the same seed).
        public var bodySeed: UInt64
        /// Every answer must be the request's body echoed (podbench's server at /podbench/echo): its
        /// checksum is known before the first answer comes.
        public var echo: Bool

        public init(
            streams: Int, path: String, authority: String, maximumBodyLength: Int, expectedBodyLength: Int? = nil,
            requestBodyLength: Int = 0, bodySeed: UInt64 = HTTP2ServerSession.Configuration.bodySeed, echo: Bool = false
        ) {
            self.bodySeed = bodySeed
            self.echo = echo
            self.streams = streams
            self.path = path
            self.authority = authority
            self.maximumBodyLength = maximumBodyLength
            self.expectedBodyLength = expectedBodyLength
            self.requestBodyLength = requestBodyLength
        }
    }

    /// The largest header block (HEADERS and CONTINUATIONs joined) taken: four times nginx's
    /// default `large_client_header_buffers` … a longer one is a protocol violation.
    public static let maximumHeaderBlock = 64 << 10
    static let receiveCapacity = 256 << 10
    /// Request bodies fill `pendingSend` up to here; the driver sends and calls `writeBodies()` again.
    static let bodyBudget = 64 << 10
    /// What the answers to one receive buffer's frames may take beyond its size.
    static let answerMargin = 256
    /// The largest request body (`http-serve` takes at most 256 MiB).
    public static let largestRequestBody = 256 << 20
    /// The largest header list taken, decoded (what SETTINGS_MAX_HEADER_LIST_SIZE would bound): a
    /// block of references to one large entry cannot make the client read megabytes per response.
    public static let maximumHeaderList = 256 << 10

    struct Slot {
        var stream: UInt32 = 0
        var sequence: UInt64 = 0
        /// Where the request's round trip starts: its send, or in the open loop its intended send.
        var sentAt: UInt64 = 0
        /// When it was really sent (what --timeout bounds).
        var issuedAt: UInt64 = 0
        /// 0 free, 1 waiting for the response's head, 2 in its body, 3 after trailers began.
        var state: UInt8 = 0
        var contentLength = -1
        var received = 0
        var checksum = PayloadChecksum.Accumulator()
        /// Request body bytes still to send, and what the server lets this client send on the stream
        /// (below 0 when the server lowers SETTINGS_INITIAL_WINDOW_SIZE).
        var bodyRemaining = 0
        var sendWindow = 0
        /// The end of a trial (`issueEnd`), not a request: its answer carries the server's count.
        var end = false
    }

    public let configuration: Configuration
    let decoder: HPACK.Decoder
    let block: UnsafeMutableRawBufferPointer
    var blockCount = 0
    /// The stream whose CONTINUATION must come next (0: none).
    var continuing: UInt32 = 0
    var continuingEndsStream = false
    let slots: UnsafeMutablePointer<Slot>
    let slotCount: Int
    public private(set) var active = 0
    var nextStream: UInt32 = 1
    /// The server's settings.
    public private(set) var settingsReceived = false
    public private(set) var serverMaximumStreams = Int.max
    var sawBytes = false
    /// The request blocks: the first (literals the server's table keeps), the rest (indexes into
    /// it), and without the table (literals it does not keep), for a server whose table is too
    /// small for them or shrinks below them.
    let firstBlock: [UInt8]
    let repeatBlock: [UInt8]
    let plainBlock: [UInt8]
    let tableNeeded: Int
    enum RequestMode { case first, repeated, plain }
    var mode = RequestMode.first
    /// The size of the server's table this encoder uses: at most 4096 (HPACK's default, all the
    /// requests need) and at most the server's SETTINGS_HEADER_TABLE_SIZE.
    var encoderTableSize = 4096
    /// A SETTINGS_HEADER_TABLE_SIZE changed it: the next block starts with a size update (RFC 7541
    /// 4.2), two when it went lower in between (the smallest first, then the last).
    var sizeUpdatePending = false
    var smallestTableSize = 4096
    /// Requests freed unanswered (REFUSED_STREAM, above a GOAWAY's last stream): their intended
    /// send times, for the open loop to send them again first (oldest first).
    let requeued: UnsafeMutablePointer<UInt64>
    public private(set) var requeuedCount = 0
    var unacknowledgedData = 0
    /// "GET", or "POST" with a request body (for messages).
    let methodName: String
    let requestBody: UnsafeMutableRawBufferPointer
    /// Streams with request body left to send.
    var bodiesPending = 0
    /// Where `writeBodies` starts its next round (the streams take turns, as the server's answers do).
    var nextBodySlot = 0
    /// Request body bytes written into `pendingSend`, over the session's life.
    public private(set) var bodyBytesWritten: UInt64 = 0
    /// The most requests outstanding at once, over the session's life.
    public private(set) var peakActive = 0
    var connectionSendWindow = 65_535
    var serverInitialWindow = 65_535
    var serverMaximumFrame = HTTP2.defaultMaximumFrameSize
    /// The end of a trial's header block up to its count's digits (`issueEnd`).
    let endBlock: [UInt8]
    /// The server's answer to the last `issueEnd`: how many requests it counted (nil until it comes).
    public private(set) var endAnswer: UInt64?
    /// What requests, an end of a trial and the preface may take in the send buffer.
    let requestRoom: Int
    /// For a driver that sends without blocking (the http2 workload): whether new requests may be
    /// written now (what is pending is no more than the bodies' budget).
    public var mayIssue: Bool { sendCount <= Self.bodyBudget }
    /// Whether what arrives may be processed now: its acknowledgements (at most a receive buffer's
    /// worth) fit beside what waits to be sent.
    public var mayProcess: Bool { sendCount <= send.count - Self.receiveCapacity - Self.answerMargin }
    /// `begin()` was called: the connection's preface is sent or pending.
    public private(set) var begun = false
    /// The last stream a GOAWAY (NO_ERROR) said the server will answer; nil while none came.
    public private(set) var goAway: UInt32?

    public var expectedLength: Int?
    public private(set) var expectedChecksum: UInt64?
    /// The first response's header block, in bytes (as it came, compressed).
    public private(set) var headBlockLength = 0
    /// Requests sent, over all connections (the next one's number).
    public private(set) var sequence: UInt64 = 0
    public private(set) var completed: UInt64 = 0
    /// Requests the server said (GOAWAY) it had not processed: sent again on the next connection.
    public private(set) var unprocessed: UInt64 = 0
    /// Requests answered from `recordFrom` to `recordUntil` are recorded.
    public var recordFrom = UInt64.max
    public var recordUntil = UInt64.max
    public var issuing = true
    public private(set) var recorded: UInt64 = 0
    public var histogram = EncodedHistogram.makeLatencyHistogram()

    public init(_ configuration: Configuration) throws {
        guard configuration.streams >= 1 && configuration.streams <= 1024 else {
            throw PodBenchError(.invalidConfiguration, "--streams: 1 to 1024")
        }
        guard (0...Self.largestRequestBody).contains(configuration.requestBodyLength) else {
            throw PodBenchError(
                .invalidConfiguration,
                "a request body of \(configuration.requestBodyLength) bytes: 0 to \(ByteSize.format(Self.largestRequestBody))"
            )
        }
        self.configuration = configuration
        expectedLength = configuration.expectedBodyLength
        _ = try HTTP1Load.request(path: configuration.path, host: configuration.authority)
        let bodyLength = configuration.requestBodyLength
        methodName = bodyLength > 0 ? "POST" : "GET"
        requestBody = HTTP2ServerSession.makeBody(length: bodyLength, seed: configuration.bodySeed)
        if configuration.echo {
            guard bodyLength > 0, configuration.expectedBodyLength ?? bodyLength == bodyLength,
                bodyLength <= configuration.maximumBodyLength
            else {
                throw PodBenchError(
                    .invalidConfiguration, "an echo needs a request body, and answers as long as it")
            }
            expectedLength = bodyLength
            expectedChecksum = PayloadChecksum.checksum(UnsafeRawBufferPointer(rebasing: requestBody[..<bodyLength]))
        }
        let method = HPACK.staticIndex(name: ":method", value: methodName)
        let scheme = HPACK.staticIndex(name: ":scheme", value: "http")
        let rootPath = configuration.path == "/"
        let userAgent = "podbench/\(PodBenchVersion.version)"
        // The fields a client sends (h2load sends these and no others but user-agent's value).
        let literals: [(name: String, value: String)] =
            (rootPath ? [] : [(":path", configuration.path)]) + [(":authority", configuration.authority)]
            + [("user-agent", userAgent), ("accept", "*/*")]
            + (bodyLength > 0 ? [("content-length", String(bodyLength))] : [])
        var first: [UInt8] = []
        var repeated: [UInt8] = []
        var plain: [UInt8] = []
        for block in [0, 1, 2] {
            var out: [UInt8] = []
            HPACK.appendIndexed(method, to: &out)
            HPACK.appendIndexed(scheme, to: &out)
            if rootPath { HPACK.appendIndexed(HPACK.staticIndex(name: ":path", value: "/"), to: &out) }
            for (i, field) in literals.enumerated() {
                switch block {
                case 0:
                    HPACK.appendLiteral(
                        name: field.name, nameIndex: HPACK.staticIndex(name: field.name), value: field.value, .indexing,
                        to: &out)
                case 1:
                    // The newest entry is 62: the last literal inserted.
                    HPACK.appendIndexed(61 + literals.count - i, to: &out)
                default:
                    HPACK.appendLiteral(
                        name: field.name, nameIndex: HPACK.staticIndex(name: field.name), value: field.value,
                        .withoutIndexing, to: &out)
                }
            }
            switch block {
            case 0: first = out
            case 1: repeated = out
            default: plain = out
            }
        }
        firstBlock = first
        repeatBlock = repeated
        plainBlock = plain
        // POST /podbench/end, literals the table does not keep, and the count last (its digits are
        // written per trial).
        var endFields: [UInt8] = []
        HPACK.appendIndexed(HPACK.staticIndex(name: ":method", value: "POST"), to: &endFields)
        HPACK.appendIndexed(scheme, to: &endFields)
        for (name, value) in [
            (":path", "/podbench/end"), (":authority", configuration.authority), ("user-agent", userAgent),
            ("content-length", "0"),
        ] {
            HPACK.appendLiteral(
                name: name, nameIndex: HPACK.staticIndex(name: name), value: value, .withoutIndexing, huffman: false,
                to: &endFields)
        }
        HPACK.appendLiteral(name: "x-podbench-request", value: "0", .withoutIndexing, huffman: false, to: &endFields)
        precondition(endFields.last == UInt8(ascii: "0") && endFields[endFields.count - 2] == 1)
        endBlock = Array(endFields.dropLast(2))
        tableNeeded = literals.reduce(0) { $0 + HPACK.entrySize($1.name.utf8.count, $1.value.utf8.count) }
        // A size update (at most 3 bytes for 4096) may lead any of them.
        guard max(first.count, plain.count) + 6 <= HTTP2.defaultMaximumFrameSize else {
            throw PodBenchError(
                .invalidConfiguration, "the request's header block is over 16 KiB: shorten --path or --host")
        }
        decoder = HPACK.Decoder(sizeLimit: 4096, maximumBlock: Self.maximumHeaderBlock)
        block = .allocate(byteCount: Self.maximumHeaderBlock, alignment: 64)
        slotCount = configuration.streams
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: Slot(), count: slotCount)
        requeued = .allocate(capacity: slotCount)
        // Acknowledgements never outgrow what they answer (a receive buffer's worth); requests (and
        // an end of a trial), the preface and a window update fit beside, and bodies up to their budget.
        requestRoom =
            slotCount * (HTTP2.frameHeaderLength + 6 + max(first.count, plain.count))
            + HTTP2.frameHeaderLength + 6 + endBlock.count + 21 + 1024
        // A frame's answer may be a few bytes longer than the frame (a 10-byte DATA frame can draw a
        // 13-byte WINDOW_UPDATE): a margin beyond the receive buffer's worth.
        super.init(
            receiveCapacity: Self.receiveCapacity,
            sendCapacity: Self.receiveCapacity + Self.answerMargin + requestRoom + Self.bodyBudget)
    }

    deinit {
        block.deallocate()
        slots.deinitialize(count: slotCount)
        slots.deallocate()
        requeued.deallocate()
        requestBody.deallocate()
    }

    // MARK: - The driver's side

    /// A new connection: everything but the expectation and the counters starts over, and the
    /// preface, SETTINGS (no push, a 2^30 - 1 window per stream) and the connection's window
    /// update wait in `pendingSend`.
    public func begin() {
        decoder.reset()
        start = 0
        end = 0
        sendCount = 0
        blockCount = 0
        continuing = 0
        for i in 0..<slotCount { slots[i] = Slot() }
        active = 0
        nextStream = 1
        settingsReceived = false
        serverMaximumStreams = Int.max
        sawBytes = false
        mode = .first
        encoderTableSize = 4096
        smallestTableSize = 4096
        sizeUpdatePending = false
        unacknowledgedData = 0
        goAway = nil
        endAnswer = nil
        begun = true
        bodiesPending = 0
        connectionSendWindow = 65_535
        serverInitialWindow = 65_535
        serverMaximumFrame = HTTP2.defaultMaximumFrameSize
        var out = HTTP2.preface
        HTTP2.appendFrame(
            type: .settings, stream: 0,
            payload: HTTP2.settingsPayload([
                (.enablePush, 0), (.initialWindowSize, UInt32(HTTP2.clientWindow)),
            ]), to: &out)
        HTTP2.appendFrame(
            type: .windowUpdate, stream: 0, payload: HTTP2.bigEndian(UInt32(HTTP2.clientWindow - 65_535)), to: &out)
        append(out)
    }

    /// When the oldest outstanding request was really sent (nil: none is).
    public var oldestSentAt: UInt64? {
        var oldest: UInt64?
        for i in 0..<slotCount where slots[i].state != 0 {
            if oldest == nil || slots[i].issuedAt < oldest! { oldest = slots[i].issuedAt }
        }
        return oldest
    }

    /// The number of the oldest outstanding request.
    public var oldestSequence: UInt64? {
        var oldest: UInt64?
        for i in 0..<slotCount where slots[i].state != 0 {
            if oldest == nil || slots[i].sequence < oldest! { oldest = slots[i].sequence }
        }
        return oldest
    }

    /// Whether this connection has used up its stream identifiers (2^31 - 1): the driver opens another.
    public var streamsExhausted: Bool { nextStream > 0x7FFF_FFFF }

    /// The streams this connection keeps outstanding.
    public var concurrency: Int { min(slotCount, serverMaximumStreams) }

    /// Whether a request can be sent now (a stream is free and the connection takes more).
    public var canIssue: Bool {
        settingsReceived && issuing && goAway == nil && active < concurrency && nextStream <= 0x7FFF_FFFF
    }

    /// Sends (into `pendingSend`) new requests up to `concurrency`, or `count`, sent `now` and
    /// timed from `intended` (the open loop's schedule) or from now.
    @inline(__always)
    public func issue(now: UInt64, count: Int = .max, intended: UInt64? = nil) {
        guard settingsReceived, issuing, goAway == nil else { return }
        let limit = concurrency
        var issued = 0
        while active < limit && nextStream <= 0x7FFF_FFFF && issued < count {
            issued += 1
            var slot = 0
            while slots[slot].state != 0 { slot += 1 }
            let stream = nextStream
            nextStream += 2
            let block: [UInt8]
            switch mode {
            case .first:
                if encoderTableSize >= tableNeeded {
                    block = firstBlock
                    mode = .repeated
                } else {
                    block = plainBlock
                    mode = .plain
                }
            case .repeated: block = repeatBlock
            case .plain: block = plainBlock
            }
            let update = takeSizeUpdate()
            precondition(sendCount + HTTP2.frameHeaderLength + update.count + block.count <= send.count)
            let bodyLength = configuration.requestBodyLength
            appendHeader(
                length: update.count + block.count, type: .headers,
                flags: HTTP2.Flag.endHeaders | (bodyLength > 0 ? 0 : HTTP2.Flag.endStream), stream: stream)
            withUnsafeBytes(of: update.bytes.littleEndian) {
                (send.baseAddress! + sendCount).copyMemory(from: $0.baseAddress!, byteCount: update.count)
            }
            sendCount += update.count
            block.withUnsafeBytes { append($0) }
            slots[slot] = Slot(
                stream: stream, sequence: sequence, sentAt: intended ?? now, issuedAt: now, state: 1, contentLength: -1,
                received: 0, checksum: PayloadChecksum.Accumulator(), bodyRemaining: bodyLength,
                sendWindow: serverInitialWindow)
            if bodyLength > 0 { bodiesPending += 1 }
            sequence &+= 1
            active += 1
            if active > peakActive { peakActive = active }
        }
        writeBodies()
    }

    /// Writes request bodies into `pendingSend` as DATA frames, as far as the server's windows (the
    /// connection's and each stream's), its frame size and `bodyBudget` allow, a frame a stream a
    /// round. `issue` calls it; the driver calls it after each send until it writes nothing (it
    /// writes nothing while the windows are shut: a WINDOW_UPDATE in `process` opens them).
    @inline(__always)
    public func writeBodies() {
        guard bodiesPending > 0 else { return }
        let frameLimit = min(serverMaximumFrame, HTTP2.defaultMaximumFrameSize)
        let length = configuration.requestBodyLength
        var progress = true
        while progress && bodiesPending > 0 {
            progress = false
            let first = nextBodySlot
            for k in 0..<slotCount {
                let i = (first + k) % slotCount
                guard slots[i].state != 0 && slots[i].bodyRemaining > 0 else { continue }
                let room = Self.bodyBudget - sendCount - HTTP2.frameHeaderLength
                guard room > 0 else {
                    nextBodySlot = i
                    return
                }
                let chunk = min(slots[i].bodyRemaining, frameLimit, connectionSendWindow, slots[i].sendWindow, room)
                guard chunk > 0 else { continue }
                let offset = length - slots[i].bodyRemaining
                slots[i].bodyRemaining -= chunk
                slots[i].sendWindow -= chunk
                connectionSendWindow -= chunk
                let last = slots[i].bodyRemaining == 0
                appendHeader(
                    length: chunk, type: .data, flags: last ? HTTP2.Flag.endStream : 0, stream: slots[i].stream)
                append(UnsafeRawBufferPointer(rebasing: requestBody[offset..<offset + chunk]))
                bodyBytesWritten &+= UInt64(chunk)
                if last { bodiesPending -= 1 }
                progress = true
                nextBodySlot = (i + 1) % slotCount
            }
        }
    }

    /// A stream freed: its unsent body is no longer pending.
    @inline(__always)
    func free(_ slot: Int) {
        if slots[slot].bodyRemaining > 0 {
            slots[slot].bodyRemaining = 0
            bodiesPending -= 1
        }
        slots[slot].state = 0
        active -= 1
    }

    /// The table size update the next header block must start with (none: count 0).
    @inline(__always)
    func takeSizeUpdate() -> (bytes: UInt64, count: Int) {
        guard sizeUpdatePending else { return (0, 0) }
        sizeUpdatePending = false
        defer { smallestTableSize = encoderTableSize }
        if smallestTableSize < encoderTableSize {
            let first = Self.sizeUpdate(smallestTableSize)
            let last = Self.sizeUpdate(encoderTableSize)
            return (first.bytes | last.bytes << UInt64(8 * first.count), first.count + last.count)
        }
        return Self.sizeUpdate(encoderTableSize)
    }

    /// Numbers the next request 0 (a workload's phase: its messages name requests within it).
    /// Call when no request is outstanding.
    public func startNumbering() {
        precondition(active == 0, "requests are outstanding")
        sequence = 0
        completed = 0
    }

    /// Whether the end of a trial can be sent now: no request is outstanding and the connection
    /// takes a stream.
    public var canEnd: Bool { settingsReceived && goAway == nil && active == 0 && nextStream <= 0x7FFF_FFFF }

    /// Sends (into `pendingSend`) the end of a trial: `POST /podbench/end` with `x-podbench-request:
    /// count` (the requests this client counted), as the HTTP/1.1 workload ends one; the server's
    /// answer carries its own count (`endAnswer`). Call when `canEnd`.
    public func issueEnd(count: UInt64, now: UInt64) {
        precondition(canEnd, "the end of a trial goes when no request is outstanding")
        endAnswer = nil
        let update = takeSizeUpdate()
        let length = update.count + endBlock.count + HTTP2Endpoint.requestIDLiteralLength
        precondition(sendCount + HTTP2.frameHeaderLength + length <= send.count)
        let stream = nextStream
        nextStream += 2
        appendHeader(
            length: length, type: .headers, flags: HTTP2.Flag.endHeaders | HTTP2.Flag.endStream, stream: stream)
        withUnsafeBytes(of: update.bytes.littleEndian) {
            (send.baseAddress! + sendCount).copyMemory(from: $0.baseAddress!, byteCount: update.count)
        }
        sendCount += update.count
        endBlock.withUnsafeBytes { append($0) }
        appendRequestID(count)
        slots[0] = Slot(
            stream: stream, sequence: count, sentAt: now, issuedAt: now, state: 1, contentLength: -1, received: 0,
            checksum: PayloadChecksum.Accumulator(), bodyRemaining: 0, sendWindow: serverInitialWindow, end: true)
        active += 1
    }

    /// A dynamic table size update's bytes (RFC 7541 5.1 with a 5-bit prefix: 0x20 | size, or 0x3F
    /// and up to two more groups for sizes up to 4096), the first in the low byte.
    static func sizeUpdate(_ size: Int) -> (bytes: UInt64, count: Int) {
        if size < 31 { return (UInt64(0x20 | size), 1) }
        if size - 31 < 128 { return (0x3F | UInt64(size - 31) << 8, 2) }
        return (0x3F | UInt64(0x80 | (size - 31) & 0x7F) << 8 | UInt64((size - 31) >> 7) << 16, 3)
    }

    /// Sends the requeued requests (oldest first) while streams are free, each timed from its
    /// intended send.
    public func issueRequeued(now: UInt64) {
        var taken = 0
        while taken < requeuedCount && canIssue {
            issue(now: now, count: 1, intended: requeued[taken])
            taken += 1
        }
        if taken > 0 {
            for i in taken..<requeuedCount { requeued[i - taken] = requeued[i] }
            requeuedCount -= taken
        }
    }

    /// A request freed unanswered: counted, and kept for the open loop. (The end of a trial is
    /// never freed so: the callers fail the run for it.)
    func requeue(_ slot: Int) {
        if requeuedCount < slotCount {
            requeued[requeuedCount] = slots[slot].sentAt
            requeuedCount += 1
        }
        free(slot)
        unprocessed &+= 1
    }

    // MARK: - Frames

    @inline(__always)
    func slotIndex(_ stream: UInt32) -> Int? {
        for i in 0..<slotCount where slots[i].state != 0 && slots[i].stream == stream { return i }
        return nil
    }

    func violation(_ message: String) -> PodBenchError { PodBenchError(.protocolViolation, message) }

    /// The error for a frame on a stream this client has no request on.
    func unknownStream(_ type: UInt8, _ stream: UInt32) -> PodBenchError {
        if stream & 1 == 0 {
            return violation(
                "the server sent \(HTTP2.frameName(type)) on stream \(stream), an even stream this client never opened (no push was allowed)"
            )
        }
        return violation(
            stream < nextStream
                ? "the server sent \(HTTP2.frameName(type)) on stream \(stream), whose response had already ended"
                : "the server sent \(HTTP2.frameName(type)) on stream \(stream), which this client has not opened")
    }

    /// Handles every whole frame received.
    /// - Throws: `.protocolViolation` or `.integrityFailure` naming the request or frame at fault.
    @inline(__always)
    public func process(now: UInt64) throws {
        let base = UnsafeRawPointer(receive.baseAddress!)
        if !sawBytes && end - start >= 5 {
            sawBytes = true
            if memcmp(base + start, "HTTP/", 5) == 0 {
                throw violation(
                    "the server answered in HTTP/1: it does not speak HTTP/2 over cleartext with prior knowledge (h2c; nginx: `listen PORT http2;`)"
                )
            }
        }
        while end - start >= HTTP2.frameHeaderLength {
            let header = base + start
            let (length, type, flags, stream) = frameHeader()
            guard length <= HTTP2.defaultMaximumFrameSize else {
                throw violation(
                    "the server sent \(HTTP2.frameName(type)) of \(length) bytes, over the 16384 this client allows (FRAME_SIZE_ERROR)"
                )
            }
            guard end - start >= HTTP2.frameHeaderLength + length else { break }
            let payload = UnsafeRawBufferPointer(start: header + HTTP2.frameHeaderLength, count: length)
            start += HTTP2.frameHeaderLength + length
            if !settingsReceived && type != HTTP2.FrameType.settings.rawValue {
                throw violation(
                    "the server's first frame is \(HTTP2.frameName(type)), not SETTINGS: is it an HTTP/2 server (h2c with prior knowledge)?"
                )
            }
            if continuing != 0 && (type != HTTP2.FrameType.continuation.rawValue || stream != continuing) {
                throw violation(
                    "the server sent \(HTTP2.frameName(type)) on stream \(stream) where the CONTINUATION of stream \(continuing)'s header block must come"
                )
            }
            switch HTTP2.FrameType(rawValue: type) {
            case .data: try data(payload, flags: flags, stream: stream, now: now)
            case .headers: try headers(payload, flags: flags, stream: stream, now: now)
            case .continuation: try continuation(payload, flags: flags, stream: stream, now: now)
            case .settings: try settings(payload, flags: flags, stream: stream)
            case .ping:
                guard stream == 0, length == 8 else {
                    throw violation("the server sent a PING of \(length) bytes on stream \(stream) (8 on stream 0)")
                }
                if flags & HTTP2.Flag.ack == 0 {
                    appendHeader(length: 8, type: .ping, flags: HTTP2.Flag.ack, stream: 0)
                    append(payload)
                }
            case .goAway: try goAwayFrame(payload, stream: stream)
            case .resetStream:
                guard stream != 0, length == 4 else {
                    throw violation("the server sent a RST_STREAM of \(length) bytes on stream \(stream) (4, not on 0)")
                }
                if let slot = slotIndex(stream) {
                    let code = HTTP2.load32(payload.baseAddress!, 0)
                    if slots[slot].end {
                        throw violation(
                            "the server reset the end of the trial (stream \(stream), \(HTTP2.errorName(code))): it is not podbench's server, or a proxy between drops it"
                        )
                    }
                    if code == 7 {
                        // REFUSED_STREAM: not processed (RFC 9113 8.7), sent again.
                        requeue(slot)
                        break
                    }
                    throw violation(
                        "request \(slots[slot].sequence) (\(methodName), stream \(stream)): the server reset the stream (\(HTTP2.errorName(code)))"
                    )
                }
                if stream >= nextStream || stream & 1 == 0 { throw unknownStream(type, stream) }
            case .windowUpdate:
                guard length == 4 else { throw violation("the server sent a WINDOW_UPDATE of \(length) bytes (4)") }
                if stream != 0 && (stream >= nextStream || stream & 1 == 0) { throw unknownStream(type, stream) }
                let increment = Int(HTTP2.load32(payload.baseAddress!, 0) & 0x7FFF_FFFF)
                guard increment != 0 else {
                    throw violation("the server sent a WINDOW_UPDATE of 0 on stream \(stream) (PROTOCOL_ERROR)")
                }
                if stream == 0 {
                    guard connectionSendWindow + increment <= HTTP2.maximumWindow else {
                        throw violation(
                            "the server's WINDOW_UPDATE takes the connection's window over 2^31-1 (FLOW_CONTROL_ERROR)")
                    }
                    connectionSendWindow += increment
                } else if let slot = slotIndex(stream) {
                    guard slots[slot].sendWindow + increment <= HTTP2.maximumWindow else {
                        throw violation(
                            "request \(slots[slot].sequence) (\(methodName), stream \(stream)): the server's WINDOW_UPDATE takes the stream's window over 2^31-1 (FLOW_CONTROL_ERROR)"
                        )
                    }
                    slots[slot].sendWindow += increment
                }
            case .priority:
                guard stream != 0, length == 5 else {
                    throw violation("the server sent a PRIORITY of \(length) bytes on stream \(stream) (5, not on 0)")
                }
            case .pushPromise:
                throw violation(
                    "the server sent PUSH_PROMISE on stream \(stream): this client said SETTINGS_ENABLE_PUSH 0")
            case nil:
                // Unknown frame types are ignored (RFC 9113 5.5).
                break
            }
        }
        if start == end {
            start = 0
            end = 0
        }
    }

    /// The part of a DATA or HEADERS payload that is not padding.
    @inline(__always)
    func unpadded(_ payload: UnsafeRawBufferPointer, flags: UInt8, type: UInt8, stream: UInt32, skip: Int = 0) throws
        -> UnsafeRawBufferPointer
    {
        var from = 0
        var to = payload.count
        if flags & HTTP2.Flag.padded != 0 {
            guard payload.count >= 1 else {
                throw violation("the server sent a padded \(HTTP2.frameName(type)) of 0 bytes")
            }
            let padding = Int(payload.load(as: UInt8.self))
            from = 1
            to -= padding
        }
        from += skip
        guard from <= to else {
            throw violation(
                "the server sent \(HTTP2.frameName(type)) on stream \(stream) whose padding is longer than the frame (PROTOCOL_ERROR)"
            )
        }
        return UnsafeRawBufferPointer(rebasing: payload[from..<to])
    }

    @inline(__always)
    func data(_ payload: UnsafeRawBufferPointer, flags: UInt8, stream: UInt32, now: UInt64) throws {
        guard stream != 0 else { throw violation("the server sent DATA on stream 0") }
        let body = try unpadded(payload, flags: flags, type: 0, stream: stream)
        unacknowledgedData += payload.count
        if unacknowledgedData >= HTTP2.clientWindow / 2 {
            appendWindowUpdate(stream: 0, increment: unacknowledgedData)
            unacknowledgedData = 0
        }
        guard let slot = slotIndex(stream) else { throw unknownStream(0, stream) }
        guard slots[slot].state == 2 else {
            throw violation(
                slots[slot].state == 1
                    ? "request \(slots[slot].sequence) (\(methodName), stream \(stream)): DATA came before the response's HEADERS"
                    : "request \(slots[slot].sequence) (\(methodName), stream \(stream)): DATA came after the response's trailers"
            )
        }
        let received = slots[slot].received + body.count
        guard received <= configuration.maximumBodyLength else {
            throw violation(
                "request \(slots[slot].sequence) (\(methodName), stream \(stream)): the body is longer than --max-body (\(configuration.maximumBodyLength) bytes)"
            )
        }
        if slots[slot].contentLength >= 0 && received > slots[slot].contentLength {
            throw violation(
                "request \(slots[slot].sequence) (\(methodName), stream \(stream)): the body is longer than its content-length (\(slots[slot].contentLength))"
            )
        }
        slots[slot].received = received
        slots[slot].checksum.add(body)
        if flags & HTTP2.Flag.endStream != 0 { try complete(slot, now: now) }
    }

    @inline(__always)
    func headers(_ payload: UnsafeRawBufferPointer, flags: UInt8, stream: UInt32, now: UInt64) throws {
        guard stream != 0 else { throw violation("the server sent HEADERS on stream 0") }
        let skip = flags & HTTP2.Flag.priority != 0 ? 5 : 0
        let fragment = try unpadded(payload, flags: flags, type: 1, stream: stream, skip: skip)
        let endStream = flags & HTTP2.Flag.endStream != 0
        if flags & HTTP2.Flag.endHeaders != 0 {
            try headerBlock(fragment, stream: stream, endStream: endStream, now: now)
            return
        }
        guard fragment.count <= block.count else {
            throw violation("a header block is longer than \(Self.maximumHeaderBlock / 1024) KiB")
        }
        if fragment.count > 0 { block.baseAddress!.copyMemory(from: fragment.baseAddress!, byteCount: fragment.count) }
        blockCount = fragment.count
        continuing = stream
        continuingEndsStream = endStream
    }

    func continuation(_ payload: UnsafeRawBufferPointer, flags: UInt8, stream: UInt32, now: UInt64) throws {
        guard continuing != 0 else {
            throw violation("the server sent CONTINUATION on stream \(stream) after a header block had ended")
        }
        guard payload.count <= block.count - blockCount else {
            throw violation("a header block is longer than \(Self.maximumHeaderBlock / 1024) KiB")
        }
        if payload.count > 0 {
            (block.baseAddress! + blockCount).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        }
        blockCount += payload.count
        if flags & HTTP2.Flag.endHeaders != 0 {
            continuing = 0
            try headerBlock(
                UnsafeRawBufferPointer(start: block.baseAddress!, count: blockCount), stream: stream,
                endStream: continuingEndsStream, now: now)
        }
    }

    /// Decodes a response's (or its trailers') header block and checks its fields (RFC 9113 8.3.2).
    @inline(__always)
    func headerBlock(_ fragment: UnsafeRawBufferPointer, stream: UInt32, endStream: Bool, now: UInt64) throws {
        // The block is decoded whatever the stream: the table is the connection's.
        let slot = slotIndex(stream)
        let trailers = slot.map { slots[$0].state >= 2 } ?? false
        var status = -1
        var contentLength = -1
        var counted: UInt64?
        var regular = false
        var listSize = 0
        do {
            try decoder.decode(fragment) { name, value in
                guard let first = name.first else { throw violation("a field has an empty name") }
                listSize += name.count + value.count + 32
                guard listSize <= Self.maximumHeaderList else {
                    throw violation(
                        "a header list is larger than \(Self.maximumHeaderList / 1024) KiB decoded (RFC 9113 counts name, value and 32 per field)"
                    )
                }
                for byte in value where byte == 0 || byte == 0x0A || byte == 0x0D {
                    throw violation("the value of a field has a NUL, CR or LF (RFC 9113 8.2.1)")
                }
                if first == UInt8(ascii: ":") {
                    guard !regular, !trailers else {
                        throw violation(
                            "a pseudo-header comes \(trailers ? "in trailers" : "after a regular field") (RFC 9113 8.3)"
                        )
                    }
                    guard HTTP2.equals(name, ":status") else {
                        throw violation(
                            "a response carries the pseudo-header \(HTTP1.quote(name, 0..<name.count)) (only :status)")
                    }
                    guard status < 0 else { throw violation("a response carries :status twice") }
                    guard value.count == 3, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                        throw violation("a response's :status is \(HTTP1.quote(value, 0..<value.count)), not 3 digits")
                    }
                    status = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
                    return
                }
                regular = true
                for byte in name where !HTTP1.isToken(byte) || (byte >= 0x41 && byte <= 0x5A) {
                    throw violation(
                        "a field name is not a lowercase token: \(HTTP1.quote(name, 0..<name.count)) (RFC 9113 8.2.1)")
                }
                if HTTP2.equals(name, "content-length") {
                    guard value.count >= 1, value.count <= 10, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                        throw violation(
                            "a response's content-length is \(HTTP1.quote(value, 0..<value.count)), not a length")
                    }
                    let length = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
                    guard contentLength < 0 || contentLength == length else {
                        throw violation("a response has two content-length fields that disagree")
                    }
                    contentLength = length
                } else if HTTP2.equals(name, "x-podbench-request") {
                    guard let id = HTTP1.requestID(value) else {
                        throw violation(
                            "a response's x-podbench-request is \(HTTP1.quote(value, 0..<value.count)), not podbench's 16 hex digits"
                        )
                    }
                    counted = id
                } else if HTTP2.equals(name, "connection") || HTTP2.equals(name, "transfer-encoding")
                    || HTTP2.equals(name, "keep-alive") || HTTP2.equals(name, "upgrade")
                    || HTTP2.equals(name, "proxy-connection")
                {
                    throw violation(
                        "a response carries the connection-specific field \(HTTP1.quote(name, 0..<name.count)), which HTTP/2 forbids (RFC 9113 8.2.2)"
                    )
                }
            }
        } catch let error as PodBenchError {
            if let slot {
                throw PodBenchError(
                    error.code, "request \(slots[slot].sequence) (\(methodName), stream \(stream)): \(error.message)")
            }
            throw error
        }
        guard let slot else { throw unknownStream(1, stream) }
        let sequence = slots[slot].sequence
        if trailers {
            guard endStream, slots[slot].state == 2 else {
                throw violation(
                    "request \(sequence) (\(methodName), stream \(stream)): a second header block after the body does not end the stream"
                )
            }
            slots[slot].state = 3
            try complete(slot, now: now)
            return
        }
        guard status >= 0 else {
            throw violation("request \(sequence) (\(methodName), stream \(stream)): the response has no :status")
        }
        if status >= 100 && status < 200 && status != 101 {
            // Informational: the real response follows.
            guard !endStream else {
                throw violation(
                    "request \(sequence) (\(methodName), stream \(stream)): an informational response (\(status)) ends the stream"
                )
            }
            return
        }
        if slots[slot].end {
            guard status == 200, let counted, contentLength <= 0 else {
                throw violation(
                    "the answer to the end of the trial (\(sequence) requests sent) is not podbench's server's: :status \(status), \(contentLength < 0 ? "no content-length" : "\(contentLength) body bytes"), \(counted.map { "the server counted \($0) requests" } ?? "no x-podbench-request")"
                )
            }
            slots[slot].contentLength = 0
            slots[slot].state = 2
            endAnswer = counted
            if endStream { try complete(slot, now: now) }
            return
        }
        guard status == 200 else {
            throw violation(
                "request \(sequence) (\(methodName) \(configuration.path)): the answer is :status \(status), not 200")
        }
        if contentLength > configuration.maximumBodyLength {
            throw violation(
                "request \(sequence) (\(methodName), stream \(stream)): the response says \(contentLength) body bytes, more than --max-body (\(configuration.maximumBodyLength))"
            )
        }
        if expectedChecksum == nil { headBlockLength = fragment.count }
        slots[slot].contentLength = contentLength
        slots[slot].state = 2
        if endStream { try complete(slot, now: now) }
    }

    /// A response ended: its length and checksum checked, its round trip recorded.
    @inline(__always)
    func complete(_ slot: Int, now: UInt64) throws {
        let s = slots[slot]
        if s.bodyRemaining > 0 {
            throw violation(
                "request \(s.sequence) (\(methodName), stream \(s.stream)): the server answered before the request's body was sent (\(s.bodyRemaining) of \(configuration.requestBodyLength) bytes left)"
            )
        }
        if s.contentLength >= 0 && s.received != s.contentLength {
            throw PodBenchError(
                .integrityFailure,
                "request \(s.sequence) (\(methodName), stream \(s.stream)): the body has \(s.received) bytes, its content-length says \(s.contentLength)"
            )
        }
        if s.end {
            // The end of a trial: its count was taken with the head; nothing is recorded.
            free(slot)
            return
        }
        let checksum = s.checksum.value
        if configuration.echo {
            guard s.received == expectedLength!, checksum == expectedChecksum! else {
                throw PodBenchError(
                    .integrityFailure,
                    "the answer to request \(s.sequence) (\(methodName) \(configuration.path), stream \(s.stream)) is not its body echoed: \(s.received == expectedLength! ? "the same length, another checksum" : "\(s.received) bytes, the request's were \(expectedLength!)")"
                )
            }
        } else if let expectedChecksum {
            guard s.received == expectedLength!, checksum == expectedChecksum else {
                throw PodBenchError(
                    .integrityFailure,
                    "the response to request \(s.sequence) has \(s.received == expectedLength! ? "another body than the first response's (same length, another checksum)" : "a \(s.received)-byte body, the first response's had \(expectedLength!)"): http2-load asks for one fixed resource, and every answer must be the same"
                )
            }
        } else {
            if let expectedLength, expectedLength != s.received {
                throw PodBenchError(
                    .integrityFailure,
                    "the response to request \(s.sequence) has a \(s.received)-byte body, --expect-length is \(expectedLength)"
                )
            }
            expectedLength = s.received
            expectedChecksum = checksum
        }
        if now >= recordFrom && now <= recordUntil {
            histogram.record(min(now &- s.sentAt, histogram.highestTrackableValue))
            recorded &+= 1
        }
        completed &+= 1
        free(slot)
    }

    func settings(_ payload: UnsafeRawBufferPointer, flags: UInt8, stream: UInt32) throws {
        guard stream == 0 else { throw violation("the server sent SETTINGS on stream \(stream)") }
        if flags & HTTP2.Flag.ack != 0 {
            guard payload.count == 0 else {
                throw violation("the server acknowledged SETTINGS with \(payload.count) bytes (FRAME_SIZE_ERROR)")
            }
            return
        }
        guard payload.count % 6 == 0 else {
            throw violation(
                "the server sent SETTINGS of \(payload.count) bytes, not a multiple of 6 (FRAME_SIZE_ERROR)")
        }
        let base = payload.baseAddress
        var offset = 0
        while offset < payload.count {
            let identifier =
                UInt16(base!.load(fromByteOffset: offset, as: UInt8.self)) << 8
                | UInt16(base!.load(fromByteOffset: offset + 1, as: UInt8.self))
            let value = HTTP2.load32(base!, offset + 2)
            offset += 6
            switch HTTP2.Setting(rawValue: identifier) {
            case .headerTableSize:
                let size = min(Int(value), 4096)
                if size != encoderTableSize {
                    encoderTableSize = size
                    smallestTableSize = min(smallestTableSize, size)
                    sizeUpdatePending = true
                    // Entries this client indexed may be gone: literals from now on.
                    if mode == .repeated && smallestTableSize < tableNeeded { mode = .plain }
                }
            case .enablePush:
                guard value == 0 else {
                    throw violation(
                        "the server's SETTINGS_ENABLE_PUSH is \(value): only a client may say it (RFC 9113 6.5.2)")
                }
            case .maxConcurrentStreams:
                guard value > 0 || settingsReceived else {
                    throw violation(
                        "the server's SETTINGS_MAX_CONCURRENT_STREAMS is 0: it takes no request (a server that is shutting down?)"
                    )
                }
                serverMaximumStreams = Int(value)
            case .initialWindowSize:
                guard value <= UInt32(HTTP2.maximumWindow) else {
                    throw violation(
                        "the server's SETTINGS_INITIAL_WINDOW_SIZE is \(value), over 2^31-1 (FLOW_CONTROL_ERROR)")
                }
                // Every open stream's window moves by the change (RFC 9113 6.9.2), below 0 included.
                let delta = Int(value) - serverInitialWindow
                serverInitialWindow = Int(value)
                for i in 0..<slotCount where slots[i].state != 0 {
                    slots[i].sendWindow += delta
                    guard slots[i].sendWindow <= HTTP2.maximumWindow else {
                        throw violation(
                            "the server's SETTINGS_INITIAL_WINDOW_SIZE takes stream \(slots[i].stream)'s window over 2^31-1 (FLOW_CONTROL_ERROR)"
                        )
                    }
                }
            case .maxFrameSize:
                guard value >= 16_384, value <= 16_777_215 else {
                    throw violation("the server's SETTINGS_MAX_FRAME_SIZE is \(value), not within 16384…16777215")
                }
                serverMaximumFrame = Int(value)
            case .maxHeaderListSize, nil:
                break
            }
        }
        settingsReceived = true
        appendHeader(length: 0, type: .settings, flags: HTTP2.Flag.ack, stream: 0)
    }

    func goAwayFrame(_ payload: UnsafeRawBufferPointer, stream: UInt32) throws {
        guard stream == 0, payload.count >= 8 else {
            throw violation("the server sent a GOAWAY of \(payload.count) bytes on stream \(stream) (8 or more on 0)")
        }
        let last = HTTP2.load32(payload.baseAddress!, 0) & 0x7FFF_FFFF
        let code = HTTP2.load32(payload.baseAddress!, 4)
        guard code == 0 else {
            let debug = UnsafeRawBufferPointer(rebasing: payload[8...])
            throw violation(
                "the server ended the connection with GOAWAY \(HTTP2.errorName(code))\(debug.isEmpty ? "" : ": \(HTTP1.quote(debug, 0..<debug.count))")"
            )
        }
        guard last <= goAway ?? 0x7FFF_FFFF else {
            throw violation("the server's second GOAWAY raises the last stream from \(goAway!) to \(last)")
        }
        goAway = last
        // Streams above the last one were not processed: free them (the driver sends them again).
        for i in 0..<slotCount where slots[i].state != 0 && slots[i].stream > last {
            if slots[i].end {
                throw violation(
                    "the server's GOAWAY (last stream \(last)) leaves out the end of the trial (stream \(slots[i].stream))"
                )
            }
            requeue(i)
        }
    }
}
