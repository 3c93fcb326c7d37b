import Foundation
import PodBenchCore
import PodBenchResults

/// The report's capacity section: per channel (transport, options and size) of the `rate` cases,
/// one sentence a planner can copy, a table whose columns cannot contradict each other, and
/// `capacity.csv` (docs/report.md "Capacity").
extension ReportBuilder {
    /// The `rate` cases of one channel, with its run's memcpy ceiling (calibrate's bandwidth
    /// beyond the last-level cache, the higher of before and after).
    struct RateCurve {
        var name: String
        var input: Input
        /// The channel's key, without a rate.
        var key: CaseKey
        var points: [CapacityPlanner.Point]
        var memcpy: Double?
        var size: Int { key.messageSize }
    }

    /// The open-loop cases (`rate`, `http1-rate`, `http2-rate`) as curves: one per file, transport, options and size, points by offered rate.
    func rateCurves() -> [RateCurve] {
        var order: [String] = []
        var curves: [String: RateCurve] = [:]
        for input in inputs {
            let ceilings = [input.run.calibration, input.run.calibrationAfter].compactMap {
                $0?[CalibrationMeasurement.memcpyLarge]?.median
            }
            for c in input.run.cases where c.key.workload.isOpenLoop {
                guard let point = CapacityPlanner.point(c) else { continue }
                // The raw frames' curve keeps its name; HTTP's says so (both may be in a run).
                let workload = c.key.workload == .rate ? "" : " \(c.key.workload.rawValue)"
                let name = seriesName(c.key, input) + workload + " " + Self.sizeText(c.key.messageSize)
                if curves[name] == nil {
                    order.append(name)
                    var key = c.key
                    key.rate = nil
                    curves[name] = RateCurve(name: name, input: input, key: key, points: [], memcpy: ceilings.max())
                }
                curves[name]!.points.append(point)
            }
        }
        return order.map {
            var curve = curves[$0]!
            curve.points.sort { $0.offered < $1.offered }
            return curve
        }
    }

    /// A channel's capacity figures, worked out once for the sentence, the table and the CSV.
    struct CapacityLine {
        var curve: RateCurve
        var knee: (point: CapacityPlanner.Point, broke: Bool)?
        var kneeBreak: (point: CapacityPlanner.Point, cause: String)?
        var assessment: CapacityPlanner.Assessment?
        /// The rate the cost is given at: the objective's capacity, or the knee without an objective.
        var basis: CapacityPlanner.Point?
        var saturation: Double
        /// Saturation's payload bytes/s over the memcpy ceiling; nil without calibrate.
        var memcpyShare: Double?
    }

    func capacityLines() -> [CapacityLine] {
        rateCurves().map { curve in
            let knee = CapacityPlanner.knee(curve.points)
            let assessment = objective.map { CapacityPlanner.assess(curve.points, objective: $0) }
            let saturation = CapacityPlanner.saturation(curve.points)
            return CapacityLine(
                curve: curve, knee: knee, kneeBreak: CapacityPlanner.kneeBreak(curve.points),
                assessment: assessment,
                basis: assessment.map { $0.capacity } ?? knee?.point, saturation: saturation,
                memcpyShare: curve.memcpy.map { saturation * Double(curve.size) / $0 })
        }
    }

    /// `1.23 cores`, `0.65 core`.
    static func coresText(_ cores: Double) -> String {
        let text = Format.decimal(cores)
        return text + (Double(text).map { $0 > 1 } ?? true ? " cores" : " core")
    }

