import Foundation
import Histogram
import PodBenchCore
import PodBenchResults

/// The report's charts. A channel (transport and options) has one colour in every chart; a file
/// one dash and marker; a chart that would hold more than `panelSeries` lines becomes small
/// multiples, panels of the same axes cut by message size or by channels.
extension ReportBuilder {
    /// The most lines one panel holds.
    static let panelSeries = 6

    /// A channel's name in legends: transport and options, without the file.
    func channelName(_ key: CaseKey) -> String { Self.channelName(key) }

    static func channelName(_ key: CaseKey) -> String {
        var options = key.fileOptions
        options["rate"] = nil
        let opts = options.keys.sorted().map { name -> String in
            let value = options[name]!
            // Byte counts read better as sizes: ring=1MiB, not ring=1048576.
            if ["ring", "socket-buffer"].contains(name), let bytes = Int(value) {
                return "\(name)=\(ByteSize.format(bytes))"
            }
            return "\(name)=\(value)"
        }
        return ([key.transport.rawValue] + opts).joined(separator: " ")
    }

    /// A case's line in a legend: its channel, with the file when there are several.
    /// An open-loop curve's colour key: its channel and workload (not its file or size).
    struct RateCurveIdentity: Hashable {
        var channel: String
        var workload: WorkloadKind

        init(channel: String, workload: WorkloadKind) {
            self.channel = channel
            self.workload = workload
        }

        init(_ key: CaseKey) { self.init(channel: ReportBuilder.channelName(key), workload: key.workload) }
    }

    func seriesName(_ key: CaseKey, _ input: Input) -> String {
        inputs.count > 1 ? "\(channelName(key)) [\(input.label)]" : channelName(key)
    }

    /// Every channel of the report in first-seen order: its colour is its position.
    var channels: [String] {
        var seen: Set<String> = []
        var order: [String] = []
        for input in inputs {
            for c in input.run.cases where c.status == .ok {
                let name = channelName(c.key)
                if seen.insert(name).inserted { order.append(name) }
            }
        }
        return order
    }

    /// A workload's finished cases, one group per channel and file (channels in colour order),
    /// each sorted by size.
    struct Group {
        var name: String
        var channel: String
        var colour: Int
        var file: Int
        var cases: [(size: Int, summary: CaseSummary, result: CaseResult)]
    }

    func groups(_ workload: WorkloadKind) -> [Group] {
        let colours = Dictionary(uniqueKeysWithValues: channels.enumerated().map { ($1, $0) })
        var groups: [Group] = []
        var index: [String: Int] = [:]
        for (file, input) in inputs.enumerated() {
            for c in input.run.cases where c.status == .ok && c.key.workload == workload && !c.trials.isEmpty {
                let name = seriesName(c.key, input)
                if index[name] == nil {
                    index[name] = groups.count
                    let channel = channelName(c.key)
                    groups.append(
                        Group(name: name, channel: channel, colour: colours[channel] ?? 0, file: file, cases: []))
                }
                groups[index[name]!].cases.append((c.key.messageSize, CaseSummary(c), c))
            }
        }
        for i in groups.indices { groups[i].cases.sort { $0.size < $1.size } }
        // Files side by side within a channel: before and after pair up.
        return groups.sorted { ($0.colour, $0.file) < ($1.colour, $1.file) }
    }

    /// `chart` as it is, or cut into panels of at most `panelSeries` lines, the series of one
    /// channel kept together, every panel on the same axes.
    func panels(_ chart: SVGChart, file: String, caption: String, cutBy channel: (ChartSeries) -> String) -> [Chart] {
        guard chart.series.filter({ !$0.reference }).count > Self.panelSeries else {
            return [Chart(file: file, chart: chart, caption: caption, family: file)]
        }
        var order: [String] = []
        var byChannel: [String: [ChartSeries]] = [:]
        for s in chart.series where !s.reference {
            let key = channel(s)
            if byChannel[key] == nil { order.append(key) }
            byChannel[key, default: []].append(s)
        }
        var cuts: [[ChartSeries]] = [[]]
        for key in order {
            let next = byChannel[key]!
            if !cuts[cuts.count - 1].isEmpty && cuts[cuts.count - 1].count + next.count > Self.panelSeries {
                cuts.append([])
            }
            cuts[cuts.count - 1] += next
        }
        let extent = Self.extent(chart)
        let guides = chart.series.filter(\.reference)
        return cuts.enumerated().map { i, series in
            var panel = chart
            panel.title = "\(chart.title) (\(i + 1) of \(cuts.count))"
            panel.series = guides + series
            panel.extent = extent
            return Chart(file: "\(file)-\(i + 1)", chart: panel, caption: caption, family: file)
        }
    }

