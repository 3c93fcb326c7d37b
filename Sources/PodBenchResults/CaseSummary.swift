import Foundation

/// The medians across a case's trials, metric by metric: what the run's table shows. Comparisons
/// use the trial values themselves, never these.
public struct CaseSummary: Sendable {
    public var trials: Int
    public var p50: Double?
    public var p99: Double?
    public var p999: Double?
    public var messagesPerSecond: Double
    public var bytesPerSecond: Double
    public var clientCPUPerMessage: Double
    public var serverCPUPerMessage: Double
    public var clientSwitchesPerMessage: Double
    public var serverSwitchesPerMessage: Double
    /// (max − min) / median of messages/s across trials: how much the trials disagree.
    public var throughputSpread: Double
    /// Datagram channels: the share of messages sent that never arrived, over all trials
    /// (pingpong: round trips without an echo in time); nil for the stream channels.
    public var lossFraction: Double?

    public init(_ result: CaseResult) {
        let t = result.trials
        trials = t.count
        // Round trips for pingpong, one-way delivery times for stream.
        let latencies = t.compactMap { $0.latencySummary ?? $0.oneWayLatencySummary }
        p50 = latencies.isEmpty ? nil : Self.median(latencies.map { Double($0.p50) })
        p99 = latencies.isEmpty ? nil : Self.median(latencies.map { Double($0.p99) })
        p999 = latencies.isEmpty ? nil : Self.median(latencies.map { Double($0.p999) })
        messagesPerSecond = Self.median(t.map(\.messagesPerSecond))
        bytesPerSecond = Self.median(t.map(\.bytesPerSecond))
        clientCPUPerMessage = Self.median(t.map(\.client.cpuNanosecondsPerMessage))
        serverCPUPerMessage = Self.median(t.map(\.server.cpuNanosecondsPerMessage))
        clientSwitchesPerMessage = Self.median(t.map(\.client.contextSwitchesPerMessage))
        serverSwitchesPerMessage = Self.median(t.map(\.server.contextSwitchesPerMessage))
        let rates = t.map(\.messagesPerSecond)
        throughputSpread = messagesPerSecond > 0 ? ((rates.max() ?? 0) - (rates.min() ?? 0)) / messagesPerSecond : 0
        lossFraction = Self.lossFraction(result)
    }

    /// Under a table with a `lost` column: what it counts.
    public static let lossNote =
        "lost: datagram cases (udp, udp6, uds-dgram; sync-symlink, sync-rename: versions superseded before the follower looked) only, the messages sent that never arrived over all trials (pingpong: round trips without an echo within the loss deadline, 200 ms or half --timeout); their msg/s, MB/s and CPU per message count only what was delivered. A datagram channel may drop: losses are counted, not errors (docs/datagrams.md)."

    /// Whether any finished case of `cases` ran on a datagram channel (it counted its losses): a
    /// table of them then has a `lost` column.
    public static func countsLosses(_ cases: [CaseResult]) -> Bool {
        cases.contains { $0.status == .ok && lossFraction($0) != nil }
    }

    /// Lost over sent, summed over the trials, from the side that counts them: the client for
    /// pingpong (echoes), the receiver (server) otherwise.
    public static func lossFraction(_ result: CaseResult) -> Double? {
        var lost: UInt64 = 0
        var sent: UInt64 = 0
        var counted = false
        for trial in result.trials {
            let counts = result.key.workload.measuresRoundTrip ? trial.client.integrity : trial.server.integrity
            guard let l = counts.lost else { continue }
            counted = true
            lost &+= l
            sent &+= l &+ counts.received
        }
        guard counted else { return nil }
        return sent > 0 ? Double(lost) / Double(sent) : 0
    }

    /// The median of `values` (the mean of the middle two for an even count); 0 when empty.
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}