    /// The capacity of a channel in one sentence: `uds 64 B: 200k msg/s at p99 ≤ 200µs using 0.65
    /// core for both sides.`, with what does not fit the simple reading after it.
    func sentence(_ line: CapacityLine) -> String {
        let name = line.curve.name
        let unit = line.curve.key.workload.speaksHTTP ? "req/s" : "msg/s"
        let at = { (p: CapacityPlanner.Point) in
            "using \(Self.coresText(CapacityPlanner.cores(p))) for both sides"
        }
        if let objective, let assessment = line.assessment {
            guard let capacity = assessment.capacity else {
                return "\(name): no rate tried meets \(objective) (\(assessment.description))."
            }
            var text =
                "\(name): \(CapacityPlanner.offeredText(capacity.offered)) \(unit) at \(objective) \(at(capacity))"
            if assessment.rates.last?.point.offered == capacity.offered { text += " (the highest rate tried)" }
            let below = assessment.missesBelow
            if !below.isEmpty {
                text +=
                    "; but misses it at the lower "
                    + below.map { "\(CapacityPlanner.offeredText($0.point.offered)) (\($0.miss))" }.joined(
                        separator: ", ")
            }
            if let next = assessment.rates.first(where: { $0.point.offered > capacity.offered }), let miss = next.miss {
                text += "; at \(CapacityPlanner.offeredText(next.point.offered)): \(miss)"
            }
            return text + "."
        }
        guard let knee = line.knee else {
            let first = line.kneeBreak.map { " (\(CapacityPlanner.offeredText($0.point.offered)): \($0.cause))" } ?? ""
            return "\(name): breaks at the lowest rate tried\(first)."
        }
        let tail = knee.point.p99.map { ", p99 \(Format.nanoseconds($0)) there" } ?? ""
        if !knee.broke {
            return
                "\(name): \(CapacityPlanner.offeredText(knee.point.offered)) \(unit), the highest rate tried, with no knee\(tail), \(at(knee.point))."
        }
        let past = line.kneeBreak.map { "; at \(CapacityPlanner.offeredText($0.point.offered)): \($0.cause)" } ?? ""
        return
            "\(name): \(CapacityPlanner.offeredText(knee.point.offered)) \(unit) before the knee\(tail), \(at(knee.point))\(past)."
    }

    /// The open-loop curves' unit, short and in words: messages for `rate`, requests for the HTTP
    /// workloads, both when a report has both.
    var rateUnit: (short: String, words: String) {
        let http = rateCurves().map(\.key.workload.speaksHTTP)
        if !http.isEmpty && http.allSatisfy({ $0 }) { return ("req/s", "requests/s") }
        if http.contains(true) { return ("msg/s or req/s", "messages or requests/s") }
        return ("msg/s", "messages/s")
    }

    var capacityHeader: [String] {
        let unit = rateUnit.short
        var header = ["channel", "knee (\(unit))"]
        if let objective {
            header += ["highest rate with \(objective) (\(unit))", "every rate tried against \(objective)"]
        }
        header += [
            objective == nil ? "CPU at the knee (both sides)" : "CPU there (both sides)",
            "\(unit) per core there", "saturation (most delivered, \(unit))", "saturation bytes/s vs memcpy beyond LLC",
        ]
        return header
    }

    func capacityCells(_ line: CapacityLine) -> [String] {
        var cells = [line.curve.name]
        if let knee = line.knee {
            cells.append(
                CapacityPlanner.offeredText(knee.point.offered)
                    + (knee.broke
                        ? line.kneeBreak.map { " (at \(CapacityPlanner.offeredText($0.point.offered)): \($0.cause))" }
                            ?? ""
                        : " (the highest tried; no knee)"))
        } else {
            cells.append(
                "below the lowest rate"
                    + (line.kneeBreak.map { " (\(CapacityPlanner.offeredText($0.point.offered)): \($0.cause))" } ?? ""))
        }
        if let assessment = line.assessment {
            cells += [
                assessment.capacity.map { CapacityPlanner.offeredText($0.offered) } ?? "none", assessment.description,
            ]
        }
        cells += [
            line.basis.map { Self.coresText(CapacityPlanner.cores($0)) } ?? "-",
            line.basis.flatMap(CapacityPlanner.ratePerCore).map(Format.rate) ?? "-",
            Format.rate(line.saturation),
            line.memcpyShare.map { Format.decimal($0 * 100) + "%" } ?? "- (no calibrate)",
        ]
        return cells
    }

