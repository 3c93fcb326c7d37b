import Glibc
import PodBenchCore

/// HTTP/1.1 as the `http1` workload speaks it (docs/http.md): a head parser for requests and
/// responses that reads the bytes where they arrived and allocates nothing, and the messages the
/// two sides send, built once per case. Everything it parses may come from a hostile peer or a
/// proxy that mangles: every length is checked before it is used, and anything but a well-formed
/// HTTP/1.1 head of at most `maximumHeadLength` bytes is a protocol violation named in words.
public enum HTTP1 {
    /// The longest head (start line and header fields, the empty line included) either side
    /// reads: twice nginx's default for one request line or field (`large_client_header_buffers`,
    /// 8 KiB). A longer one is a protocol violation, not an allocation.
    public static let maximumHeadLength = 16 << 10
    /// The largest Content-Length the parser takes at all (callers hold each message to its
    /// case's size); more digits than this needs are refused before they are added up.
    public static let maximumContentLength = 1 << 30

    /// A request's method, as far as podbench's server tells them apart.
    public enum Method: UInt8, Sendable {
        case get, head, post, other
    }

    /// A request's target, as far as podbench's server tells them apart.
    public enum Target: UInt8, Sendable {
        /// `/podbench/echo`: the workload's requests.
        case echo
        /// `/podbench/end`: the client's end of a phase (its `X-Podbench-Request` is the count it sent).
        case end
        case other
    }

    /// The head of one message: what the workloads read of it, and where it lies. No copies.
    public struct Head: Sendable, Equatable {
        /// Bytes from the start line through the empty line that ends the head.
        public var length: Int
        /// A response's status code (100–999); 0 for a request.
        public var status: Int = 0
        public var method: Method = .other
        public var target: Target = .other
        /// The body's length; nil when the message has no Content-Length field.
        public var contentLength: Int?
        /// The `X-Podbench-Request` field: 16 hexadecimal digits, podbench's request number (its own
        /// field: proxies rewrite `X-Request-Id`).
        public var requestID: UInt64?
        /// Whether a `Connection` field says `close`.
        public var closes = false
        /// Where the start line lies (offsets into the parsed bytes), for messages that name it.
        public var startLine: Range<Int> = 0..<0

        public init(length: Int) { self.length = length }
    }