    /// The data extent of a chart's points, bands and markers: what panels of it share.
    static func extent(_ chart: SVGChart) -> (x: (Double, Double), y: (Double, Double))? {
        let xs =
            chart.series.flatMap { $0.points.map(\.x) }.filter { $0.isFinite && $0 > 0 }
            + chart.markers.compactMap(\.x)
        let ys =
            chart.series.flatMap { $0.points.map(\.y) + $0.band.flatMap { [$0.low, $0.high] } }.filter {
                $0.isFinite && $0 > 0
            } + chart.markers.compactMap(\.y)
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else { return nil }
        return ((x0, x1), (y0, y1))
    }

    /// The lowest and highest trial of a case for `pick`, as a band point at `x`.
    static func band(_ result: CaseResult, x: Double, _ pick: (TrialResult) -> Double?) -> (
        x: Double, low: Double, high: Double
    )? {
        let values = result.trials.compactMap(pick)
        guard let low = values.min(), let high = values.max() else { return nil }
        return (x, low, high)
    }

    /// Every chart this set of files supports.
    public func charts() -> [Chart] {
        var charts: [Chart] = []
        let sizeAxis = ChartAxis(label: "message size, payload", scale: .log, unit: .bytes)
        let pingpong = groups(.pingpong)
        let stream = groups(.stream)
        let byChannel = { (s: ChartSeries) in String(s.colour ?? 0) }
        for (file, title, pick, trial) in [
            (
                "latency-p50", "Round-trip latency, p50", { (s: CaseSummary) in s.p50 },
                { (t: TrialResult) in t.latencySummary.map { Double($0.p50) } }
            ),
            (
                "latency-p99", "Round-trip latency, p99", { (s: CaseSummary) in s.p99 },
                { (t: TrialResult) in t.latencySummary.map { Double($0.p99) } }
            ),
            (
                "latency-p999", "Round-trip latency, p99.9", { (s: CaseSummary) in s.p999 },
                { (t: TrialResult) in t.latencySummary.map { Double($0.p999) } }
            ),
        ] as [(String, String, (CaseSummary) -> Double?, (TrialResult) -> Double?)] where !pingpong.isEmpty {
            let chart = SVGChart(
                title: title, x: sizeAxis, y: ChartAxis(label: "round trip, pingpong", scale: .log, unit: .nanoseconds),
                series: pingpong.map { g in
                    ChartSeries(
                        name: g.name,
                        points: g.cases.compactMap { c in pick(c.summary).map { (Double(c.size), $0) } },
                        colour: g.colour, dash: g.file, marker: g.file,
                        band: g.cases.compactMap { Self.band($0.result, x: Double($0.size), trial) })
                })
            charts += panels(
                chart, file: file,
                caption:
                    "\(title) against message size, per channel (pingpong: one message out, the same back). Each point is the median across trials of that trial's percentile; the band spans the lowest to the highest trial.",
                cutBy: byChannel)
        }
        if !stream.isEmpty {
            for (file, title, label, unit, what, pick, trial) in [
                (
                    "throughput-messages", "Throughput, messages per second", "messages/s, stream",
                    ChartAxis.Unit.count, "Messages", \CaseSummary.messagesPerSecond, \TrialResult.messagesPerSecond
                ),
                (
                    "throughput-bytes", "Throughput, payload bytes per second", "payload throughput, stream",
                    .bytesPerSecond, "Payload bytes", \CaseSummary.bytesPerSecond, \TrialResult.bytesPerSecond
                ),
            ]
                as [(
                    String, String, String, ChartAxis.Unit, String, KeyPath<CaseSummary, Double>,
                    KeyPath<TrialResult, Double>
                )]
            {
                let chart = SVGChart(
                    title: title, x: sizeAxis, y: ChartAxis(label: label, scale: .log, unit: unit),
                    series: stream.map { g in
                        ChartSeries(
                            name: g.name, points: g.cases.map { (Double($0.size), $0.summary[keyPath: pick]) },
                            colour: g.colour, dash: g.file, marker: g.file,
                            band: g.cases.compactMap { c in
                                Self.band(c.result, x: Double(c.size)) { $0[keyPath: trial] }
                            })
                    })
                charts += panels(
                    chart, file: file,
                    caption:
                        "\(what) per second one way (stream), median across trials, against message size; the band spans the lowest to the highest trial.",
                    cutBy: byChannel)
            }
            let cpu = SVGChart(
                title: "CPU time per message, each side (stream)", x: sizeAxis,
                y: ChartAxis(label: "CPU time per message", scale: .log, unit: .nanoseconds),
                series: stream.flatMap { g in
                    [
                        ChartSeries(
                            name: g.name + " sender",
                            points: g.cases.map { (Double($0.size), $0.summary.clientCPUPerMessage) },
                            colour: g.colour, dash: 2 * g.file, marker: 2 * g.file),
                        ChartSeries(
                            name: g.name + " receiver",
                            points: g.cases.map { (Double($0.size), $0.summary.serverCPUPerMessage) },
                            colour: g.colour, dash: 2 * g.file + 1, marker: 2 * g.file + 1),
                    ]
                })
            charts += panels(
                cpu, file: "cpu-per-message",
                caption:
                    "User + system CPU time of each side's measuring thread per message (stream): the sender (client, solid) and the receiver (server, dashed), one colour per channel.",
                cutBy: byChannel)
        }
        charts += rateCharts()
        charts += spectrumCharts(pingpong)
        if let spread = spreadChart() { charts.append(spread) }
        return charts
    }

