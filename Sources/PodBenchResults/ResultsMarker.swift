import Foundation
import PodBenchCore

/// The lines that frame a results file printed on stdout (`client --print-results`), so that a
/// pod's log, saved with `kubectl logs`, carries the whole file, and `podbench collect` takes it
/// back out: `=== podbench results begin NAME BYTES ===`, the file, `=== podbench results end ===`.
public enum ResultsMarker {
    static let beginText = "=== podbench results begin "
    public static let end = "=== podbench results end ==="

    public static func begin(name: String, bytes: Int) -> String {
        "\(beginText)\(name) \(bytes) ==="
    }

    /// One results document found in a log.
    public struct Found: Sendable {
        /// The file name the run gave it (`20261122T003000Z-HOST.json`).
        public var name: String
        public var run: RunResult
        /// The document as printed.
        public var data: Data
    }

    /// Every results document in `log`, in order. Lines may carry a prefix that the log tool
    /// added (`kubectl logs --prefix`'s `[pod/NAME/client] `, `--timestamps`' time): the text in
    /// front of the begin marker is taken off every line, and a timestamp in front of each line
    /// when the begin line had one.
    /// - Throws: `.incompatibleResults` naming `source` and the line when a document is cut off,
    ///   its length is wrong, or it is not a valid results file.
    public static func extract(from log: String, source: String) throws -> [Found] {
        var found: [Found] = []
        let lines = log.split(separator: "\n", omittingEmptySubsequences: false)
        var index = 0
        while index < lines.count {
            let line = lines[index]
            guard let range = line.range(of: beginText) else {
                index += 1
                continue
            }
            let beginLine = index + 1
            let prefix = String(line[..<range.lowerBound])
            let timestamped = Self.isTimestamp(prefix)
            let header = line[range.upperBound...].split(separator: " ")
            guard header.count >= 3, let bytes = Int(header[1]), bytes >= 0 else {
                throw PodBenchError(
                    .incompatibleResults, "\(source):\(beginLine): a results begin line without a name and a length")
            }
            let name = String(header[0])
            var body: [Substring] = []
            index += 1
            var ended = false
            while index < lines.count {
                var text = lines[index]
                if timestamped, let space = text.firstIndex(of: " "), Self.isTimestamp(String(text[...space])) {
                    text = text[text.index(after: space)...]
                } else if !prefix.isEmpty, text.hasPrefix(prefix) {
                    text = text.dropFirst(prefix.count)
                }
                index += 1
                if text == end {
                    ended = true
                    break
                }
                body.append(text)
            }
            guard ended else {
                throw PodBenchError(
                    .incompatibleResults,
                    "\(source):\(beginLine): the results of \(name) are cut off (no end line): the log was truncated; "
                        + "save it again with `kubectl logs POD -c client` (no --tail, no --limit-bytes)")
            }
            let data = Data((body.joined(separator: "\n") + "\n").utf8)
            let run: RunResult
            do {
                run = try ResultsStore.decode(data, source: "\(source):\(beginLine) (\(name))")
            } catch let error as PodBenchError {
                let size =
                    data.count == bytes
                    ? "" : " (\(data.count) bytes where the run printed \(bytes): lines were lost or changed)"
                throw PodBenchError(error.code, error.message + size, cause: error.cause)
            }
            found.append(Found(name: name, run: run, data: data))
        }
        return found
    }

    /// `2026-11-22T07:01:02.123456789Z ` as kubectl --timestamps writes it.
    static func isTimestamp(_ text: String) -> Bool {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.count >= 20, text.hasSuffix(" "), trimmed.hasSuffix("Z") || trimmed.contains("+") else {
            return false
        }
        let chars = Array(trimmed.utf8)
        return chars[4] == UInt8(ascii: "-") && chars[7] == UInt8(ascii: "-") && chars[10] == UInt8(ascii: "T")
    }
}