    /// Parses the head at the start of `bytes`.
    /// - Returns: nil while the empty line that ends it has not arrived (and `bytes` is shorter
    ///   than `maximumHeadLength`).
    /// - Throws: `.protocolViolation` naming the first thing that is not HTTP/1.1.
    @inline(__always)
    public static func parseHead(_ bytes: UnsafeRawBufferPointer, response: Bool) throws -> Head? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
        let count = min(bytes.count, maximumHeadLength)
        var head = Head(length: 0)
        var lineStart = 0
        while true {
            guard let found = memchr(base + lineStart, 0x0A, count - lineStart) else {
                if bytes.count >= maximumHeadLength {
                    throw PodBenchError(
                        .protocolViolation,
                        "an HTTP head is longer than \(maximumHeadLength / 1024) KiB (no empty line ends it): \(quote(bytes, 0..<min(count, 80)))"
                    )
                }
                return nil
            }
            let lf = base.distance(to: UnsafeRawPointer(found))
            guard lf > lineStart, base.load(fromByteOffset: lf - 1, as: UInt8.self) == 0x0D else {
                throw PodBenchError(
                    .protocolViolation,
                    "a line of an HTTP head ends in a bare LF, not CRLF: \(quote(bytes, lineStart..<lf))")
            }
            let line = lineStart..<(lf - 1)
            if lineStart == 0 {
                if response {
                    try parseStatusLine(bytes, line, into: &head)
                } else {
                    try parseRequestLine(bytes, line, into: &head)
                }
                head.startLine = line
            } else if line.isEmpty {
                head.length = lf + 1
                return head
            } else {
                try parseField(bytes, line, into: &head)
            }
            lineStart = lf + 1
        }
    }

    /// `HTTP/1.1 SSS reason`: the version exactly, three digits, then nothing or a space and a
    /// reason phrase of visible characters.
    static func parseStatusLine(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>, into head: inout Head) throws {
        guard line.count >= 12, startsWith(bytes, line.lowerBound, "HTTP/1.") else {
            throw PodBenchError(.protocolViolation, "not an HTTP/1.1 status line: \(quote(bytes, line))")
        }
        guard bytes[line.lowerBound + 7] == UInt8(ascii: "1"), bytes[line.lowerBound + 8] == 0x20 else {
            throw PodBenchError(
                .protocolViolation,
                "the answer is not HTTP/1.1 (a keep-alive connection needs 1.1): \(quote(bytes, line))")
        }
        var status = 0
        for i in (line.lowerBound + 9)..<(line.lowerBound + 12) {
            let digit = bytes[i] &- UInt8(ascii: "0")
            guard digit < 10 else {
                throw PodBenchError(
                    .protocolViolation, "an HTTP status that is not three digits: \(quote(bytes, line))")
            }
            status = status * 10 + Int(digit)
        }
        guard status >= 100 else {
            throw PodBenchError(.protocolViolation, "an HTTP status below 100: \(quote(bytes, line))")
        }
        if line.count > 12 {
            guard bytes[line.lowerBound + 12] == 0x20, isText(bytes, (line.lowerBound + 13)..<line.upperBound) else {
                throw PodBenchError(
                    .protocolViolation, "an HTTP status line with a malformed reason: \(quote(bytes, line))")
            }
        }
        head.status = status
    }

    /// `METHOD target HTTP/1.1`: a token, a target of visible characters, the version exactly.
    static func parseRequestLine(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>, into head: inout Head) throws {
        var i = line.lowerBound
        while i < line.upperBound && isToken(bytes[i]) { i += 1 }
        let method = line.lowerBound..<i
        guard !method.isEmpty, i < line.upperBound, bytes[i] == 0x20 else {
            throw PodBenchError(.protocolViolation, "not an HTTP request line: \(quote(bytes, line))")
        }
        i += 1
        let targetStart = i
        while i < line.upperBound && bytes[i] > 0x20 && bytes[i] < 0x7F { i += 1 }
        let target = targetStart..<i
        guard !target.isEmpty, i < line.upperBound, bytes[i] == 0x20,
            line.upperBound - (i + 1) == 8, startsWith(bytes, i + 1, "HTTP/1.")
        else {
            throw PodBenchError(.protocolViolation, "not an HTTP/1.1 request line: \(quote(bytes, line))")
        }
        switch bytes[line.upperBound - 1] {
        case UInt8(ascii: "1"): break
        // An HTTP/1.0 request (nginx's proxy_pass unless proxy_http_version 1.1) is answered, then
        // its connection closed, as 1.0 without keep-alive means.
        case UInt8(ascii: "0"): head.closes = true
        default: throw PodBenchError(.protocolViolation, "not an HTTP/1.1 request line: \(quote(bytes, line))")
        }
        head.method =
            equals(bytes, method, "POST")
            ? .post : equals(bytes, method, "GET") ? .get : equals(bytes, method, "HEAD") ? .head : .other
        head.target =
            equals(bytes, target, "/podbench/echo") ? .echo : equals(bytes, target, "/podbench/end") ? .end : .other
    }

    /// `name: value`. The fields the workloads read are checked; others only for their grammar.
    static func parseField(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>, into head: inout Head) throws {
        var i = line.lowerBound
        while i < line.upperBound && isToken(bytes[i]) { i += 1 }
        let name = line.lowerBound..<i
        guard !name.isEmpty, i < line.upperBound, bytes[i] == UInt8(ascii: ":") else {
            throw PodBenchError(
                .protocolViolation,
                bytes[line.lowerBound] == 0x20 || bytes[line.lowerBound] == 0x09
                    ? "an HTTP field folded over two lines (obsolete, refused): \(quote(bytes, line))"
                    : "not an HTTP field: \(quote(bytes, line))")
        }
        i += 1
        var valueEnd = line.upperBound
        while i < valueEnd && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
        while valueEnd > i && (bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09) { valueEnd -= 1 }
        let value = i..<valueEnd
        guard isText(bytes, value) else {
            throw PodBenchError(.protocolViolation, "an HTTP field with a control character: \(quote(bytes, line))")
        }
        if equalsIgnoringCase(bytes, name, "content-length") {
            guard !value.isEmpty, value.count <= 10 else {
                throw PodBenchError(.protocolViolation, "a malformed Content-Length: \(quote(bytes, line))")
            }
            var length = 0
            for j in value {
                let digit = bytes[j] &- UInt8(ascii: "0")
                guard digit < 10 else {
                    throw PodBenchError(.protocolViolation, "a malformed Content-Length: \(quote(bytes, line))")
                }
                length = length * 10 + Int(digit)
            }
            guard length <= maximumContentLength else {
                throw PodBenchError(
                    .protocolViolation, "a Content-Length over \(maximumContentLength >> 20) MiB: \(quote(bytes, line))"
                )
            }
            if let earlier = head.contentLength, earlier != length {
                throw PodBenchError(
                    .protocolViolation, "two Content-Length fields that disagree (\(earlier) and \(length))")
            }
            head.contentLength = length
        } else if equalsIgnoringCase(bytes, name, "transfer-encoding") {
            // Chunked bodies are not read: podbench's messages carry their length, nginx and
            // haproxy keep it when they forward them. A length beside a transfer coding is also
            // how requests are smuggled past a proxy.
            throw PodBenchError(
                .protocolViolation,
                "a message with Transfer-Encoding (\(quote(bytes, value))): podbench reads bodies of a Content-Length only (docs/http.md)"
            )
        } else if equalsIgnoringCase(bytes, name, "x-podbench-request") {
            guard let id = requestID(UnsafeRawBufferPointer(rebasing: bytes[value])) else {
                throw PodBenchError(
                    .protocolViolation,
                    "an X-Podbench-Request that is not podbench's 16 hex digits: \(quote(bytes, line))")
            }
            if let earlier = head.requestID, earlier != id {
                throw PodBenchError(.protocolViolation, "two X-Podbench-Request fields that disagree")
            }
            head.requestID = id
        } else if equalsIgnoringCase(bytes, name, "connection") {
            // A list of tokens; `close` among them ends the connection after this message.
            var j = value.lowerBound
            while j < value.upperBound {
                while j < value.upperBound && (bytes[j] == 0x20 || bytes[j] == 0x09 || bytes[j] == UInt8(ascii: ",")) {
                    j += 1
                }
                let tokenStart = j
                while j < value.upperBound && bytes[j] != UInt8(ascii: ",") && bytes[j] != 0x20 && bytes[j] != 0x09 {
                    j += 1
                }
                if equalsIgnoringCase(bytes, tokenStart..<j, "close") { head.closes = true }
            }
        }
    }

    /// An `X-Podbench-Request` value, in both HTTP versions: exactly 16 hexadecimal digits.
    @inline(__always)
    static func requestID<Bytes: Collection<UInt8>>(_ value: Bytes) -> UInt64? {
        guard value.count == 16 else { return nil }
        var id: UInt64 = 0
        for c in value {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            id = id << 4 | UInt64(nibble)
        }
        return id
    }

    /// RFC 9110's tchar.
    @inline(__always)
    static func isToken(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// Field-value characters: visible ASCII, obs-text, space and tab; no other control byte.
    @inline(__always)
    static func isText(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        for i in range {
            let c = bytes[i]
            if (c < 0x20 && c != 0x09) || c == 0x7F { return false }
        }
        return true
    }

    @inline(__always)
    static func startsWith(_ bytes: UnsafeRawBufferPointer, _ at: Int, _ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard at + n <= bytes.count else { return false }
        return memcmp(bytes.baseAddress! + at, text.utf8Start, n) == 0
    }

    @inline(__always)
    static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: StaticString) -> Bool {
        range.count == text.utf8CodeUnitCount && startsWith(bytes, range.lowerBound, text)
    }

    /// Compares with a lower-case ASCII `text`, ignoring the case of `bytes`.
    @inline(__always)
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        let p = text.utf8Start
        for (k, i) in range.enumerated() {
            var c = bytes[i]
            if c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") { c |= 0x20 }
            if c != p[k] { return false }
        }
        return true
    }

    /// Bytes a peer sent, for a message: at most 120 of them, as text cleaned for a terminal.
    public static func quote(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        let cut = range.lowerBound..<min(range.upperBound, range.lowerBound + 120, bytes.count)
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[cut]), as: UTF8.self)
        return "'" + TextEscaping.terminal(text) + (cut.count < range.count ? "…'" : "'")
    }
}