    var capacityNote: String {
        """
        From the open-loop workloads (rate; http1-rate and http2-rate, in requests), per channel. The knee is where latency starts to climb: the last \
        offered rate before delivery falls under 95% of the offered rate or p99 more than doubles over \
        the best p99 of the lower rates (the cell says which, at which rate). \
        \(objective.map { "The objective (\($0)) is where latency stops being acceptable: a rate meets it when it delivers at least 95% and its \($0.percentile.rawValue) is within the bound; the highest rate that meets it is the capacity, and every rate tried is listed with why it missed, so a rate below the capacity that misses (a tail from idle wake-ups at a low rate is the common one) is seen for what it is rather than hiding the capacity. A knee below the capacity means latency climbs there but stays within the bound. " } ?? "Give --slo (e.g. p99=200us) for the highest rate that keeps an objective. ")\
        CPU is both sides' CPU time per message times the messages delivered per second at \
        \(objective == nil ? "the knee" : "the capacity"); \(rateUnit.short) per core is how many of them one \
        core's worth of that CPU carries. Saturation is the most any offered rate delivered, and next \
        to it its payload bytes per second as a share of this machine's single-core memcpy bandwidth \
        for a block larger than the last-level cache (podbench calibrate, recorded by the run): a \
        reference point, the ceiling of a channel that copies through memory; one whose data stays in \
        cache (a small shm ring) can go past it.
        """
    }

    /// `capacity.csv`: one row per channel, the capacity table's figures in base units.
    func capacityCSV() -> String {
        var header = ["file", "channel", "transport", "size_bytes", "hop", "hop_in"]
        header += optionNames.map { "option_" + $0 }
        header += [
            "rates_tried_msg_per_s", "knee_msg_per_s", "knee_p99_ns", "knee_broke", "break_msg_per_s",
            "break_cause", "objective", "objective_percentile", "objective_bound_ns", "objective_capacity_msg_per_s",
            "objective_misses_msg_per_s",
            "cost_at", "cpu_cores_both_sides", "msg_per_s_per_core", "saturation_msg_per_s",
            "saturation_bytes_per_s", "memcpy_bytes_per_s", "saturation_fraction_of_memcpy", "sentence",
        ]
        let rows = capacityLines().map { line -> [String] in
            let key = line.curve.key
            var row = [
                line.curve.input.label, line.curve.name, key.transport.rawValue, String(key.messageSize),
                key.hop?.name ?? "", key.hop?.entry.rawValue ?? "",
            ]
            row += optionNames.map { key.options[$0] ?? "" }
            row += [
                line.curve.points.map { Format.plain($0.offered) }.joined(separator: ";"),
                line.knee.map { Format.plain($0.point.offered) } ?? "",
                line.knee?.point.p99.map(Format.plain) ?? "",
                line.knee.map { $0.broke ? "true" : "false" } ?? "",
                line.kneeBreak.map { Format.plain($0.point.offered) } ?? "",
                line.kneeBreak?.cause ?? "",
                objective?.description ?? "", objective?.percentile.rawValue ?? "",
                objective.map { Format.plain($0.nanoseconds) } ?? "",
                line.assessment?.capacity.map { Format.plain($0.offered) } ?? "",
                line.assessment.map { a in
                    a.rates.filter { $0.miss != nil }.map { Format.plain($0.point.offered) }.joined(separator: ";")
                } ?? "",
                line.basis == nil ? "" : objective == nil ? "knee" : "objective",
                line.basis.map { Format.plain(CapacityPlanner.cores($0)) } ?? "",
                line.basis.flatMap(CapacityPlanner.ratePerCore).map(Format.plain) ?? "",
                Format.plain(line.saturation), Format.plain(line.saturation * Double(key.messageSize)),
                line.curve.memcpy.map(Format.plain) ?? "", line.memcpyShare.map(Format.plain) ?? "",
                sentence(line),
            ]
            return row
        }
        return Self.csvDocument(header, rows)
    }
}