    func rateCharts() -> [Chart] {
        let curves = rateCurves()
        guard !curves.isEmpty else { return [] }
        let colours = Dictionary(uniqueKeysWithValues: channels.enumerated().map { ($1, $0) })
        let files = Dictionary(uniqueKeysWithValues: inputs.enumerated().map { ($1.label, $0) })
        let unit = rateUnit.words
        let rateAxis = ChartAxis(label: "offered rate, \(unit)", scale: .log, unit: .count)
        let sizes = Array(Set(curves.map(\.size))).sorted()
        // Each open-loop workload of a channel its colour in every file and panel: the first of
        // them (rate before http1-rate before http2-rate) the channel's, as in the other charts;
        // the others, by channel and workload, colours after every channel's.
        var curveColours: [RateCurveIdentity: Int] = [:]
        var spare = channels.count
        for channel in channels {
            let workloads = Set(curves.filter { channelName($0.key) == channel }.map(\.key.workload))
            for (i, workload) in WorkloadKind.allCases.filter(workloads.contains).enumerated() {
                let identity = RateCurveIdentity(channel: channel, workload: workload)
                if i == 0 {
                    curveColours[identity] = colours[channel] ?? 0
                } else {
                    curveColours[identity] = spare
                    spare += 1
                }
            }
        }
        var latency: [Chart] = []
        var achieved: [Chart] = []
        let all = curves.flatMap(\.points)
        let highest = all.map(\.offered).max() ?? 1
        let lowest = all.map(\.offered).min() ?? 1
        // One panel per message size (and more when one size has more than three channels): the
        // same axes in each.
        var latencySeries: [[ChartSeries]] = []
        var panelSizes: [Int] = []
        var latencyMarkers: [[ChartMarker]] = []
        var achievedSeries: [[ChartSeries]] = []
        for size in sizes {
            let these = curves.filter { $0.size == size }
            var s: [ChartSeries] = []
            var m: [ChartMarker] = []
            var a: [ChartSeries] = []
            for curve in these {
                let colour = curveColours[RateCurveIdentity(curve.key)] ?? 0
                let file = files[curve.input.label] ?? 0
                s.append(
                    ChartSeries(
                        name: curve.name + " p50",
                        points: curve.points.compactMap { p in p.p50.map { (p.offered, $0) } },
                        colour: colour, dash: 0, marker: file))
                s.append(
                    ChartSeries(
                        name: curve.name + " p99",
                        points: curve.points.compactMap { p in p.p99.map { (p.offered, $0) } },
                        colour: colour, dash: 1, marker: file))
                if let knee = CapacityPlanner.knee(curve.points), knee.broke {
                    m.append(
                        ChartMarker(
                            x: knee.point.offered,
                            label: "knee \(curve.name) at \(CapacityPlanner.offeredText(knee.point.offered))"))
                }
                a.append(
                    ChartSeries(
                        name: curve.name, points: curve.points.map { ($0.offered, $0.achieved) }, colour: colour,
                        dash: file, marker: file))
            }
            // Three channels (six lines) a panel.
            for start in stride(from: 0, to: these.count, by: Self.panelSeries / 2) {
                let range = start..<min(these.count, start + Self.panelSeries / 2)
                latencySeries.append(Array(s[(2 * range.lowerBound)..<(2 * range.upperBound)]))
                panelSizes.append(size)
                let names = Set(range.map { these[$0].name })
                latencyMarkers.append(m.filter { mk in names.contains { mk.label.hasPrefix("knee \($0) at") } })
                achievedSeries.append(Array(a[range]))
            }
        }
        let objectiveMarker =
            objective.map { [ChartMarker(y: $0.nanoseconds, label: "objective \($0.description)")] } ?? []
        // rate's latency is one way, http1-rate's and http2-rate's a request's round trip, both from the intended send.
        let latencyLabel =
            curves.allSatisfy { $0.key.workload == .rate }
            ? "one-way latency from intended send time" : "latency from intended send time"
        let latencyAll = SVGChart(
            title: "Latency against offered rate (open loop)", x: rateAxis,
            y: ChartAxis(label: latencyLabel, scale: .log, unit: .nanoseconds),
            series: latencySeries.flatMap { $0 }, markers: latencyMarkers.flatMap { $0 } + objectiveMarker)
        let achievedAll = SVGChart(
            title: "Achieved against offered rate", x: rateAxis,
            y: ChartAxis(label: "achieved rate, \(unit)", scale: .log, unit: .count),
            series: [
                ChartSeries(
                    name: "offered (ideal)", points: [(lowest, lowest), (highest, highest)], reference: true,
                    colour: 6, dash: 1)
            ] + achievedSeries.flatMap { $0 })
        let latencyCaption =
            "The rate workload sends each message at its scheduled time and measures its one-way latency from that time (http1-rate, http2-rate: each request's round trip from that time), so a stall counts against every message due during it (no coordinated omission). p50 solid, p99 dashed, one colour per channel (per channel and workload when a channel has several). The knees (K1, K2, …, named in the legend) are the last rate before delivery falls under 95% of the offered rate or p99 more than doubles over the best p99 of the lower rates."
        let achievedCaption =
            "\(unit.prefix(1).uppercased() + unit.dropFirst()) delivered against \(unit) offered; the grey diagonal is perfect delivery."
        if latencySeries.count == 1 {
            latency = [
                Chart(file: "latency-vs-rate", chart: latencyAll, caption: latencyCaption, family: "latency-vs-rate")
            ]
            achieved = [
                Chart(
                    file: "achieved-vs-offered", chart: achievedAll, caption: achievedCaption,
                    family: "achieved-vs-offered")
            ]
        } else {
            let (le, ae) = (Self.extent(latencyAll), Self.extent(achievedAll))
            for i in latencySeries.indices {
                let size = panelSizes[i]
                let part = "\(Self.fileSafe(Self.sizeText(size).replacingOccurrences(of: " ", with: "")))-\(i + 1)"
                latency.append(
                    Chart(
                        file: "latency-vs-rate-\(part)",
                        chart: SVGChart(
                            title:
                                "Latency against offered rate, \(Self.sizeText(size)) (\(i + 1) of \(latencySeries.count))",
                            x: rateAxis, y: latencyAll.y, series: latencySeries[i],
                            markers: latencyMarkers[i] + objectiveMarker, extent: le),
                        caption: latencyCaption, family: "latency-vs-rate"))
                achieved.append(
                    Chart(
                        file: "achieved-vs-offered-\(part)",
                        chart: SVGChart(
                            title:
                                "Achieved against offered rate, \(Self.sizeText(size)) (\(i + 1) of \(latencySeries.count))",
                            x: rateAxis, y: achievedAll.y, series: [achievedAll.series[0]] + achievedSeries[i],
                            extent: ae),
                        caption: achievedCaption, family: "achieved-vs-offered"))
            }
        }
        return latency + achieved
    }