/// The messages one side of an `http1` case sends, built once per case in one buffer: the head,
/// then the body (the case's payload pattern, tagged with the request's number as every
/// transport's payload is), then the short message that ends a phase. Preparing one writes the
/// request number into its head and the body's tag: nothing is allocated or copied. Requests and
/// responses have patterns of their own, so that a hop which reflects requests back as responses
/// is caught by the checksum.
public struct HTTP1MessageWriter {
    public let buffer: UnsafeMutableRawBufferPointer
    public let headLength: Int
    public let bodyLength: Int
    /// The pattern of the bodies this side sends.
    public let template: PayloadTemplate
    /// The pattern of the bodies the other side sends, for checking them.
    public let answerTemplate: PayloadTemplate
    /// Where the request number's 16 digits go in the head; the second is -1 when there is one.
    let idOffset: Int
    let secondIDOffset: Int
    let endOffset: Int
    let endLength: Int
    let endIDOffset: Int

    /// What the responses' pattern is seeded with, beside the case's seed.
    static let responseSeed: UInt64 = 0x5245_5350_4F4E_5345

    /// The client's request: `POST /podbench/echo` with the header fields a service's request
    /// through a mesh carries (docs/http.md lists them and says why).
    public static func request(bodyLength: Int, seed: UInt64) -> HTTP1MessageWriter {
        HTTP1MessageWriter(
            head: [
                "POST /podbench/echo HTTP/1.1",
                "Host: podbench",
                "User-Agent: podbench/\(PodBenchVersion.version)",
                "Accept: application/octet-stream",
                "Accept-Encoding: identity",
                "Authorization: Bearer pb.0123456789abcdef0123456789abcdef.0123456789abcdef",
                "Content-Type: application/octet-stream",
                "Content-Length: \(bodyLength)",
                "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ],
            idFields: ["X-Request-Id", "X-Podbench-Request"],
            end: ["POST /podbench/end HTTP/1.1", "Host: podbench", "Content-Length: 0"],
            bodyLength: bodyLength, seed: seed, answerSeed: seed ^ responseSeed)
    }

    /// The server's response to each request: `200 OK` and a body of the case's size.
    public static func response(bodyLength: Int, seed: UInt64) -> HTTP1MessageWriter {
        HTTP1MessageWriter(
            head: [
                "HTTP/1.1 200 OK",
                "Server: podbench",
                "Content-Type: application/octet-stream",
                "Content-Length: \(bodyLength)",
                "Cache-Control: no-store",
            ],
            idFields: ["X-Podbench-Request"],
            end: ["HTTP/1.1 200 OK", "Server: podbench", "Content-Length: 0"],
            bodyLength: bodyLength, seed: seed ^ responseSeed, answerSeed: seed)
    }

    /// `head` and `end` are lines without their CRLF; the head gets `idFields` last (one or two),
    /// the end `X-Podbench-Request`, each with the number's 16 digits.
    init(head: [String], idFields: [String], end: [String], bodyLength: Int, seed: UInt64, answerSeed: UInt64) {
        let zeros = Array(String(repeating: "0", count: 16).utf8)
        let crlf = Array("\r\n".utf8)
        var headBytes = Array((head.joined(separator: "\r\n") + "\r\n").utf8)
        var offsets: [Int] = []
        for field in idFields {
            headBytes += Array((field + ": ").utf8)
            offsets.append(headBytes.count)
            headBytes += zeros + crlf
        }
        headBytes += crlf
        var endBytes = Array((end.joined(separator: "\r\n") + "\r\nX-Podbench-Request: ").utf8)
        let endID = endBytes.count
        endBytes += zeros + crlf + crlf
        headLength = headBytes.count
        idOffset = offsets[0]
        secondIDOffset = offsets.count > 1 ? offsets[1] : -1
        self.bodyLength = bodyLength
        endOffset = headLength + bodyLength
        endIDOffset = endOffset + endID
        endLength = endBytes.count
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: endOffset + endLength, alignment: 64)
        buffer.copyBytes(from: headBytes)
        UnsafeMutableRawBufferPointer(rebasing: buffer[endOffset...]).copyBytes(from: endBytes)
        template = PayloadTemplate(
            filling: UnsafeMutableRawBufferPointer(rebasing: buffer[headLength..<endOffset]), seed: seed)
        // The other side's pattern: only its sums and first word are kept.
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bodyLength, 1), alignment: 64)
        defer { scratch.deallocate() }
        answerTemplate = PayloadTemplate(
            filling: UnsafeMutableRawBufferPointer(rebasing: scratch[..<bodyLength]), seed: answerSeed)
    }

    public func deallocate() { buffer.deallocate() }

    /// Message `sequence`, head and body, and its body's checksum.
    @inline(__always)
    public func prepare(sequence: UInt64) -> (message: UnsafeRawBufferPointer, checksum: UInt64) {
        let base = buffer.baseAddress!
        Self.writeHex(sequence, to: base + idOffset)
        if secondIDOffset >= 0 { Self.writeHex(sequence, to: base + secondIDOffset) }
        let checksum = template.tag(base + headLength, sequence: sequence)
        return (UnsafeRawBufferPointer(start: base, count: endOffset), checksum)
    }

    /// The message that ends a phase, carrying `count` (the requests sent, or answered).
    @inline(__always)
    public func end(count: UInt64) -> UnsafeRawBufferPointer {
        let base = buffer.baseAddress!
        Self.writeHex(count, to: base + endIDOffset)
        return UnsafeRawBufferPointer(start: base + endOffset, count: endLength)
    }

    /// Flips one body bit after the checksum was computed (test-only fault); again to undo.
    public func corrupt() {
        guard bodyLength > 0 else { return }
        let p = buffer.baseAddress! + headLength + bodyLength / 2
        p.storeBytes(of: p.load(as: UInt8.self) ^ 0x10, as: UInt8.self)
    }

    /// Sixteen lower-case hexadecimal digits.
    @inline(__always)
    static func writeHex(_ value: UInt64, to p: UnsafeMutableRawPointer) {
        for i in 0..<16 {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * i)) & 0xF
            p.storeBytes(of: nibble < 10 ? nibble + 48 : nibble + 87, toByteOffset: i, as: UInt8.self)
        }
    }
}

