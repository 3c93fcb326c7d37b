import Foundation
import PodBenchCore
import PodBenchResults

/// The top of report.md and index.html: when, where and how the files were measured, and the key
/// numbers per channel, so a reader has the answer before the first chart.
extension ReportBuilder {
    /// One line per results file (at most 5; then a count): date, node, kernel, CPU, pinning,
    /// isolation, trials, and how many cases finished.
    func summaryLines() -> [String] {
        var lines: [String] = []
        for input in inputs.prefix(5) {
            let run = input.run
            let c = run.environment.client
            let pinning: String
            switch (run.environment.clientPinning.asked, run.environment.serverPinning.asked) {
            case (nil, nil): pinning = "sides not pinned"
            case (let a, let b):
                pinning = "pinned client=\(a.map(String.init) ?? "any") server=\(b.map(String.init) ?? "any")"
            }
            let trial =
                run.settings.trialMessages.map { "\($0) messages" } ?? "\(Format.decimal(run.settings.trialSeconds)) s"
            let ok = run.cases.filter { $0.status == .ok }.count
            let others = Dictionary(grouping: run.cases.filter { $0.status != .ok }, by: \.status.rawValue)
                .sorted { $0.key < $1.key }.map { "\($0.value.count) \($0.key)" }
            lines.append(
                "\(inputs.count > 1 ? input.label + ": " : "")measured \(run.startedAt) on \(c.nodeName ?? c.hostname) "
                    + "(kernel \(c.kernelRelease), \(c.cpuModel), \(c.onlineCPUs) CPUs), \(pinning), isolation "
                    + "\(run.settings.isolation), \(run.settings.trials) trials of \(trial) per case; \(run.cases.count) cases: "
                    + (["\(ok) ok"] + others).joined(separator: ", ")
                    + (run.complete ? "" : "; incomplete: \(run.incompleteReason ?? "it did not finish")"))
        }
        if inputs.count > 5 { lines.append("and \(inputs.count - 5) more files (see Environment)") }
        return lines
    }

    /// The key numbers per channel (transport and options, per file when there are several): the
    /// round trip at the smallest pingpong size, the most payload a stream carried, and CPU per
    /// message at the smallest stream size.
    func keyNumberRows() -> [[String]] {
        var rows: [[String]] = []
        var order: [String] = []
        var byName: [String: [CaseResult]] = [:]
        for input in inputs {
            for c in input.run.cases where c.status == .ok && !c.trials.isEmpty && !c.key.workload.isOpenLoop {
                let name = seriesName(c.key, input)
                if byName[name] == nil { order.append(name) }
                byName[name, default: []].append(c)
            }
        }
        for name in order {
            let cases = byName[name]!
            let pingpong = cases.filter { $0.key.workload == .pingpong }.min { $0.key.messageSize < $1.key.messageSize }
            let streams = cases.filter { $0.key.workload == .stream }
            let peak = streams.max { CaseSummary($0).bytesPerSecond < CaseSummary($1).bytesPerSecond }
            let small = streams.min { $0.key.messageSize < $1.key.messageSize }
            let ping = pingpong.map(CaseSummary.init)
            let size = { (c: CaseResult?) in c.map { " (\(Self.sizeText($0.key.messageSize)))" } ?? "" }
            rows.append([
                name,
                ping?.p50.map { Format.nanoseconds($0) + size(pingpong) } ?? "-",
                ping?.p99.map { Format.nanoseconds($0) + size(pingpong) } ?? "-",
                peak.map { Format.bytesPerSecond(CaseSummary($0).bytesPerSecond) + size(peak) } ?? "-",
                small.map { s in
                    let x = CaseSummary(s)
                    return Format.nanoseconds(x.clientCPUPerMessage + x.serverCPUPerMessage) + size(small)
                } ?? "-",
            ])
        }
        return rows
    }

    static let keyNumberHeader = [
        "channel", "round trip p50", "round trip p99", "stream, most payload/s", "CPU per message, both sides (stream)",
    ]
}