    /// The percentile spectrum of each channel's smallest pingpong case, from its trials'
    /// histograms merged.
    func spectrumCharts(_ pingpong: [Group]) -> [Chart] {
        var series: [ChartSeries] = []
        for g in pingpong {
            guard let smallest = g.cases.first, let merged = Self.mergedLatency(smallest.result) else { continue }
            var points: [(x: Double, y: Double)] = []
            for q in [50.0, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999] {
                // A percentile needs enough samples beyond it to mean something.
                guard Double(merged.totalCount) * (1 - q / 100) >= 1 else { break }
                points.append((ChartAxis.logOdds(percentile: q), Double(merged.valueAtPercentile(q))))
            }
            series.append(
                ChartSeries(
                    name: "\(g.name) \(Self.sizeText(smallest.size))", points: points, colour: g.colour, dash: g.file,
                    marker: g.file))
        }
        guard !series.isEmpty else { return [] }
        let chart = SVGChart(
            title: "Latency percentile spectrum (pingpong, smallest size)",
            x: ChartAxis(label: "percentile", scale: .linear, unit: .percentile),
            y: ChartAxis(label: "round trip", scale: .log, unit: .nanoseconds), series: series)
        return panels(
            chart, file: "spectrum",
            caption:
                "The round-trip latency at each percentile, from all trials' histograms of each channel's smallest pingpong case merged; the tail goes only as far as the samples reach.",
            cutBy: { String($0.colour ?? 0) })
    }