extension FrameReader {
    /// The next HTTP/1.1 head on this channel, parsed where it arrived (it stays in the buffer
    /// until `takeHTTP` takes it with its body).
    @inline(__always)
    mutating func nextHTTPHead(from channel: Channel, response: Bool) throws -> HTTP1.Head {
        while true {
            let pending = UnsafeRawBufferPointer(start: buffer.baseAddress! + start, count: end - start)
            if let head = try HTTP1.parseHead(pending, response: response) { return head }
            try fill(end - start + 1, from: channel)
        }
    }

    /// Takes the first `count` bytes (a head and its body), receiving what has not arrived; valid
    /// until the next read. `count` is at most a head and a body of the case's size, which the
    /// buffer always holds (`init(channel:maximumPayload:)`).
    @inline(__always)
    mutating func takeHTTP(_ count: Int, from channel: Channel) throws -> UnsafeRawBufferPointer {
        precondition(count <= buffer.count, "an HTTP message longer than the receive buffer")
        try fill(count, from: channel)
        let bytes = UnsafeRawBufferPointer(start: buffer.baseAddress! + start, count: count)
        start += count
        if start == end {
            start = 0
            end = 0
        }
        return bytes
    }

    /// Bytes received and not yet taken.
    var pendingCount: Int { end - start }

    /// The first `count` bytes received and not yet taken (at most `pendingCount`).
    func pendingBytes(_ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffer.baseAddress! + start, count: min(count, end - start))
    }
}
