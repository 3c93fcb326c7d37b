import PodBenchCore
import PodBenchResults

/// The table `run` and `client` print at the end: one row per case, medians across trials.
public enum ResultsTable {
    static let headers = [
        "transport", "workload", "size", "p50", "p99", "p99.9", "msg/s", "MB/s", "±", "cpu/msg cli", "cpu/msg srv",
        "cs/msg cli", "cs/msg srv", "vs limit",
    ]

    public static func render(_ run: RunResult) -> String {
        // A "lost" column after "±" only when the run has a datagram case (only they lose messages).
        let losses = CaseSummary.countsLosses(run.cases)
        let spread = headers.firstIndex(of: "±")! + 1
        let headers = losses ? Array(headers[..<spread]) + ["lost"] + Array(headers[spread...]) : headers
        var rows: [[String]] = []
        var notes: [String] = []
        for result in run.cases {
            let key = result.key
            let sizeText = ByteSize.format(key.messageSize)
            // Every field from the file is cleaned before it is laid out (one line per row).
            let transport = TextEscaping.terminal(
                ([key.transport.rawValue] + key.fileOptions.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
                    .joined(separator: " ")
            )
            switch result.status {
            case .ok:
                let s = CaseSummary(result)
                rows.append(
                    [
                        transport, key.workload.rawValue, sizeText,
                        s.p50.map(Format.nanoseconds) ?? "-", s.p99.map(Format.nanoseconds) ?? "-",
                        s.p999.map(Format.nanoseconds) ?? "-",
                        Format.rate(s.messagesPerSecond), Format.decimal(s.bytesPerSecond / 1e6),
                        Format.decimal(s.throughputSpread * 100) + "%",
                    ] + (losses ? [s.lossFraction.map(Format.loss) ?? "-"] : []) + [
                        Format.nanoseconds(s.clientCPUPerMessage), Format.nanoseconds(s.serverCPUPerMessage),
                        Format.decimal(s.clientSwitchesPerMessage), Format.decimal(s.serverSwitchesPerMessage),
                        LimitRatio.text(for: result, summary: s, run: run) ?? "-",
                    ])
            case .failed, .unavailable:
                let label = result.status == .failed ? "FAILED" : "unavailable"
                rows.append(
                    [transport, key.workload.rawValue, sizeText, label]
                        + Array(repeating: "", count: headers.count - 4))
                notes.append(TextEscaping.terminal("\(key): \(label): \(result.error ?? "no reason recorded")"))
            }
        }
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i < 3 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        var out = line(headers) + "\n"
        out += line(widths.map { String(repeating: "-", count: $0) }) + "\n"
        for row in rows { out += line(row) + "\n" }
        out +=
            "\nLatency: pingpong round trip, stream one-way delivery (sender's clock to arrival), rate the same from each message's intended send time; median of "
        out += "\(run.settings.trials) trials' percentiles. msg/s, MB/s: payload, "
        out += "median of trials; ±: (max-min)/median of msg/s.\n"
        if run.cases.contains(where: { $0.key.workload.speaksHTTP }) {
            // The HTTP workloads' rows count requests, their bodies the payload (docs/http.md).
            out +=
                "HTTP rows: latency of http1, http2 a request's round trip (its send to its answer's last byte), of http1-rate, http2-rate the same from its intended send time; msg/s counts requests, MB/s their bodies.\n"
        }
        out += "cpu/msg: user+system CPU time of each side's measuring "
        out += "thread per message; cs/msg: context switches per message.\n"
        if losses { out += CaseSummary.lossNote + "\n" }
        if run.calibration != nil {
            out +=
                "vs limit: pingpong p50 as a multiple of this machine's floor (cl: cache-line round trip, for shm that "
            out +=
                "spins; fx: futex wake round trip, for everything that sleeps), same-core or cross-core as --cpu pinned "
            out += "the sides (none when unpinned); stream MB/s as a share of single-core memcpy beyond the last-level "
            out +=
                "cache (mc). Floors are the lower, ceilings the higher of the limits measured before and after the run. "
            out += "See `podbench calibrate`.\n"
            if LimitRatio.drifted(run) {
                out +=
                    "? the machine's limits moved by more than 30% between the start and the end of the run (the host "
                out += "changed speed): compare those ratios with care, or run again.\n"
            }
        }
        let hops = HopCost.pairs(in: run)
        if !hops.isEmpty {
            out += "Hops: each case through the hop against the same case direct, measured back to back.\n"
            for hop in hops { out += "  " + TextEscaping.terminal(hop.text) + "\n" }
        }
        for note in notes { out += note + "\n" }
        // Names and error texts come from the run's file or its peer: nothing may drive the terminal.
        return out.split(separator: "\n", omittingEmptySubsequences: false).map { TextEscaping.terminal(String($0)) }
            .joined(separator: "\n")
    }
}

/// Each case against the limit that applies to it, from the run's calibration.
enum LimitRatio {
    /// A floor (the lower of before and after) or ceiling (the higher), and whether the two
    /// measurements disagree by more than 30%.
    static func limit(_ id: String, run: RunResult, ceiling: Bool) -> (value: Double, drifted: Bool)? {
        let values = [run.calibration, run.calibrationAfter].compactMap { $0?[id]?.median }.filter { $0 > 0 }
        guard let low = values.min(), let high = values.max() else { return nil }
        return (ceiling ? high : low, high / low > 1.3)
    }

    /// Whether any limit the table uses moved by more than 30% between the two calibrations.
    static func drifted(_ run: RunResult) -> Bool {
        [
            CalibrationMeasurement.cachelineCrossCore, CalibrationMeasurement.futexCrossCore,
            CalibrationMeasurement.memcpyLarge,
        ].contains { limit($0, run: run, ceiling: false)?.drifted == true }
    }

    static func text(for result: CaseResult, summary s: CaseSummary, run: RunResult) -> String? {
        guard run.calibration != nil else { return nil }
        switch result.key.workload {
        case .pingpong:
            // A floor is only meaningful when both sides sat where the floor was measured.
            guard let p50 = s.p50, let client = run.environment.clientPinning.asked,
                let server = run.environment.serverPinning.asked
            else { return nil }
            let sameCore = client == server
            let spins = result.key.transport == .shm && result.key.options["wait"] != "futex"
            let id =
                spins
                ? (sameCore ? CalibrationMeasurement.cachelineSameCore : CalibrationMeasurement.cachelineCrossCore)
                : (sameCore ? CalibrationMeasurement.futexSameCore : CalibrationMeasurement.futexCrossCore)
            guard let floor = limit(id, run: run, ceiling: false) else { return nil }
            return Format.decimal(p50 / floor.value) + "× " + (spins ? "cl" : "fx") + (floor.drifted ? "?" : "")
        case .stream:
            guard let ceiling = limit(CalibrationMeasurement.memcpyLarge, run: run, ceiling: true) else { return nil }
            return Format.decimal(s.bytesPerSecond / ceiling.value * 100) + "% mc" + (ceiling.drifted ? "?" : "")
        case .rate, .http1, .http2, .http1Rate, .http2Rate:
            return nil
        }
    }
}
