import Glibc
import PodBenchCore

/// HTTP/2 (RFC 9113) framing as podbench's client speaks it: cleartext with prior knowledge (h2c,
/// as `h2load` and nginx's `listen … http2` without TLS speak it), the frame layout, the settings
/// and error codes, and the frames the client writes. docs/http.md says what is and is not taken.
public enum HTTP2 {
    /// The client connection preface (RFC 9113 3.4).
    public static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    public static let frameHeaderLength = 9
    /// The largest frame payload either side may send before SETTINGS_MAX_FRAME_SIZE says more;
    /// podbench's client never says more.
    public static let defaultMaximumFrameSize = 16_384
    /// The largest stream and connection window (2^31 - 1).
    public static let maximumWindow = 0x7FFF_FFFF
    /// The window podbench's client gives each stream and the connection, as `h2load -w 30 -W 30`
    /// (its default): 2^30 - 1 bytes.
    public static let clientWindow = (1 << 30) - 1

    public enum FrameType: UInt8, Sendable {
        case data = 0, headers, priority, resetStream, settings, pushPromise, ping, goAway, windowUpdate, continuation
    }

    public enum Flag {
        public static let endStream: UInt8 = 0x01
        public static let ack: UInt8 = 0x01
        public static let endHeaders: UInt8 = 0x04
        public static let padded: UInt8 = 0x08
        public static let priority: UInt8 = 0x20
    }

    public enum Setting: UInt16, Sendable {
        case headerTableSize = 1, enablePush, maxConcurrentStreams, initialWindowSize, maxFrameSize, maxHeaderListSize
    }

    /// RFC 9113 7's name of an error code (`0x…` for one it does not define).
    public static func errorName(_ code: UInt32) -> String {
        let names = [
            "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
            "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
        ]
        return Int(code) < names.count ? names[Int(code)] : "0x" + String(code, radix: 16)
    }

    /// The name of a frame type, for messages.
    public static func frameName(_ type: UInt8) -> String {
        switch FrameType(rawValue: type) {
        case .data: "DATA"
        case .headers: "HEADERS"
        case .priority: "PRIORITY"
        case .resetStream: "RST_STREAM"
        case .settings: "SETTINGS"
        case .pushPromise: "PUSH_PROMISE"
        case .ping: "PING"
        case .goAway: "GOAWAY"
        case .windowUpdate: "WINDOW_UPDATE"
        case .continuation: "CONTINUATION"
        case nil: "a frame of type \(type)"
        }
    }

    /// Appends a frame header.
    public static func appendFrameHeader(length: Int, type: UInt8, flags: UInt8, stream: UInt32, to out: inout [UInt8])
    {
        out += [
            UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 8),
            UInt8(truncatingIfNeeded: length), type, flags,
            UInt8(truncatingIfNeeded: stream >> 24) & 0x7F, UInt8(truncatingIfNeeded: stream >> 16),
            UInt8(truncatingIfNeeded: stream >> 8), UInt8(truncatingIfNeeded: stream),
        ]
    }

    /// Appends a whole frame.
    public static func appendFrame(
        type: FrameType, flags: UInt8 = 0, stream: UInt32, payload: [UInt8], to out: inout [UInt8]
    ) {
        appendFrameHeader(length: payload.count, type: type.rawValue, flags: flags, stream: stream, to: &out)
        out += payload
    }

    /// A SETTINGS payload.
    public static func settingsPayload(_ settings: [(Setting, UInt32)]) -> [UInt8] {
        var out: [UInt8] = []
        for (setting, value) in settings {
            out += [UInt8(setting.rawValue >> 8), UInt8(truncatingIfNeeded: setting.rawValue)]
            out += bigEndian(value)
        }
        return out
    }

    public static func bigEndian(_ value: UInt32) -> [UInt8] {
        [
            UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
            UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value),
        ]
    }

    @inline(__always)
    static func load32(_ base: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    static func store32(_ value: UInt32, _ base: UnsafeMutableRawPointer, _ offset: Int) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Whether `bytes` are `literal`'s bytes.
    @inline(__always)
    static func equals(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount
            && (bytes.count == 0 || memcmp(bytes.baseAddress!, literal.utf8Start, bytes.count) == 0)
    }
}

/// What both ends of an HTTP/2 connection hold, as podbench's sessions have them: a receive buffer
/// whose frames are parsed in place (compacted when less than a frame's room is left) and a send
/// buffer that frames are written into, sent by the driver. Allocated once; nothing per frame.
public class HTTP2Endpoint {
    final let receive: UnsafeMutableRawBufferPointer
    final var start = 0
    final var end = 0
    final let send: UnsafeMutableRawBufferPointer
    public final internal(set) var sendCount = 0

    init(receiveCapacity: Int, sendCapacity: Int) {
        receive = .allocate(byteCount: receiveCapacity, alignment: 64)
        send = .allocate(byteCount: sendCapacity, alignment: 64)
    }

    deinit {
        receive.deallocate()
        send.deallocate()
    }

