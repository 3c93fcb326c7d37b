/// Durations as the user writes them: `500ms`, `2s`, `250us`, `1.5` (seconds), `1m`.
public enum DurationText {
    /// Parses a duration into nanoseconds.
    /// - Throws: `.invalidConfiguration` naming the text.
    public static func parse(_ text: String, option: String) throws -> UInt64 {
        let t = text.trimmingSpaces()
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9)]
        var number = Substring(t)
        var scale = 1e9
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            number = t.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0, value * scale <= 86_400e9 else {
            throw PodBenchError(
                .invalidConfiguration,
                "\(option): '\(text)' is not a duration; write e.g. 500ms, 2s, 250us (at most 1 day)")
        }
        return UInt64(value * scale)
    }

    /// Writes nanoseconds in the largest unit that holds them exactly (`10s`, `1500ms`, `7ns`), a
    /// text `parse` reads back to the same value.
    public static func format(nanoseconds: UInt64) -> String {
        for (suffix, factor) in [("s", UInt64(1_000_000_000)), ("ms", 1_000_000), ("us", 1000)]
        where nanoseconds >= factor && nanoseconds % factor == 0 {
            return "\(nanoseconds / factor)\(suffix)"
        }
        return "\(nanoseconds)ns"
    }
}