/// Number formats shared by the table, the progress lines, the reports and the charts: one
/// place, so that a figure reads the same everywhere. Each rounds to three significant digits
/// first and picks its unit and its digits from the rounded value, so a value just under a
/// boundary takes the next unit (`999,999` msg/s is `1.00M`, never `1000k`; `999.7 µs` is
/// `1.00ms`; `9.996` is `10.0`). Tested at every boundary (`FormatTests`).
public enum Format {
    /// `850ns`, `12.3µs`, `4.56ms`, `1.23s`.
    public static func nanoseconds(_ ns: Double) -> String {
        guard ns.isFinite else { return "-" }
        let rounded = abs(significant(ns))
        if rounded < 1_000 { return fixed(ns, digits: 0) + "ns" }
        if rounded < 1_000_000 { return decimal(ns / 1e3) + "µs" }
        if rounded < 1_000_000_000 { return decimal(ns / 1e6) + "ms" }
        return decimal(ns / 1e9) + "s"
    }

    /// Three significant digits, no exponent: `1.23`, `12.3`, `123`, `1234`.
    public static func decimal(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let magnitude = abs(significant(value))
        let digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2
        return fixed(value, digits: digits)
    }

    /// `value` rounded to `digits` significant digits (itself when 0 or not finite).
    public static func significant(_ value: Double, digits: Int = 3) -> Double {
        guard value.isFinite, value != 0 else { return value }
        let exponent = Int((log10(abs(value))).rounded(.down))
        let shift = digits - 1 - exponent
        // A power of ten built by multiplying (exact for the magnitudes figures have), applied so
        // that the scaled value is an integer to round.
        var scale = 1.0
        for _ in 0..<abs(shift) { scale *= 10 }
        return shift >= 0 ? (value * scale).rounded() / scale : (value / scale).rounded() * scale
    }

    /// A loss share: `0%` exactly when none was lost, `<0.001%` below a thousandth of a percent,
    /// to the thousandth below 1% (`0.012%`, `0.123%`), else three significant digits (`1.23%`,
    /// `74.4%`).
    public static func loss(_ fraction: Double) -> String {
        guard fraction.isFinite else { return "-" }
        if fraction <= 0 { return "0%" }
        let percent = fraction * 100
        if percent < 0.001 { return "<0.001%" }
        if percent < 1 { return fixed(percent, digits: 3) + "%" }
        return decimal(percent) + "%"
    }

    /// `950`, `12.3k`, `1.23M`, `4.56G`.
    public static func rate(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let rounded = abs(significant(value))
        if rounded >= 1e9 { return decimal(value / 1e9) + "G" }
        if rounded >= 1e6 { return decimal(value / 1e6) + "M" }
        if rounded >= 1e3 { return decimal(value / 1e3) + "k" }
        return decimal(value)
    }

    /// Payload bytes per second in decimal units, as network and disk figures are given:
    /// `950 B/s`, `12.3 kB/s`, `1.23 GB/s`.
    public static func bytesPerSecond(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let rounded = abs(significant(value))
        for (limit, unit) in [(1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s")] where rounded >= limit {
            return decimal(value / limit) + " " + unit
        }
        return decimal(value) + " B/s"
    }

    /// A figure for a data file (CSV) in its base unit, for a program rather than a person:
    /// whole numbers as integers, others to 12 significant digits (`%g`: an exponent only beyond
    /// 1e12 or under 1e-4), empty when not finite.
    public static func plain(_ value: Double) -> String {
        guard value.isFinite else { return "" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.12g", value)
    }

    /// `value` with `digits` digits after the point; `-` when it is not finite, and an exponent
    /// (`1.2e+30`) when it is too large for the digits (no figure from any file can trap here).
    public static func fixed(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (value * scale).rounded()
        guard abs(scaled) < 1e15 else { return String(format: "%.3g", value) }
        let negative = scaled < 0
        let whole = Int(abs(scaled))
        let integerPart = whole / Int(scale)
        let fraction = whole % Int(scale)
        var text = String(integerPart)
        if digits > 0 {
            let f = String(fraction)
            text += "." + String(repeating: "0", count: digits - f.count) + f
        }
        return negative ? "-" + text : text
    }
}
