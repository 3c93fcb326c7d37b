/// The frame every data message travels in, on every transport:
///
/// ```
/// offset  size  field
///      0     4  payload length in bytes (1 ... 4 MiB)
///      4     4  kind (0 data, 1 end of trial, 2 end acknowledged)
///      8     8  sequence number, from 0 in each trial phase
///     16     8  checksum of the payload (see `PayloadChecksum`)
///     24     8  sender's CLOCK_MONOTONIC at send, in nanoseconds
/// ```
/// Fields are little-endian. The message size a user asks for is the payload; the header's 32
/// bytes ride on top of it, so bytes/s counts payload bytes only.
public struct FrameHeader: Equatable, Sendable {
    /// Bytes in the header.
    public static let size = 32

    /// What a frame means.
    public enum Kind: UInt32, Sendable {
        case data = 0
        case endOfTrial = 1
        case endAcknowledged = 2
    }

    public var payloadLength: UInt32
    public var kind: Kind
    public var sequence: UInt64
    public var checksum: UInt64
    public var timestamp: UInt64

    public init(payloadLength: UInt32, kind: Kind, sequence: UInt64, checksum: UInt64, timestamp: UInt64) {
        self.payloadLength = payloadLength
        self.kind = kind
        self.sequence = sequence
        self.checksum = checksum
        self.timestamp = timestamp
    }

    /// Writes the header into the first 32 bytes of `buffer`.
    @inlinable
    public func write(to buffer: UnsafeMutableRawPointer) {
        buffer.storeBytes(of: payloadLength.littleEndian, toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: kind.rawValue.littleEndian, toByteOffset: 4, as: UInt32.self)
        buffer.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
        buffer.storeBytes(of: checksum.littleEndian, toByteOffset: 16, as: UInt64.self)
        buffer.storeBytes(of: timestamp.littleEndian, toByteOffset: 24, as: UInt64.self)
    }

    /// Reads a header from the first 32 bytes of `buffer`; nil when the kind is unknown.
    @inlinable
    public static func read(from buffer: UnsafeRawPointer) -> FrameHeader? {
        let rawKind = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard let kind = Kind(rawValue: rawKind) else { return nil }
        return FrameHeader(
            payloadLength: UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
            kind: kind,
            sequence: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            checksum: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            timestamp: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
    }
}

/// A Fletcher-style checksum over 8-byte words: `a` sums the words, `b` sums the running `a`, so
/// it catches flipped, lost and swapped words at memory speed (two adds per word). Its weights are
/// known, so a change in the first word updates it in O(1): that is how every message gets a
/// checksum that depends on its sequence number without the sender rereading the payload.
public enum PayloadChecksum {
    /// Sums of a payload: `a` (plain), `b` (position-weighted), `words` (count, last one padded).
    public struct Sums: Equatable, Sendable {
        public var a: UInt64
        public var b: UInt64
        public var words: UInt64

        @inlinable
        public init(a: UInt64, b: UInt64, words: UInt64) {
            self.a = a
            self.b = b
            self.words = words
        }

        @inlinable
        public var value: UInt64 { a ^ ((b << 32) | (b >> 32)) }
    }

