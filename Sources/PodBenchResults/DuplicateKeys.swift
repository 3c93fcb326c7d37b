import Foundation

/// Finds a JSON object that names one key twice. JSON allows it, and readers disagree about it:
/// Foundation's decoder keeps one value, jq and Python's json the last, so a reviewer reading a
/// baseline with jq and the gate reading it with podbench would see different figures. A results
/// file with a repeated key is refused instead.
///
/// A single pass over the bytes with an explicit stack (no recursion, so no depth limit to hit);
/// keys are compared after their escapes are decoded (`"a"` and `"\u0061"` are the same key).
/// Input that is not valid JSON is not judged here: the decoder that runs next refuses it.
public enum DuplicateKeys {
    /// The path of the first repeated key (`cases[3].key.transport`), or nil when there is none.
    public static func first(in data: Data) -> String? {
        data.withUnsafeBytes { raw in first(in: raw.bindMemory(to: UInt8.self)) }
    }

    private enum Frame {
        /// `keys` indexes `keySets`, kept apart so that inserting a key never copies the set.
        case object(keys: Int, expectingKey: Bool, current: String?)
        case array(index: Int)
    }

    static func first(in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var stack: [Frame] = []
        var keySets: [Set<String>] = []
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                keySets.append([])
                stack.append(.object(keys: keySets.count - 1, expectingKey: true, current: nil))
                index += 1
            case UInt8(ascii: "["):
                stack.append(.array(index: 0))
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if case .object? = stack.last { keySets.removeLast() }
                if !stack.isEmpty { stack.removeLast() }
                index += 1
            case UInt8(ascii: ","):
                switch stack.last {
                case .object(let keys, _, let current)?:
                    stack[stack.count - 1] = .object(keys: keys, expectingKey: true, current: current)
                case .array(let position)?:
                    stack[stack.count - 1] = .array(index: position + 1)
                case nil: break
                }
                index += 1
            case UInt8(ascii: ":"):
                if case .object(let keys, _, let current)? = stack.last {
                    stack[stack.count - 1] = .object(keys: keys, expectingKey: false, current: current)
                }
                index += 1
            case UInt8(ascii: "\""):
                // A value's text is skipped, never decoded: only keys are compared (a results
                // file's strings are mostly histograms' base64, megabytes of it).
                guard case .object(let keys, true, _)? = stack.last else {
                    index = skipString(bytes, from: index + 1)
                    continue
                }
                let (text, next) = string(bytes, from: index + 1)
                index = next
                guard keySets[keys].insert(text).inserted else { return path(stack, key: text) }
                stack[stack.count - 1] = .object(keys: keys, expectingKey: false, current: text)
            default:
                index += 1
            }
        }
        return nil
    }

    private static func path(_ stack: [Frame], key: String) -> String {
        var out = ""
        for frame in stack.dropLast() {
            switch frame {
            case .object(_, _, let current): out += (out.isEmpty ? "" : ".") + (current ?? "?")
            case .array(let position): out += "[\(position)]"
            }
        }
        return out + (out.isEmpty ? "" : ".") + key
    }

    /// The string whose opening quote precedes `start`, decoded, and the index after its closing
    /// quote (the end of the input when it has none).
    private static func string(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> (String, Int) {
        var index = start
        var scalars = String.UnicodeScalarView()
        var plain: [UInt8] = []
        func flush() {
            guard !plain.isEmpty else { return }
            scalars.append(contentsOf: String(decoding: plain, as: UTF8.self).unicodeScalars)
            plain.removeAll(keepingCapacity: true)
        }
        var pendingHigh: UInt32?
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                break
            }
            guard byte == UInt8(ascii: "\\"), index + 1 < bytes.count else {
                plain.append(byte)
                index += 1
                continue
            }
            flush()
            let escaped = bytes[index + 1]
            index += 2
            var scalar: UInt32?
            switch escaped {
            case UInt8(ascii: "n"): scalar = 0x0A
            case UInt8(ascii: "t"): scalar = 0x09
            case UInt8(ascii: "r"): scalar = 0x0D
            case UInt8(ascii: "b"): scalar = 0x08
            case UInt8(ascii: "f"): scalar = 0x0C
            case UInt8(ascii: "u"):
                var value: UInt32 = 0
                var digits = 0
                while digits < 4, index < bytes.count, let digit = hexValue(bytes[index]) {
                    value = value << 4 | digit
                    index += 1
                    digits += 1
                }
                if (0xD800...0xDBFF).contains(value) {
                    pendingHigh = value
                    continue
                }
                if (0xDC00...0xDFFF).contains(value), let high = pendingHigh {
                    value = 0x10000 + ((high - 0xD800) << 10) + (value - 0xDC00)
                }
                scalar = value
            default: scalar = UInt32(escaped)  // \" \\ \/ and anything else as itself
            }
            pendingHigh = nil
            if let scalar, let unicode = Unicode.Scalar(scalar) { scalars.append(unicode) }
        }
        flush()
        return (String(scalars), index)
    }

    /// The index after the closing quote of the string whose opening quote precedes `start` (the
    /// end of the input when it has none): a backslash takes the byte after it along, as in
    /// `string`.
    private static func skipString(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""): return index + 1
            case UInt8(ascii: "\\"): index += 2
            default: index += 1
            }
        }
        return bytes.count
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
