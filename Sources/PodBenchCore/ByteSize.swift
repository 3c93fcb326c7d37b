/// Message sizes as the user writes them: `64`, `1KiB`, `64KiB`, `1MiB`, `4MiB` (also `1k`, `1K`,
/// `1KB` as 1024), and lists of them separated by commas.
public enum ByteSize {
    /// The largest message podbench moves.
    public static let maximum = 4 << 20

    /// Parses one size, from 1 byte to `maximum`.
    /// - Throws: `PodBenchError.invalidConfiguration` naming the bad text.
    public static func parse(_ text: String, maximum: Int = ByteSize.maximum) throws -> Int {
        let trimmed = text.trimmingSpaces()
        var digits = Substring(trimmed)
        var unit = Substring("")
        if let firstNonDigit = trimmed.firstIndex(where: { !$0.isASCII || !$0.isNumber }) {
            digits = trimmed[..<firstNonDigit]
            unit = trimmed[firstNonDigit...]
        }
        guard !digits.isEmpty, let value = Int(digits) else {
            throw PodBenchError(
                .invalidConfiguration,
                "'\(text)' is not a size: write a number with an optional unit, e.g. 64, 1KiB, 4MiB")
        }
        let multiplier: Int
        switch unit.lowercased() {
        case "", "b": multiplier = 1
        case "k", "kb", "kib": multiplier = 1 << 10
        case "m", "mb", "mib": multiplier = 1 << 20
        case "g", "gb", "gib": multiplier = 1 << 30
        default:
            throw PodBenchError(
                .invalidConfiguration, "'\(text)' has an unknown unit '\(unit)': use B, KiB, MiB or GiB")
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow, bytes >= 1, bytes <= maximum else {
            throw PodBenchError(
                .invalidConfiguration, "size '\(text)' is out of range: 1 byte to \(format(maximum))")
        }
        return bytes
    }

    /// Parses a comma-separated list of sizes, keeping the user's order and dropping repeats.
    public static func parseList(_ text: String) throws -> [Int] {
        var sizes: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let size = try parse(String(part))
            if !sizes.contains(size) { sizes.append(size) }
        }
        return sizes
    }

    /// The shortest exact spelling of a size: `64`, `1KiB`, `1536`, `4MiB`.
    public static func format(_ bytes: Int) -> String {
        if bytes >= 1 << 30, bytes % (1 << 30) == 0 { return "\(bytes >> 30)GiB" }
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20)MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10)KiB" }
        return "\(bytes)"
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    public func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
