import Foundation
import PodBenchCore
import PodBenchTransports
import SystemPackage

/// A control-channel connection: versioned, length-prefixed frames carrying JSON.
///
/// ```
/// offset  size  field
///      0     4  magic "PBCT"
///      4     2  protocol version (little-endian)
///      6     2  reserved, zero
///      8     4  body length in bytes (little-endian), at most 1 MiB
///     12     n  body: one ControlMessage as JSON
/// ```
/// A frame of another version is answered with a `failure` in the reader's version and the
/// connection is closed: a peer of another podbench gets a clear error, never a hang.
public final class ControlConnection: @unchecked Sendable {
    public static let magic: [UInt8] = Array("PBCT".utf8)
    public static let headerSize = 12
    public static let maximumBody = 1 << 20

    public let descriptor: FileDescriptor
    /// How long one whole message may take to arrive (not each read: a peer that trickles bytes
    /// is held to the same bound as one that sends nothing).
    public let timeoutNanoseconds: UInt64
    private var closed = false

    public init(descriptor: FileDescriptor, timeoutNanoseconds: UInt64) throws {
        self.descriptor = descriptor
        self.timeoutNanoseconds = timeoutNanoseconds
        try descriptor.setIOTimeout(nanoseconds: timeoutNanoseconds)
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        try? descriptor.close()
    }

    /// Encodes one frame.
    public static func encodeFrame(_ message: ControlMessage, version: UInt16 = PodBenchVersion.controlProtocol) throws
        -> [UInt8]
    {
        let body = try JSONEncoder().encode(message)
        var frame = magic
        frame += [UInt8(version & 0xFF), UInt8(version >> 8), 0, 0]
        let n = UInt32(body.count)
        frame += [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8(n >> 24)]
        frame += body
        return frame
    }

    /// Sends one message.
    public func send(_ message: ControlMessage) throws {
        let frame = try Self.encodeFrame(message)
        let channel = SocketChannel(descriptor: descriptor)
        do {
            try frame.withUnsafeBytes { try channel.sendAll($0) }
        } catch let error as PodBenchError {
            throw PodBenchError(
                error.code, "the control connection failed while sending \(message.name): \(error.message)",
                cause: error.cause)
        }
    }

    /// Receives one message, waiting at most `waitNanoseconds` (the connection's timeout unless
    /// given).
    /// - Throws: `.peerClosed`, `.timeout`, or `.protocolViolation` for a bad frame (after telling
    ///   the peer why, when the fault is the peer's version).
    public func receive(waitNanoseconds: UInt64? = nil) throws -> ControlMessage {
        let deadline = MonotonicClock.now() &+ (waitNanoseconds ?? timeoutNanoseconds)
        defer { try? descriptor.setIOTimeout(nanoseconds: timeoutNanoseconds) }
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        try readExactly(&header, what: "a control frame header", deadline: deadline)
        let length: Int
        do {
            length = try Self.bodyLength(ofHeader: header)
        } catch let error as VersionMismatch {
            try? send(.failure(code: .protocolViolation, message: error.text))
            throw PodBenchError(.protocolViolation, "the peer speaks \(error.text)")
        }
        var body = [UInt8](repeating: 0, count: length)
        try readExactly(&body, what: "a control frame body", deadline: deadline)
        do {
            return try Self.decodeBody(body)
        } catch let error as PodBenchError {
            // Say why before the connection goes: a peer of another build, or a hand-written one,
            // learns which field is wrong (cut short: it quotes the peer's own input).
            try? send(.failure(code: .protocolViolation, message: String(error.message.prefix(400))))
            throw error
        }
    }

    /// A frame of another protocol version; `text` says which, for both sides.
    public struct VersionMismatch: Error {
        public var text: String
    }

    /// Checks a 12-byte frame header and returns the body's length.
    /// - Throws: `.protocolViolation` for a bad magic or an oversized length, `VersionMismatch`
    ///   for another version.
    public static func bodyLength(ofHeader header: [UInt8]) throws -> Int {
        guard header.count == headerSize, Array(header[0..<4]) == magic else {
            throw PodBenchError(
                .protocolViolation,
                "the peer is not speaking podbench's control protocol (bad magic); check the --control endpoint")
        }
        let version = UInt16(header[4]) | UInt16(header[5]) << 8
        guard version == PodBenchVersion.controlProtocol else {
            throw VersionMismatch(
                text:
                    "control protocol version \(version) is not \(PodBenchVersion.controlProtocol): run the same podbench version on both sides"
            )
        }
        let length = Int(header[8]) | Int(header[9]) << 8 | Int(header[10]) << 16 | Int(header[11]) << 24
        guard length <= maximumBody else {
            throw PodBenchError(.protocolViolation, "a control frame of \(length) bytes exceeds the 1 MiB limit")
        }
        return length
    }

    /// Decodes a frame's body.
    /// - Throws: `.protocolViolation` when it is not one valid message.
    public static func decodeBody(_ body: [UInt8]) throws -> ControlMessage {
        do {
            return try JSONDecoder().decode(ControlMessage.self, from: Data(body))
        } catch {
            throw PodBenchError(.protocolViolation, "a control frame does not hold a valid message: \(error)")
        }
    }

    /// Receives one message and fails unless `accept` takes it; a `failure` becomes an error.
    public func expect<T>(_ what: String, _ accept: (ControlMessage) -> T?) throws -> T {
        let message = try receive()
        if let value = accept(message) { return value }
        if case .failure(let code, let text) = message { throw PodBenchError(code, text) }
        throw PodBenchError(.protocolViolation, "expected \(what) on the control channel, got \(message.name)")
    }

    private func readExactly(_ bytes: inout [UInt8], what: String, deadline: UInt64) throws {
        let channel = SocketChannel(descriptor: descriptor)
        var offset = 0
        while offset < bytes.count {
            do {
                // What is left of the message's time, for this read: SO_RCVTIMEO alone would
                // start afresh with every byte.
                let now = MonotonicClock.now()
                guard now < deadline else {
                    throw PodBenchError(.timeout, "\(what) took longer than the timeout to arrive")
                }
                try descriptor.setIOTimeout(nanoseconds: max(deadline - now, 1000))
                offset += try bytes.withUnsafeMutableBytes {
                    try channel.receiveSome(into: UnsafeMutableRawBufferPointer(rebasing: $0[offset...]))
                }
            } catch let error as PodBenchError {
                let message =
                    switch error.code {
                    case .peerClosed: "the peer closed the control connection while podbench waited for \(what)"
                    case .timeout:
                        "the peer did not send a whole message on the control connection within the timeout (waiting for \(what))"
                    default: "reading \(what) failed: \(error.message)"
                    }
                throw PodBenchError(error.code, message, cause: error.cause)
            }
        }
    }
}
