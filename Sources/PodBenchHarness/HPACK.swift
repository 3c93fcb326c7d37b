import PodBenchCore

/// HPACK (RFC 7541), the header compression of HTTP/2, as podbench's HTTP/2 client needs it: a
/// decoder that takes everything a server may send (the static and dynamic tables, Huffman-coded
/// strings, table size updates) and allocates nothing per header block, and the encoding of the
/// client's own request blocks, built once per connection. Every block comes from a peer that may
/// be hostile: every integer, length and index is checked before it is used, and anything but a
/// well-formed block is a protocol violation named in words (a connection error in RFC 9113's
/// terms: the decoder's state is then unknown, and the connection ends).
public enum HPACK {
    /// RFC 7541 Appendix A: the static table, entries 1 through 61.
    static let staticEntries: [(name: String, value: String)] = [
        (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
        (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
        (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
        ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""),
        ("cache-control", ""), ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""),
        ("content-length", ""), ("content-location", ""), ("content-range", ""), ("content-type", ""),
        ("cookie", ""), ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""),
        ("if-match", ""), ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
        ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""), ("max-forwards", ""),
        ("proxy-authenticate", ""), ("proxy-authorization", ""), ("range", ""), ("referer", ""), ("refresh", ""),
        ("retry-after", ""), ("server", ""), ("set-cookie", ""), ("strict-transport-security", ""),
        ("transfer-encoding", ""), ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
    ]

    /// The static table's bytes in one buffer that lives as long as the process, and where each
    /// entry's name and value lie in it: a field taken from the table is handed out in place.
    struct StaticTable {
        let bytes: UnsafeRawPointer
        /// Per entry (index 1...61 at 0...60): name offset, name length, value offset, value length.
        let spans: UnsafeMutablePointer<(Int, Int, Int, Int)>

        init() {
            let total = HPACK.staticEntries.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
            let storage = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 8)
            var spans: [(Int, Int, Int, Int)] = []
            var offset = 0
            for entry in HPACK.staticEntries {
                let name = Array(entry.name.utf8)
                let value = Array(entry.value.utf8)
                storage.advanced(by: offset).copyMemory(from: name, byteCount: name.count)
                storage.advanced(by: offset + name.count).copyMemory(from: value, byteCount: value.count)
                spans.append((offset, name.count, offset + name.count, value.count))
                offset += name.count + value.count
            }
            bytes = UnsafeRawPointer(storage)
            self.spans = .allocate(capacity: spans.count)
            self.spans.initialize(from: spans, count: spans.count)
        }

        @inline(__always)
        func field(_ index: Int) -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
            let span = spans[index - 1]
            return (
                UnsafeRawBufferPointer(start: bytes + span.0, count: span.1),
                UnsafeRawBufferPointer(start: bytes + span.2, count: span.3)
            )
        }
    }

    nonisolated(unsafe) static let staticTable = StaticTable()

    /// The size RFC 7541 counts for an entry: its name's and value's octets and 32.
    @inline(__always)
    static func entrySize(_ nameLength: Int, _ valueLength: Int) -> Int { nameLength + valueLength + 32 }

    // MARK: - Integers (RFC 7541 5.1)

    /// The largest integer a block may carry: more than any length or index a block can hold,
    /// small enough that adding it to an offset cannot overflow.
    static let maximumInteger = 1 << 24

    /// Reads an integer with an `prefix`-bit prefix starting at `base[offset]` (the byte's other
    /// bits are the caller's), moving `offset` past it.
    @inline(__always)
    static func readInteger(_ base: UnsafeRawPointer, _ count: Int, _ offset: inout Int, prefix: Int) throws -> Int {
        let mask = (1 << prefix) - 1
        var value = Int(base.load(fromByteOffset: offset, as: UInt8.self)) & mask
        offset += 1
        if value < mask { return value }
        var shift = 0
        while true {
            guard offset < count else {
                throw PodBenchError(.protocolViolation, "an HPACK block ends inside an integer")
            }
            let byte = Int(base.load(fromByteOffset: offset, as: UInt8.self))
            offset += 1
            value += (byte & 0x7F) << shift
            guard value <= maximumInteger else {
                throw PodBenchError(
                    .protocolViolation,
                    "an HPACK block carries an integer over \(maximumInteger) (a length or index no block holds)")
            }
            if byte & 0x80 == 0 { return value }
            shift += 7
            // Four groups of 7 bits reach past the maximum: a fifth (even of zeros, which would
            // shift a later one beyond the word) is refused.
            guard shift <= 21 else {
                throw PodBenchError(
                    .protocolViolation,
                    "an HPACK block carries an integer over \(maximumInteger) (a length or index no block holds)")
            }
        }
    }

    /// Appends `value` with a `prefix`-bit prefix, the first byte's other bits set to `flags`.
    static func appendInteger(_ value: Int, prefix: Int, flags: UInt8, to out: inout [UInt8]) {
        let mask = (1 << prefix) - 1
        if value < mask {
            out.append(flags | UInt8(value))
            return
        }
        out.append(flags | UInt8(mask))
        var rest = value - mask
        while rest >= 128 {
            out.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    // MARK: - Huffman (RFC 7541 5.2, Appendix B)

    /// Appendix B's code lengths, symbols 0…255 and EOS (256). The code is canonical (codes of a
    /// length follow each other in symbol order, each length's first code continues the last
    /// length's), so the lengths are the whole table: `HPACKTests` checks the codes the RFC lists.
    static let codeLengths: [UInt8] = [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28,
        28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8,
        15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13,
        14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22,
        23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22,
        23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
        21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25,
        24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
    ]

    /// The canonical code, with what decoding needs: for each length, the first code's left-justified
    /// 30-bit limit (every code of this length is below it, every longer one at or above), and a
    /// lookup of the codes of up to 8 bits by the next 8 bits.
    /// The decoding tables live in memory allocated once for the process (no reference counting
    /// or bounds checks in the decoding loop).
    struct HuffmanCode {
        let codes: [UInt32]
        /// Indexed by length 0...30: codes of this length, left-justified to 30 bits, are below it.
        let limits: UnsafeMutablePointer<UInt32>
        /// Indexed by length: the index into `sorted` of the length's first code, minus that code.
        let offsets: UnsafeMutablePointer<Int>
        let sorted: UnsafeMutablePointer<UInt16>
        /// By the next 8 bits: symbol << 8 | length for a code of at most 8 bits, 0 for none.
        let short: UnsafeMutablePointer<UInt16>

        init() {
            let lengths = HPACK.codeLengths.map(Int.init)
            let sorted = (0..<257).sorted { (lengths[$0], $0) < (lengths[$1], $1) }
            var codes = [UInt32](repeating: 0, count: 257)
            var limits = [UInt32](repeating: 0, count: 31)
            var offsets = [Int](repeating: 0, count: 31)
            var code: UInt32 = 0
            var length = lengths[sorted[0]]
            for (i, symbol) in sorted.enumerated() {
                if i > 0 {
                    code = (code + 1) << UInt32(lengths[symbol] - length)
                    length = lengths[symbol]
                }
                codes[symbol] = code
            }
            for length in 1...30 {
                let ofLength = sorted.indices.filter { lengths[sorted[$0]] == length }
                if let first = ofLength.first {
                    let firstCode = codes[sorted[first]]
                    limits[length] = (firstCode + UInt32(ofLength.count)) << UInt32(30 - length)
                    offsets[length] = first - Int(firstCode)
                } else {
                    limits[length] = length == 0 ? 0 : limits[length - 1]
                }
            }
            var short = [UInt16](repeating: 0, count: 256)
            for byte in 0..<256 {
                let peek = UInt32(byte) << 22
                for length in 5...8 where peek < limits[length] {
                    let symbol = sorted[offsets[length] + Int(peek >> UInt32(30 - length))]
                    short[byte] = UInt16(symbol) << 8 | UInt16(length)
                    break
                }
            }
            self.codes = codes
            self.limits = .allocate(capacity: limits.count)
            self.limits.initialize(from: limits, count: limits.count)
            self.offsets = .allocate(capacity: offsets.count)
            self.offsets.initialize(from: offsets, count: offsets.count)
            self.sorted = .allocate(capacity: sorted.count)
            self.sorted.initialize(from: sorted.map { UInt16($0) }, count: sorted.count)
            self.short = .allocate(capacity: short.count)
            self.short.initialize(from: short, count: short.count)
        }
    }

    nonisolated(unsafe) static let huffman = HuffmanCode()

    /// Decodes the Huffman-coded `input` into `output`, returning the decoded length.
    /// - Throws: `.protocolViolation` for the EOS symbol, padding of more than 7 bits or not all
    ///   ones, or more output than `capacity`.
    @inline(__always)
    static func huffmanDecode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer, capacity: Int)
        throws -> Int
    {
        let short = huffman.short
        let limits = huffman.limits
        let offsets = huffman.offsets
        let sorted = huffman.sorted
        guard let base = input.baseAddress else { return 0 }
        let count = input.count
        var accumulator: UInt64 = 0
        var bits = 0
        var next = 0
        var written = 0
        while true {
            while bits <= 56 && next < count {
                accumulator = accumulator << 8 | UInt64(base.load(fromByteOffset: next, as: UInt8.self))
                bits += 8
                next += 1
            }
            if bits == 0 { break }
            if next == count && bits < 8 {
                let mask = (UInt64(1) << UInt64(bits)) - 1
                if accumulator & mask == mask { break }
            }
            // The next 30 bits, left-justified; past the input's end, ones (where only EOS lies).
            let peek: UInt32 =
                bits >= 30
                ? UInt32(truncatingIfNeeded: accumulator >> UInt64(bits - 30)) & 0x3FFF_FFFF
                : UInt32(truncatingIfNeeded: accumulator << UInt64(30 - bits) | ((1 << UInt64(30 - bits)) - 1))
                    & 0x3FFF_FFFF
            let symbol: Int
            let length: Int
            let entry = short[Int(peek >> 22)]
            if entry != 0 {
                symbol = Int(entry >> 8)
                length = Int(entry & 0xFF)
            } else {
                var l = 9
                while peek >= limits[l] { l += 1 }
                length = l
                symbol = Int(sorted[offsets[l] + Int(peek >> UInt32(30 - l))])
            }
            guard length <= bits else {
                throw PodBenchError(
                    .protocolViolation,
                    "an HPACK string's Huffman code ends inside a symbol (padding that is not all ones)")
            }
            guard symbol != 256 else {
                throw PodBenchError(.protocolViolation, "an HPACK string's Huffman code holds the EOS symbol")
            }
            guard written < capacity else {
                throw PodBenchError(.protocolViolation, "an HPACK string decodes to more than \(capacity) bytes")
            }
            output.storeBytes(of: UInt8(symbol), toByteOffset: written, as: UInt8.self)
            written += 1
            bits -= length
        }
        return written
    }

    /// `bytes` Huffman-coded (padded with ones).
    static func huffmanEncode(_ bytes: [UInt8]) -> [UInt8] {
        let code = huffman
        var out: [UInt8] = []
        var accumulator: UInt64 = 0
        var bits = 0
        for byte in bytes {
            let length = Int(codeLengths[Int(byte)])
            accumulator = accumulator << UInt64(length) | UInt64(code.codes[Int(byte)])
            bits += length
            while bits >= 8 {
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt64(bits - 8)))
                bits -= 8
            }
        }
        if bits > 0 {
            out.append(UInt8(truncatingIfNeeded: accumulator << UInt64(8 - bits)) | UInt8((1 << (8 - bits)) - 1))
        }
        return out
    }

    // MARK: - Encoding (the client's requests; tests' servers)

    /// How a field is represented.
    public enum Representation: Sendable {
        /// Literal with incremental indexing (RFC 7541 6.2.1): the field joins the peer's table.
        case indexing
        /// Literal without indexing (6.2.2).
        case withoutIndexing
        /// Literal never indexed (6.2.3).
        case neverIndexed
    }

    /// Appends a string literal, Huffman-coded when that is shorter (as nghttp2 does), or `huffman`.
    static func appendString(_ bytes: [UInt8], huffman: Bool? = nil, to out: inout [UInt8]) {
        let coded = huffmanEncode(bytes)
        if huffman ?? (coded.count < bytes.count) {
            appendInteger(coded.count, prefix: 7, flags: 0x80, to: &out)
            out += coded
        } else {
            appendInteger(bytes.count, prefix: 7, flags: 0, to: &out)
            out += bytes
        }
    }

    /// Appends an indexed field (6.1).
    public static func appendIndexed(_ index: Int, to out: inout [UInt8]) {
        appendInteger(index, prefix: 7, flags: 0x80, to: &out)
    }

    /// Appends a literal field whose name is `nameIndex` in the tables, or (nameIndex 0) `name`.
    public static func appendLiteral(
        name: String, nameIndex: Int = 0, value: String, _ representation: Representation, huffman: Bool? = nil,
        to out: inout [UInt8]
    ) {
        let (prefix, flags): (Int, UInt8) =
            switch representation {
            case .indexing: (6, 0x40)
            case .withoutIndexing: (4, 0x00)
            case .neverIndexed: (4, 0x10)
            }
        appendInteger(nameIndex, prefix: prefix, flags: flags, to: &out)
        if nameIndex == 0 { appendString(Array(name.utf8), huffman: huffman, to: &out) }
        appendString(Array(value.utf8), huffman: huffman, to: &out)
    }

    /// Appends a dynamic table size update (6.3).
    public static func appendSizeUpdate(_ size: Int, to out: inout [UInt8]) {
        appendInteger(size, prefix: 5, flags: 0x20, to: &out)
    }

    /// The static table's index of `name` (its first entry), or 0.
    static func staticIndex(name: String) -> Int {
        (staticEntries.firstIndex { $0.name == name }).map { $0 + 1 } ?? 0
    }

    /// The static table's index of `name: value`, or 0.
    static func staticIndex(name: String, value: String) -> Int {
        (staticEntries.firstIndex { $0.name == name && $0.value == value }).map { $0 + 1 } ?? 0
    }

    // MARK: - Decoding

    /// A header block decoder: one per connection (the dynamic table is the connection's). Buffers
    /// are allocated once; `decode` allocates nothing.
    public final class Decoder {
        /// The table size this side allows (its SETTINGS_HEADER_TABLE_SIZE).
        public let sizeLimit: Int
        /// The table's largest size now (a size update may lower it to as little as 0).
        public private(set) var maximumSize: Int
        /// The table's size now, by RFC 7541's count.
        public private(set) var size = 0
        /// Entries' bytes, appended at `written`, compacted when the end is reached: twice the limit.
        let storage: UnsafeMutableRawPointer
        let storageCapacity: Int
        var written = 0
        /// Entries, a ring, oldest at `first`: offset of the name, name length, value length.
        let entries: UnsafeMutablePointer<(offset: Int, name: Int, value: Int)>
        let entryCapacity: Int
        var first = 0
        public private(set) var count = 0
        /// Where Huffman-coded names and values are decoded to.
        let nameScratch: UnsafeMutableRawPointer
        let valueScratch: UnsafeMutableRawPointer
        let scratchCapacity: Int
        /// The longest name or value `decode` hands out.
        public var scratchLimit: Int { max(scratchCapacity, sizeLimit) }

        /// - Parameters:
        ///   - sizeLimit: SETTINGS_HEADER_TABLE_SIZE (4096 unless this side said otherwise).
        ///   - maximumBlock: the largest block `decode` is given (decoded strings are bounded by it).
        public init(sizeLimit: Int = 4096, maximumBlock: Int) {
            self.sizeLimit = sizeLimit
            maximumSize = sizeLimit
            storageCapacity = max(2 * sizeLimit, 64)
            storage = UnsafeMutableRawPointer.allocate(byteCount: storageCapacity, alignment: 8)
            entryCapacity = sizeLimit / 32 + 1
            entries = .allocate(capacity: entryCapacity)
            // A Huffman code's shortest symbol is 5 bits: at most 8/5 output bytes per input byte.
            scratchCapacity = max(maximumBlock * 8 / 5 + 8, sizeLimit)
            nameScratch = .allocate(byteCount: scratchCapacity, alignment: 8)
            valueScratch = .allocate(byteCount: scratchCapacity, alignment: 8)
        }

        deinit {
            storage.deallocate()
            entries.deallocate()
            nameScratch.deallocate()
            valueScratch.deallocate()
        }

        /// Back to a new connection's state: an empty table of the limit's size.
        public func reset() {
            maximumSize = sizeLimit
            size = 0
            written = 0
            first = 0
            count = 0
        }

        /// Entry `index` of the dynamic table, 1 the newest.
        @inline(__always)
        func dynamicField(_ index: Int) -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
            let entry = entries[(first + count - index) % entryCapacity]
            return (
                UnsafeRawBufferPointer(start: storage + entry.offset, count: entry.name),
                UnsafeRawBufferPointer(start: storage + entry.offset + entry.name, count: entry.value)
            )
        }

        /// Field `index` of the tables (1…61 static, 62… dynamic).
        @inline(__always)
        func field(_ index: Int) throws -> (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
            if index >= 1 && index <= 61 { return HPACK.staticTable.field(index) }
            guard index > 61, index - 61 <= count else {
                throw PodBenchError(
                    .protocolViolation,
                    "an HPACK block refers to table entry \(index), and the tables hold \(61 + count)")
            }
            return dynamicField(index - 61)
        }

        @inline(__always)
        func evictOldest() {
            let entry = entries[first]
            size -= HPACK.entrySize(entry.name, entry.value)
            first = (first + 1) % entryCapacity
            count -= 1
            if count == 0 {
                first = 0
                written = 0
            }
        }

        /// Adds `name: value` as the newest entry, evicting as RFC 7541 4.4 says (an entry larger
        /// than the table empties it and is not added). `name` and `value` must not lie in the table.
        @inline(__always)
        func insert(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
            let needed = HPACK.entrySize(name.count, value.count)
            while count > 0 && size + needed > maximumSize { evictOldest() }
            guard needed <= maximumSize else { return }
            let length = name.count + value.count
            if written + length > storageCapacity {
                // Move the live entries (at most `sizeLimit` bytes) to the front.
                var offset = 0
                for i in 0..<count {
                    let slot = (first + i) % entryCapacity
                    let entry = entries[slot]
                    let bytes = entry.name + entry.value
                    if entry.offset != offset {
                        (storage + offset).copyMemory(from: storage + entry.offset, byteCount: bytes)
                    }
                    entries[slot].offset = offset
                    offset += bytes
                }
                written = offset
            }
            if let source = name.baseAddress { (storage + written).copyMemory(from: source, byteCount: name.count) }
            if let source = value.baseAddress {
                (storage + written + name.count).copyMemory(from: source, byteCount: value.count)
            }
            entries[(first + count) % entryCapacity] = (written, name.count, value.count)
            count += 1
            size += needed
            written += length
        }

        /// Reads a string literal at `offset` into place (raw: in the block; Huffman: in `scratch`).
        @inline(__always)
        func readString(
            _ base: UnsafeRawPointer, _ blockCount: Int, _ offset: inout Int, scratch: UnsafeMutableRawPointer
        ) throws -> UnsafeRawBufferPointer {
            guard offset < blockCount else {
                throw PodBenchError(.protocolViolation, "an HPACK block ends before a string literal")
            }
            let coded = base.load(fromByteOffset: offset, as: UInt8.self) & 0x80 != 0
            let length = try HPACK.readInteger(base, blockCount, &offset, prefix: 7)
            guard length <= blockCount - offset else {
                throw PodBenchError(
                    .protocolViolation,
                    "an HPACK string literal says \(length) bytes, and its block has \(blockCount - offset) left")
            }
            let raw = UnsafeRawBufferPointer(start: base + offset, count: length)
            offset += length
            if !coded { return raw }
            let decoded = try HPACK.huffmanDecode(raw, into: scratch, capacity: scratchCapacity)
            return UnsafeRawBufferPointer(start: scratch, count: decoded)
        }

        /// Decodes one whole header block (HEADERS and its CONTINUATIONs, joined), calling `visit`
        /// with each field in order: name and value are valid during the call only.
        /// - Throws: `.protocolViolation` for anything RFC 7541 does not allow; what `visit` throws.
        @inline(__always)
        public func decode(
            _ block: UnsafeRawBufferPointer,
            _ visit: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void
        ) throws {
            guard let base = block.baseAddress else { return }
            let blockCount = block.count
            var offset = 0
            var fieldsSeen = false
            while offset < blockCount {
                let byte = base.load(fromByteOffset: offset, as: UInt8.self)
                if byte & 0x80 != 0 {
                    let index = try HPACK.readInteger(base, blockCount, &offset, prefix: 7)
                    guard index != 0 else {
                        throw PodBenchError(.protocolViolation, "an HPACK block refers to table entry 0")
                    }
                    let field = try field(index)
                    try visit(field.name, field.value)
                    fieldsSeen = true
                } else if byte & 0xE0 == 0x20 {
                    // A dynamic table size update: only before the block's first field.
                    guard !fieldsSeen else {
                        throw PodBenchError(
                            .protocolViolation, "an HPACK block updates the table's size after a field (RFC 7541 4.2)")
                    }
                    let newSize = try HPACK.readInteger(base, blockCount, &offset, prefix: 5)
                    guard newSize <= sizeLimit else {
                        throw PodBenchError(
                            .protocolViolation,
                            "an HPACK block sets the table's size to \(newSize), over the \(sizeLimit) this side allows"
                        )
                    }
                    maximumSize = newSize
                    while count > 0 && size > maximumSize { evictOldest() }
                } else {
                    let indexing = byte & 0xC0 == 0x40
                    let nameIndex = try HPACK.readInteger(base, blockCount, &offset, prefix: indexing ? 6 : 4)
                    var name: UnsafeRawBufferPointer
                    if nameIndex == 0 {
                        name = try readString(base, blockCount, &offset, scratch: nameScratch)
                    } else {
                        name = try field(nameIndex).name
                        if indexing && nameIndex > 61 && name.count > 0 {
                            // The entry may be evicted by this very insertion: take a copy first.
                            nameScratch.copyMemory(from: name.baseAddress!, byteCount: name.count)
                            name = UnsafeRawBufferPointer(start: nameScratch, count: name.count)
                        }
                    }
                    let value = try readString(base, blockCount, &offset, scratch: valueScratch)
                    if indexing { insert(name: name, value: value) }
                    try visit(name, value)
                    fieldsSeen = true
                }
            }
        }
    }
}