    /// What to send now (valid until the next call that changes it).
    public final var pendingSend: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: send.baseAddress!, count: sendCount)
    }

    /// `pendingSend` was sent.
    public final func sent() { sendCount = 0 }

    /// The first `count` bytes of `pendingSend` were sent (a send that did not block took no more).
    public final func sent(_ count: Int) {
        precondition(count >= 0 && count <= sendCount)
        if count < sendCount {
            memmove(send.baseAddress!, send.baseAddress! + count, sendCount - count)
        }
        sendCount -= count
    }

    /// Where the next received bytes go: at least one frame's room.
    public final func receiveSpace() -> UnsafeMutableRawBufferPointer {
        if receive.count - end < HTTP2.frameHeaderLength + HTTP2.defaultMaximumFrameSize {
            let pending = end - start
            if pending > 0 { receive.baseAddress!.copyMemory(from: receive.baseAddress! + start, byteCount: pending) }
            start = 0
            end = pending
        }
        return UnsafeMutableRawBufferPointer(rebasing: receive[end...])
    }

    /// `count` bytes arrived in `receiveSpace()`.
    public final func received(_ count: Int) { end += count }

    final func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Each session bounds what it writes between two `sent()`s below the buffer's size; the
    /// check only guards that reasoning.
    @inline(__always)
    final func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(sendCount + bytes.count <= send.count, "HTTP/2 send buffer overrun")
        if bytes.count > 0 {
            (send.baseAddress! + sendCount).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
        sendCount += bytes.count
    }

    @inline(__always)
    final func appendHeader(length: Int, type: HTTP2.FrameType, flags: UInt8, stream: UInt32) {
        precondition(sendCount + HTTP2.frameHeaderLength <= send.count, "HTTP/2 send buffer overrun")
        let p = send.baseAddress! + sendCount
        p.storeBytes(of: UInt8(truncatingIfNeeded: length >> 16), as: UInt8.self)
        p.storeBytes(of: UInt8(truncatingIfNeeded: length >> 8), toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: UInt8(truncatingIfNeeded: length), toByteOffset: 2, as: UInt8.self)
        p.storeBytes(of: type.rawValue, toByteOffset: 3, as: UInt8.self)
        p.storeBytes(of: flags, toByteOffset: 4, as: UInt8.self)
        HTTP2.store32(stream, p, 5)
        sendCount += HTTP2.frameHeaderLength
    }

    /// The bytes `appendDecimal(value)` writes: an HPACK string literal's length byte (no Huffman)
    /// and the value's decimal digits.
    @inline(__always)
    static func decimalLiteralLength(_ value: UInt64) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return 1 + digits
    }

    /// Appends `value` as an HPACK string literal's value: its length (at most 20 digits, so
    /// the 7-bit prefix holds it) and its decimal digits, most significant first.
    @inline(__always)
    final func appendDecimal(_ value: UInt64) {
        let length = HTTP2Endpoint.decimalLiteralLength(value)
        precondition(sendCount + length <= send.count, "HTTP/2 send buffer overrun")
        let p = send.baseAddress! + sendCount
        p.storeBytes(of: UInt8(length - 1), as: UInt8.self)
        var rest = value
        for k in stride(from: length - 1, through: 1, by: -1) {
            p.storeBytes(of: UInt8(ascii: "0") + UInt8(rest % 10), toByteOffset: k, as: UInt8.self)
            rest /= 10
        }
        sendCount += length
    }

    /// The bytes `appendRequestID` writes: a length byte and 16 digits.
    static let requestIDLiteralLength = 17

    /// Appends `value` as an HPACK string literal's value (no Huffman) in podbench's
    /// `x-podbench-request` form, HTTP/1.1's too: 16 lower-case hexadecimal digits.
    @inline(__always)
    final func appendRequestID(_ value: UInt64) {
        precondition(sendCount + Self.requestIDLiteralLength <= send.count, "HTTP/2 send buffer overrun")
        let p = send.baseAddress! + sendCount
        p.storeBytes(of: UInt8(16), as: UInt8.self)
        HTTP1MessageWriter.writeHex(value, to: p + 1)
        sendCount += Self.requestIDLiteralLength
    }

    /// A WINDOW_UPDATE giving the peer `increment` more bytes on `stream` (0: the connection).
    @inline(__always)
    final func appendWindowUpdate(stream: UInt32, increment: Int) {
        appendFrame4(type: .windowUpdate, stream: stream, value: UInt32(increment))
    }

    /// A RST_STREAM of `stream` with error `code`.
    @inline(__always)
    final func appendReset(stream: UInt32, code: UInt32) {
        appendFrame4(type: .resetStream, stream: stream, value: code)
    }

    @inline(__always)
    private final func appendFrame4(type: HTTP2.FrameType, stream: UInt32, value: UInt32) {
        precondition(sendCount + HTTP2.frameHeaderLength + 4 <= send.count, "HTTP/2 send buffer overrun")
        appendHeader(length: 4, type: type, flags: 0, stream: stream)
        HTTP2.store32(value, send.baseAddress!, sendCount)
        sendCount += 4
    }

    /// The frame header at `start` (the caller checked that 9 bytes are there).
    @inline(__always)
    final func frameHeader() -> (length: Int, type: UInt8, flags: UInt8, stream: UInt32) {
        let header = UnsafeRawPointer(receive.baseAddress! + start)
        let length =
            Int(header.load(as: UInt8.self)) << 16 | Int(header.load(fromByteOffset: 1, as: UInt8.self)) << 8
            | Int(header.load(fromByteOffset: 2, as: UInt8.self))
        return (
            length, header.load(fromByteOffset: 3, as: UInt8.self), header.load(fromByteOffset: 4, as: UInt8.self),
            HTTP2.load32(header, 5) & 0x7FFF_FFFF
        )
    }
}
