import Foundation
import Histogram
import PodBenchCore
import PodBenchResults

/// The report's data files, for a spreadsheet, a notebook or HdrHistogram's own tools rather than
/// a person (docs/report.md "Data files"): `cases.csv` (one row per case, medians and the range
/// across trials), `trials.csv` (one row per case and trial), `capacity.csv` (the capacity table's
/// figures) and one HdrHistogram percentile distribution (`.hgrm`) per case. Every column names
/// its unit; every figure is in its base unit (nanoseconds, bytes, messages per second).
extension ReportBuilder {
    /// The folder (inside the report's) holding the `.hgrm` files.
    public static let histogramFolder = "histograms"

    /// The unit the `.hgrm` files give values in, and HdrHistogram's scaling ratio from nanoseconds.
    static let histogramUnit = (name: "microseconds", ratio: 1000.0)

    /// A case of one of the inputs, numbered across the whole report from 1.
    struct NumberedCase {
        var number: Int
        var input: Input
        var result: CaseResult
    }

    var numberedCases: [NumberedCase] {
        var all: [NumberedCase] = []
        for input in inputs {
            for c in input.run.cases { all.append(NumberedCase(number: all.count + 1, input: input, result: c)) }
        }
        return all
    }

    /// `text` reduced to characters safe in a file name anywhere (letters, digits, `.`, `-`, `_`,
    /// `=`; anything else `_`), at most `limit` characters: names come from results files.
    static func fileSafe(_ text: String, limit: Int = 80) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_=")
        return String(String(text.map { allowed.contains($0) ? $0 : "_" }).prefix(limit))
    }

    /// The `.hgrm` file of a case, relative to the report's folder: its number first (unique, and
    /// no name can start with a dot), then what it is.
    func histogramPath(_ c: NumberedCase) -> String {
        var parts = [String(format: "%03d", c.number)]
        if inputs.count > 1 { parts.append(Self.fileSafe(c.input.label, limit: 40)) }
        return Self.histogramFolder + "/"
            + Self.fileSafe((parts + Self.caseParts(c.result.key)).joined(separator: "-"), limit: 120)
            + ".hgrm"
    }

    /// What a case is, as pieces of a file name.
    static func caseParts(_ k: CaseKey) -> [String] {
        var parts = [k.transport.rawValue, k.workload.rawValue, "\(k.messageSize)B"]
        if let rate = k.rate { parts.append("\(rate)per_s") }
        let options = k.options
        parts += options.keys.sorted().map { "\($0)=\(options[$0]!)" }
        if let hop = k.hop { parts.append("via=\(hop.name)") }
        return parts
    }

    /// The `.hgrm` files, each histogram decoded once, and the file of each numbered case (none
    /// when it has no latency samples). Of a fleet, one file per case with every node's trials
    /// merged (`NNN-fleet-…`, the fleet's distribution; 24 files for 1,000 nodes of 24 cases, not
    /// 24,000): a node's own histograms are in a report of its file alone.
    func histogramFiles() -> (files: [(name: String, text: String)], paths: [Int: String]) {
        var files: [(name: String, text: String)] = []
        var paths: [Int: String] = [:]
        guard fleetOnly else {
            for n in numberedCases {
                guard let histogram = Self.mergedLatency(n.result) else { continue }
                let path = histogramPath(n)
                files.append((path, Self.hgrm(histogram)))
                paths[n.number] = path
            }
            return (files, paths)
        }
        // Each trial's histogram added where it ends up (no copy of a merged one per node and
        // case: 1,000 nodes × 20 cases of 200 KB each would be gigabytes).
        var order: [CaseKey] = []
        var slot: [CaseKey: Int] = [:]
        var histograms: [Histogram<UInt64>] = []
        var numbers: [[Int]] = []
        for n in numberedCases where n.result.status == .ok {
            let key = n.result.key
            var added = false
            for t in n.result.trials {
                guard let encoded = t.latency ?? t.oneWayLatency else { continue }
                let i: Int
                if let found = slot[key] {
                    i = found
                } else {
                    i = histograms.count
                    slot[key] = i
                    order.append(key)
                    histograms.append(EncodedHistogram.makeLatencyHistogram())
                    numbers.append([])
                }
                // A histogram beyond the merged one's range (validation keeps them within it) is passed over.
                guard (try? encoded.add(to: &histograms[i])) != nil else { continue }
                added = true
            }
            if added, let i = slot[key] { numbers[i].append(n.number) }
        }
        for (i, key) in order.enumerated() where histograms[i].totalCount > 0 {
            let name = ([String(format: "%03d", i + 1), "fleet"] + Self.caseParts(key)).joined(separator: "-")
            let path = Self.histogramFolder + "/" + Self.fileSafe(name, limit: 120) + ".hgrm"
            files.append((path, Self.hgrm(histograms[i])))
            for number in numbers[i] { paths[number] = path }
        }
        return (files, paths)
    }

    /// The latency histogram of all a finished case's trials merged: round trips for pingpong,
    /// one-way times for stream and rate. Nil when it has none. A histogram beyond podbench's range
    /// (validation keeps them within it) is passed over rather than trap the merge.
    static func mergedLatency(_ result: CaseResult) -> Histogram<UInt64>? {
        guard result.status == .ok else { return nil }
        var merged = EncodedHistogram.makeLatencyHistogram()
        for t in result.trials {
            guard let encoded = t.latency ?? t.oneWayLatency else { continue }
            _ = try? encoded.add(to: &merged)
        }
        return merged.totalCount > 0 ? merged : nil
    }

    /// HdrHistogram's percentile distribution of a case (what its plotter and
    /// HistogramLogAnalyzer read), values in microseconds.
    static func hgrm(_ histogram: Histogram<UInt64>) -> String {
        var text = ""
        histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: histogramUnit.ratio)
        return text
    }

    /// The transport option names of every case, sorted: one column each in the CSV files.
    static func optionNames(_ inputs: [Input]) -> [String] {
        Set(inputs.flatMap { $0.run.cases.flatMap { $0.key.options.keys } }).sorted()
    }

    /// The columns that say which case a row is, and a case's cells for them.
    var identityHeader: [String] {
        ["file", "transport", "workload", "size_bytes", "offered_rate_msg_per_s", "hop", "hop_in"]
            + optionNames.map { "option_" + $0 }
    }

    func identityCells(_ input: Input, _ key: CaseKey) -> [String] {
        [
            input.label, key.transport.rawValue, key.workload.rawValue, String(key.messageSize),
            key.rate.map(String.init) ?? "", key.hop?.name ?? "", key.hop?.entry.rawValue ?? "",
        ] + optionNames.map { key.options[$0] ?? "" }
    }

    /// What a case's latency columns measure.
    static func latencyKind(_ workload: WorkloadKind) -> String {
        switch workload {
        case .pingpong: "round trip"
        case .stream: "one way"
        case .rate: "one way from intended send"
        case .http1, .http2: "request to response"
        case .http1Rate, .http2Rate: "request to response from intended send"
        }
    }

    /// A CSV document: every field escaped (`TextEscaping.csv`: names come from results files).
    static func csvDocument(_ header: [String], _ rows: [[String]]) -> String {
        ([header] + rows).map { $0.map(TextEscaping.csv).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// Median, lowest and highest of `values`, as CSV cells (three empty cells when there are none).
    static func spreadCells(_ values: [Double]) -> [String] {
        guard let low = values.min(), let high = values.max() else { return ["", "", ""] }
        return [CaseSummary.median(values), low, high].map(Format.plain)
    }

    /// `cases.csv`: one row per case. Each figure is the median across the case's trials of that
    /// trial's figure (as the tables show), with `_min` and `_max` the lowest and highest trial.
    func casesCSV(histograms: [Int: String]) -> String {
        var header = identityHeader + ["status", "error", "trials", "latency"]
        for p in ["p50", "p90", "p99", "p999", "max"] { header += ["\(p)_ns", "\(p)_ns_min", "\(p)_ns_max"] }
        header += [
            "messages_per_s", "messages_per_s_min", "messages_per_s_max", "bytes_per_s", "bytes_per_s_min",
            "bytes_per_s_max", "lost_fraction", "client_cpu_ns_per_msg", "server_cpu_ns_per_msg",
            "hop_cpu_ns_per_msg", "client_context_switches_per_msg", "server_context_switches_per_msg",
            "histogram_file",
        ]
        var rows: [[String]] = []
        for n in numberedCases {
            let c = n.result
            let trials = c.status == .ok ? c.trials : []
            var row =
                identityCells(n.input, c.key) + [
                    c.status.rawValue, c.error ?? "", String(trials.count), Self.latencyKind(c.key.workload),
                ]
            let latencies = trials.compactMap { $0.latencySummary ?? $0.oneWayLatencySummary }
            for pick in [\LatencySummary.p50, \.p90, \.p99, \.p999, \.max] {
                row += Self.spreadCells(latencies.map { Double($0[keyPath: pick]) })
            }
            row += Self.spreadCells(trials.map(\.messagesPerSecond))
            row += Self.spreadCells(trials.map(\.bytesPerSecond))
            row.append(trials.isEmpty ? "" : CaseSummary.lossFraction(c).map(Format.plain) ?? "")
            for side in [\TrialResult.client.cpuNanosecondsPerMessage, \.server.cpuNanosecondsPerMessage] {
                row.append(trials.isEmpty ? "" : Format.plain(CaseSummary.median(trials.map { $0[keyPath: side] })))
            }
            let hop = trials.compactMap { $0.hop?.cpuNanosecondsPerMessage }
            row.append(hop.isEmpty ? "" : Format.plain(CaseSummary.median(hop)))
            for side in [\TrialResult.client.contextSwitchesPerMessage, \.server.contextSwitchesPerMessage] {
                row.append(trials.isEmpty ? "" : Format.plain(CaseSummary.median(trials.map { $0[keyPath: side] })))
            }
            row.append(histograms[n.number] ?? "")
            rows.append(row)
        }
        return Self.csvDocument(header, rows)
    }

    /// `trials.csv`: one row per trial of every finished case, the figures as the trial recorded them.
    func trialsCSV() -> String {
        let header =
            identityHeader + [
                "trial", "messages", "payload_bytes", "elapsed_ns", "messages_per_s", "bytes_per_s", "latency",
                "latency_samples", "min_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns", "mean_ns",
                "client_cpu_ns_per_msg", "server_cpu_ns_per_msg", "hop_cpu_ns_per_msg",
                "client_context_switches_per_msg", "server_context_switches_per_msg", "received", "lost",
            ]
        var rows: [[String]] = []
        for n in numberedCases where n.result.status == .ok {
            for t in n.result.trials {
                let l = t.latencySummary ?? t.oneWayLatencySummary
                let counts = n.result.key.workload.measuresRoundTrip ? t.client.integrity : t.server.integrity
                var row = identityCells(n.input, n.result.key)
                row += [String(t.index), String(t.messages), String(t.bytes), String(t.elapsedNanoseconds)]
                row += [Format.plain(t.messagesPerSecond), Format.plain(t.bytesPerSecond)]
                row += [Self.latencyKind(n.result.key.workload), l.map { String($0.count) } ?? ""]
                row += [l?.min, l?.p50, l?.p90, l?.p99, l?.p999, l?.max].map { $0.map(String.init) ?? "" }
                row += [l.map { Format.plain($0.mean) } ?? ""]
                row += [
                    Format.plain(t.client.cpuNanosecondsPerMessage), Format.plain(t.server.cpuNanosecondsPerMessage),
                ]
                row += [t.hop.map { Format.plain($0.cpuNanosecondsPerMessage) } ?? ""]
                row += [
                    Format.plain(t.client.contextSwitchesPerMessage), Format.plain(t.server.contextSwitchesPerMessage),
                ]
                row += [String(counts.received), counts.lost.map(String.init) ?? ""]
                rows.append(row)
            }
        }
        return Self.csvDocument(header, rows)
    }

    /// Every data file: name (relative to the report's folder) and text.
    func dataFiles() -> [(name: String, text: String)] {
        let histograms = histogramFiles()
        var files: [(String, String)] = [
            ("cases.csv", casesCSV(histograms: histograms.paths)), ("trials.csv", trialsCSV()),
        ]
        if !fleetOnly && !rateCurves().isEmpty { files.append(("capacity.csv", capacityCSV())) }
        if let fleet { files += fleetDataFiles(fleet) }
        return files + histograms.files
    }
}