    /// With several files: p50 of each transport's smallest pingpong case, one point per file,
    /// so an outlier node (kernel, runtime) stands out.
    func spreadChart() -> Chart? {
        guard inputs.count > 1 else { return nil }
        var transports: [TransportKind] = []
        for input in inputs {
            for c in input.run.cases where c.status == .ok && c.key.workload == .pingpong {
                if !transports.contains(c.key.transport) { transports.append(c.key.transport) }
            }
        }
        guard !transports.isEmpty else { return nil }
        var series: [ChartSeries] = []
        for (file, input) in inputs.enumerated() {
            var points: [(x: Double, y: Double)] = []
            for (i, transport) in transports.enumerated() {
                let cases = input.run.cases.filter {
                    $0.status == .ok && $0.key.workload == .pingpong && $0.key.transport == transport
                }
                guard let smallest = cases.min(by: { $0.key.messageSize < $1.key.messageSize }),
                    let p50 = CaseSummary(smallest).p50
                else { continue }
                points.append((Double(i), p50))
            }
            series.append(ChartSeries(name: input.label, points: points, pointsOnly: true, colour: file, marker: file))
        }
        return Chart(
            file: "spread",
            chart: SVGChart(
                title: "Spread across results files: p50 round trip, smallest size",
                x: ChartAxis(label: "transport", scale: .linear, unit: .categories(transports.map(\.rawValue))),
                y: ChartAxis(label: "round trip p50", scale: .log, unit: .nanoseconds), series: series),
            caption:
                "Each transport's smallest pingpong case, p50, one mark per results file (node, kernel, runtime, isolation): a file far from the others is the outlier.",
            family: "spread")
    }
}