    /// Sums of `bytes`, a trailing partial word padded with zeros.
    @inlinable
    public static func sums(_ bytes: UnsafeRawBufferPointer) -> Sums {
        var a: UInt64 = 0
        var b: UInt64 = 0
        let count = bytes.count
        let whole = count / 8
        guard let base = bytes.baseAddress else { return Sums(a: 0, b: 0, words: 0) }
        var i = 0
        while i < whole {
            a &+= UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self))
            b &+= a
            i &+= 1
        }
        var words = UInt64(whole)
        let rest = count - whole * 8
        if rest > 0 {
            var tail: UInt64 = 0
            for j in 0..<rest {
                tail |= UInt64(base.load(fromByteOffset: whole * 8 + j, as: UInt8.self)) << (8 * UInt64(j))
            }
            a &+= tail
            b &+= a
            words &+= 1
        }
        return Sums(a: a, b: b, words: words)
    }

    /// The checksum of `bytes`.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 { sums(bytes).value }

    /// The same checksum over bytes that arrive in pieces of any size (a record read from a file
    /// in several reads): `add` each piece in order, then `value` equals `checksum` of them all.
    public struct Accumulator: Sendable {
        @usableFromInline var sums = Sums(a: 0, b: 0, words: 0)
        /// Bytes of an unfinished word, the first in the low bits.
        @usableFromInline var pending: UInt64 = 0
        @usableFromInline var pendingBytes = 0

        public init() {}

        /// Adds the next `bytes`.
        @inlinable
        public mutating func add(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            var i = 0
            let count = bytes.count
            while pendingBytes > 0 && i < count {
                pending |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(pendingBytes))
                pendingBytes &+= 1
                i &+= 1
                if pendingBytes == 8 {
                    addWord(pending)
                    pending = 0
                    pendingBytes = 0
                }
            }
            let whole = (count &- i) / 8
            if whole > 0 {
                let rest = PayloadChecksum.sums(UnsafeRawBufferPointer(start: base + i, count: whole &* 8))
                // Appending words: every earlier `a` is counted once more per new word in `b`.
                sums.b &+= rest.b &+ sums.a &* rest.words
                sums.a &+= rest.a
                sums.words &+= rest.words
                i &+= whole &* 8
            }
            while i < count {
                pending |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(pendingBytes))
                pendingBytes &+= 1
                i &+= 1
            }
        }

        @inlinable
        mutating func addWord(_ word: UInt64) {
            sums.a &+= word
            sums.b &+= sums.a
            sums.words &+= 1
        }

        /// The checksum of everything added (a trailing partial word padded with zeros).
        @inlinable
        public var value: UInt64 {
            var copy = self
            if copy.pendingBytes > 0 { copy.addWord(copy.pending) }
            return copy.sums.value
        }
    }
}

/// The payload a sender sends: pseudo-random bytes fixed for a case, with the first (up to) 8
/// bytes XORed with the message's sequence number, so that each message differs from the last
/// and a stale or repeated payload fails its checksum.
public struct PayloadTemplate: Sendable {
    public let length: Int
    /// The first word as generated, before tagging (a partial word when length < 8).
    public let firstWord: UInt64
    /// Which bits of the first word exist (all 64 unless length < 8).
    public let tagMask: UInt64
    /// Sums of the untagged payload.
    public let baseSums: PayloadChecksum.Sums

    /// Fills `payload` with the case's pattern and remembers its checksum sums.
    public init(filling payload: UnsafeMutableRawBufferPointer, seed: UInt64) {
        var state = seed | 1
        for i in 0..<payload.count {
            // xorshift64*: cheap, deterministic, not compressible by accident.
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            payload[i] = UInt8(truncatingIfNeeded: (state &* 0x2545_F491_4F6C_DD1D) >> 56)
        }
        length = payload.count
        let firstBytes = min(8, payload.count)
        var word: UInt64 = 0
        for j in 0..<firstBytes { word |= UInt64(payload[j]) << (8 * UInt64(j)) }
        firstWord = word
        tagMask = firstBytes == 8 ? ~0 : (UInt64(1) << (8 * UInt64(firstBytes))) - 1
        baseSums = PayloadChecksum.sums(UnsafeRawBufferPointer(payload))
    }

    /// Writes the tag of `sequence` into the payload's first bytes and returns the checksum of the
    /// tagged payload, in O(1).
    @inlinable
    @inline(__always)
    public func tag(_ payload: UnsafeMutableRawPointer, sequence: UInt64) -> UInt64 {
        let tagged = (firstWord ^ sequence) & tagMask
        if length >= 8 {
            payload.storeBytes(of: tagged.littleEndian, toByteOffset: 0, as: UInt64.self)
        } else {
            for j in 0..<length {
                payload.storeBytes(
                    of: UInt8(truncatingIfNeeded: tagged >> (8 * UInt64(j))), toByteOffset: j, as: UInt8.self)
            }
        }
        return checksum(tagged: tagged)
    }

    /// The checksum of the payload tagged with `sequence`, without writing it: what a receiver
    /// expects of message `sequence` (an HTTP request carries its number in a header field).
    @inlinable
    @inline(__always)
    public func checksum(sequence: UInt64) -> UInt64 {
        checksum(tagged: (firstWord ^ sequence) & tagMask)
    }

    @inlinable
    @inline(__always)
    func checksum(tagged: UInt64) -> UInt64 {
        let delta = tagged &- firstWord
        var sums = baseSums
        sums.a &+= delta
        sums.b &+= sums.words &* delta
        return sums.value
    }
}
