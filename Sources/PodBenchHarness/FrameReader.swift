import PodBenchCore
import PodBenchTransports

/// Reads frames out of a channel through one buffer allocated per case: each `receiveSome`
/// takes as much as the kernel has, frames are parsed in place (no copy to hand them out), and
/// the rest of a partial frame moves to the front only when the buffer's tail cannot hold it.
public struct FrameReader<Channel: DataChannel> {
    public private(set) var channel: Channel
    let buffer: UnsafeMutableRawBufferPointer
    let maximumPayload: Int
    var start = 0
    var end = 0

    /// - Parameters:
    ///   - maximumPayload: the largest payload the peer may send; a larger length is a protocol
    ///     violation, not an allocation.
    ///   - capacity: the buffer's size, when not four of the largest frames (at least 256 KiB); it
    ///     must hold the largest message the reader takes whole.
    public init(channel: Channel, maximumPayload: Int, capacity: Int? = nil) {
        self.channel = channel
        self.maximumPayload = maximumPayload
        let frame = FrameHeader.size + maximumPayload
        let capacity = capacity ?? max(4 * frame, 256 << 10)
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
    }

    /// Frees the buffer.
    public func deallocate() { buffer.deallocate() }

    /// Reads from `channel` from now on, with nothing pending (the old channel's unread bytes
    /// are dropped): a client that reconnects keeps its buffer.
    public mutating func replaceChannel(_ channel: Channel) {
        self.channel = channel
        start = 0
        end = 0
    }

    /// The next frame: its header and its payload, valid until the next call.
    @inline(__always)
    public mutating func next() throws -> (header: FrameHeader, frame: UnsafeRawBufferPointer) {
        try next(from: channel)
    }

    /// `next()` for a hot loop that holds `channel` (this reader's channel) in a local: the channel
    /// is then lent to each receive as it is, where reading it out of this struct on every call
    /// would retain and release it (two atomic instructions per message on a class channel).
    @inline(__always)
    public mutating func next(from channel: Channel) throws -> (header: FrameHeader, frame: UnsafeRawBufferPointer) {
        if Channel.isDatagram { return try nextDatagram(from: channel) }
        try fill(FrameHeader.size, from: channel)
        let base = buffer.baseAddress!
        guard let header = FrameHeader.read(from: base + start) else {
            throw PodBenchError(
                .protocolViolation, "a data frame has an unknown kind: the stream is out of step or corrupted")
        }
        let length = Int(header.payloadLength)
        guard length <= maximumPayload else {
            throw PodBenchError(
                .protocolViolation, "a data frame says \(length) payload bytes, more than this case's \(maximumPayload)"
            )
        }
        let frameLength = FrameHeader.size + length
        try fill(frameLength, from: channel)
        let frame = UnsafeRawBufferPointer(start: base + start, count: frameLength)
        start += frameLength
        if start == end {
            start = 0
            end = 0
        }
        return (header, frame)
    }

    /// The next frame of this phase: over a datagram channel, frames stamped before `since` (the
    /// phase's start on this side) are left-overs of an earlier phase (a late echo, a retried
    /// hello or end) and are dropped; a stream channel has none, and this is `next(from:)`.
    @inline(__always)
    public mutating func next(from channel: Channel, since: UInt64) throws -> (
        header: FrameHeader, frame: UnsafeRawBufferPointer
    ) {
        while true {
            let next = try next(from: channel)
            if !Channel.isDatagram || next.header.timestamp >= since { return next }
        }
    }

    /// One datagram, one whole frame: its length must be the header's and its payload's exactly.
    @inline(__always)
    mutating func nextDatagram(from channel: Channel) throws -> (header: FrameHeader, frame: UnsafeRawBufferPointer) {
        let n = try channel.receiveSome(into: buffer)
        let base = UnsafeRawPointer(buffer.baseAddress!)
        guard n >= FrameHeader.size, let header = FrameHeader.read(from: base) else {
            if n == 0 { throw PodBenchError(.peerClosed, "the data connection was shut down") }
            throw PodBenchError(.protocolViolation, "a datagram of \(n) bytes is not a frame")
        }
        let length = Int(header.payloadLength)
        guard length <= maximumPayload, FrameHeader.size + length == n else {
            throw PodBenchError(
                .protocolViolation,
                "a datagram of \(n) bytes says \(length) payload bytes (this case's are at most \(maximumPayload))")
        }
        if header.kind == .endAcknowledged, header.checksum == DatagramChannel.goodbye, length == 0 {
            throw PodBenchError(.peerClosed, "the peer gave up on the data connection")
        }
        return (header, UnsafeRawBufferPointer(start: base, count: n))
    }

    @inline(__always)
    mutating func fill(_ count: Int, from channel: Channel) throws {
        if end - start >= count { return }
        if buffer.count - start < count {
            let pending = end - start
            if pending > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending) }
            start = 0
            end = pending
        }
        while end - start < count {
            end += try channel.receiveSome(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        }
    }
}

/// A frame to send, built in one buffer allocated per case: header then payload, so each
/// message leaves in one `send`.
public struct FrameWriter {
    public let buffer: UnsafeMutableRawBufferPointer
    public let template: PayloadTemplate
    public let payloadLength: Int

    public init(payloadLength: Int, seed: UInt64) {
        self.payloadLength = payloadLength
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FrameHeader.size + payloadLength, alignment: 64)
        template = PayloadTemplate(
            filling: UnsafeMutableRawBufferPointer(rebasing: buffer[FrameHeader.size...]), seed: seed)
    }

    public func deallocate() { buffer.deallocate() }

    /// Fills in message `sequence` (tag, checksum, timestamp) and returns the whole frame.
    @inline(__always)
    public func prepare(sequence: UInt64, timestamp: UInt64) -> UnsafeRawBufferPointer {
        let base = buffer.baseAddress!
        let checksum = template.tag(base + FrameHeader.size, sequence: sequence)
        FrameHeader(
            payloadLength: UInt32(payloadLength), kind: .data, sequence: sequence, checksum: checksum,
            timestamp: timestamp
        ).write(to: base)
        return UnsafeRawBufferPointer(buffer)
    }

    /// Flips one payload bit after the checksum was computed (test-only fault).
    public func corrupt() {
        let p = buffer.baseAddress! + FrameHeader.size + payloadLength / 2
        p.storeBytes(of: p.load(as: UInt8.self) ^ 0x10, as: UInt8.self)
    }
}

/// Sends a payload-less control frame on the data channel (end of trial and its acknowledgement).
/// Stamped now unless `timestamp` says otherwise.
func sendMarker<Channel: DataChannel>(
    _ kind: FrameHeader.Kind, sequence: UInt64, on channel: Channel, timestamp: UInt64? = nil
) throws {
    var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    try withUnsafeMutableBytes(of: &bytes) { raw in
        FrameHeader(
            payloadLength: 0, kind: kind, sequence: sequence, checksum: 0, timestamp: timestamp ?? MonotonicClock.now()
        )
        .write(to: raw.baseAddress!)
        try channel.sendAll(UnsafeRawBufferPointer(raw))
    }
    // A marker ends a phase (or answers its end): nothing may stay queued behind it.
    try channel.flush()
}
