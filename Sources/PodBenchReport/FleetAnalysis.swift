import Foundation
import PodBenchCore
import PodBenchResults

/// Results files from many nodes, one run each, seen as a fleet: per headline metric each node's
/// ratio to the fleet's median, a robust score of how far it stands from the other nodes, the
/// nodes flagged as outliers, the distribution of every case across nodes, and the distinct
/// configurations (kernel, CPU, runtime, limits) with the nodes on each (docs/report.md, "A
/// fleet of nodes").
///
/// The score is the modified z-score of Iglewicz and Hoaglin: 0.6745 × (x − median) / MAD of the
/// nodes' log ratios, so that one or two slow nodes (up to half the fleet) move neither the centre
/// nor the scale they are judged against, as a mean and standard deviation would. A node is
/// flagged for a metric when it is worse than the fleet by a score above `scoreThreshold` (3.5,
/// Iglewicz and Hoaglin's) and by at least `minimumRatio` (10%): the score alone would flag a 2%
/// difference in a fleet whose nodes agree within 0.5%, which no one would act on. A node better
/// than the fleet is never flagged (it sorts last; nothing to fix there).
public struct FleetAnalysis: Sendable {
    /// What the fleet summary and the outlier table judge nodes on.
    public enum Metric: String, CaseIterable, Sendable {
        case roundTripP50 = "round trip p50"
        case roundTripP99 = "round trip p99"
        case streamThroughput = "stream payload/s"
        case cpuPerMessage = "CPU per message"

        /// Whether a higher value is worse (latency, CPU) or better (throughput).
        public var higherIsWorse: Bool { self != .streamThroughput }

        /// The column stem in CSV files.
        var column: String {
            switch self {
            case .roundTripP50: "round_trip_p50"
            case .roundTripP99: "round_trip_p99"
            case .streamThroughput: "stream_payload_per_s"
            case .cpuPerMessage: "cpu_per_msg"
            }
        }

        /// The unit of its values in CSV columns.
        var unit: String { self == .streamThroughput ? "bytes_per_s" : "ns" }

        /// A case's value of this metric, nil when the case has no such metric.
        func value(_ key: CaseKey, _ s: CaseSummary) -> Double? {
            switch self {
            case .roundTripP50: key.workload == .pingpong ? s.p50 : nil
            case .roundTripP99: key.workload == .pingpong ? s.p99 : nil
            case .streamThroughput: key.workload == .stream ? s.bytesPerSecond : nil
            case .cpuPerMessage: key.workload.isOpenLoop ? nil : s.clientCPUPerMessage + s.serverCPUPerMessage
            }
        }

        func text(_ value: Double) -> String {
            self == .streamThroughput ? Format.bytesPerSecond(value) : Format.nanoseconds(value)
        }
    }

    /// A node of the fleet (a results file).
    public struct Node: Sendable {
        /// The node's name as recorded (the downward API's node name, else the host name).
        public var name: String
        /// The part of the name that tells it from the others (`a-07` of `pool-a-07.eu-west1.internal`).
        public var label: String
        /// The results file's label.
        public var file: String
        /// Its configuration's index in `configurations`.
        public var configuration: Int
        /// Per metric: the geometric mean over the node's cases of its value's ratio to the fleet
        /// median of the case, oriented so that above 1 is worse (slower, less payload, more CPU).
        public var ratios: [Metric: Double]
        /// Per metric: the modified z-score of the node's log ratio, worse positive.
        public var scores: [Metric: Double]
        /// The metrics it is flagged for, in `Metric` order.
        public var flagged: [Metric]

        /// Its highest score: what the outlier table sorts by.
        public var worstScore: Double { scores.values.max() ?? 0 }
    }

    /// One case and metric across the fleet: its value on each node.
    public struct CaseAcross: Sendable {
        public var key: CaseKey
        public var name: String
        public var metric: Metric
        /// (node index, value), in node order.
        public var values: [(node: Int, value: Double)]
        public var median: Double
    }

    /// A distinct configuration and the nodes on it.
    public struct Configuration: Sendable {
        /// (property, value) pairs, in a fixed order.
        public var properties: [(name: String, value: String)]
        public var nodes: [Int]
    }

    public static let scoreThreshold = 3.5
    public static let minimumRatio = 1.10
    /// Fewer nodes than this get ratios but no scores: a median absolute deviation of four values
    /// is two of them.
    public static let minimumNodesForScores = 5
    /// The smallest spread a score divides by (1% as a log ratio): identical nodes (copies of one
    /// file) have none, and every difference would be infinitely far.
    static let spreadFloor = log(1.01)

    public var nodes: [Node]
    /// Every case with each metric it has, in first-seen case order.
    public var cases: [CaseAcross]
    public var configurations: [Configuration]
    /// The metrics some case measured, in `Metric` order.
    public var metrics: [Metric]

    /// Whether scores (and so flags) were computed: enough nodes.
    public var scored: Bool { nodes.count >= Self.minimumNodesForScores }

    /// The nodes worst first: the flagged ones, then by highest score (by highest ratio without
    /// scores). Sorted once, when the fleet is analysed: every table and figure reads it.
    public let ranked: [Int]

    static func rank(_ nodes: [Node], scored: Bool) -> [Int] {
        nodes.indices.sorted { a, b in
            let (x, y) = (nodes[a], nodes[b])
            if x.flagged.isEmpty != y.flagged.isEmpty { return !x.flagged.isEmpty }
            let sx = scored ? x.worstScore : (x.ratios.values.max() ?? 1)
            let sy = scored ? y.worstScore : (y.ratios.values.max() ?? 1)
            return sx != sy ? sx > sy : x.label < y.label
        }
    }

    public var flaggedNodes: [Int] { ranked.filter { !nodes[$0].flagged.isEmpty } }

    /// The node name a run records: the Kubernetes node's (downward API), else the host's.
    public static func nodeName(_ run: RunResult) -> String {
        run.environment.client.nodeName ?? run.environment.client.hostname
    }

    /// Whether `runs` are a fleet: two files or more, from two nodes or more.
    public static func isFleet(_ runs: [RunResult]) -> Bool {
        runs.count >= 2 && Set(runs.map(nodeName)).count >= 2
    }

    /// Analyses `inputs` (file label and run), naming cases with `caseName`.
    init(inputs: [(label: String, run: RunResult)], caseName: (CaseKey) -> String) {
        // A name or property is at most what DNS allows a node name (253): a results file is
        // anyone's, and a megabyte name would be copied into every table, CSV and tooltip.
        let names = inputs.map { String(Self.nodeName($0.run).prefix(253)) }
        var labels = Self.distinguishing(names)
        // A node measured twice: told apart by its file's position among its namesakes.
        var seen: [String: Int] = [:]
        for i in labels.indices {
            seen[labels[i], default: 0] += 1
            if seen[labels[i]]! > 1 { labels[i] += " #\(seen[labels[i]]!)" }
        }
        // Configurations, in first-seen order.
        var configurations: [Configuration] = []
        var configurationOf: [Int] = []
        for (n, input) in inputs.enumerated() {
            let properties = Self.configuration(input.run).map { ($0.name, String($0.value.prefix(253))) }
            if let i = configurations.firstIndex(where: { $0.properties.elementsEqual(properties, by: ==) }) {
                configurations[i].nodes.append(n)
                configurationOf.append(i)
            } else {
                configurationOf.append(configurations.count)
                configurations.append(Configuration(properties: properties, nodes: [n]))
            }
        }
        // Every case's headline value per node, in first-seen case order.
        var order: [CaseKey] = []
        var perCase: [CaseKey: [Metric: [(node: Int, value: Double)]]] = [:]
        for (n, input) in inputs.enumerated() {
            for c in input.run.cases where c.status == .ok && !c.trials.isEmpty {
                let summary = CaseSummary(c)
                if perCase[c.key] == nil {
                    order.append(c.key)
                    perCase[c.key] = [:]
                }
                for metric in Metric.allCases {
                    guard let v = metric.value(c.key, summary), v.isFinite, v > 0 else { continue }
                    perCase[c.key]![metric, default: []].append((n, v))
                }
            }
        }
        // Per node and metric: the log ratios to each case's fleet median, worse positive.
        var logRatios = Array(repeating: [Metric: [Double]](), count: inputs.count)
        var cases: [CaseAcross] = []
        var metrics: Set<Metric> = []
        for key in order {
            for metric in Metric.allCases {
                guard let values = perCase[key]?[metric], !values.isEmpty else { continue }
                metrics.insert(metric)
                let median = CaseSummary.median(values.map(\.value))
                for (n, v) in values {
                    let r = log(v / median)
                    logRatios[n][metric, default: []].append(metric.higherIsWorse ? r : -r)
                }
                cases.append(CaseAcross(key: key, name: caseName(key), metric: metric, values: values, median: median))
            }
        }
        var nodes: [Node] = inputs.indices.map { n in
            Node(
                name: names[n], label: labels[n], file: inputs[n].label, configuration: configurationOf[n],
                ratios: logRatios[n].mapValues { exp($0.reduce(0, +) / Double($0.count)) }, scores: [:], flagged: [])
        }
        if inputs.count >= Self.minimumNodesForScores {
            for metric in Metric.allCases {
                let present = nodes.indices.filter { nodes[$0].ratios[metric] != nil }
                guard present.count >= Self.minimumNodesForScores else { continue }
                let logs = present.map { log(nodes[$0].ratios[metric]!) }
                let centre = CaseSummary.median(logs)
                let spread = max(CaseSummary.median(logs.map { abs($0 - centre) }), Self.spreadFloor)
                for (n, x) in zip(present, logs) {
                    let score = 0.6745 * (x - centre) / spread
                    nodes[n].scores[metric] = score
                    if score > Self.scoreThreshold && nodes[n].ratios[metric]! >= Self.minimumRatio {
                        nodes[n].flagged.append(metric)
                    }
                }
            }
        }
        self.nodes = nodes
        self.cases = cases
        self.configurations = configurations
        self.metrics = Metric.allCases.filter(metrics.contains)
        ranked = Self.rank(nodes, scored: nodes.count >= Self.minimumNodesForScores)
    }

    /// The metric a case is drawn by in the box plots and the heat map: p50 for pingpong, payload
    /// per second for stream; nil for rate (its figures are on an offered-rate axis of their own).
    static func primary(_ key: CaseKey) -> Metric? {
        switch key.workload {
        case .pingpong: .roundTripP50
        case .stream: .streamThroughput
        case .rate, .http1, .http2, .http1Rate, .http2Rate: nil
        }
    }

    /// What tells configurations apart: what changes a channel's cost on a node.
    static func configuration(_ run: RunResult) -> [(name: String, value: String)] {
        let c = run.environment.client
        let s = run.environment.server
        func both(_ a: String, _ b: String) -> String { a == b ? a : "client \(a), server \(b)" }
        func cores(_ v: Double?) -> String { v.map { Format.decimal($0) } ?? "none" }
        func mib(_ v: UInt64?) -> String { v.map { "\($0 >> 20) MiB" } ?? "none" }
        return [
            ("kernel", both(c.kernelRelease, s.kernelRelease)),
            ("CPU", both(c.cpuModel, s.cpuModel) + ", \(c.onlineCPUs) online"),
            ("runtime", both(c.containerRuntime, s.containerRuntime) + " (cgroup \(c.cgroupVersion))"),
            ("CPU quota", both(cores(c.cpuQuotaCores), cores(s.cpuQuotaCores))),
            ("memory limit", both(mib(c.memoryLimitBytes), mib(s.memoryLimitBytes))),
            ("podbench", run.podbench.version),
        ]
    }

    /// The part of each name that tells it from the others: the pieces (between `.` and `-`) that
    /// the names of the largest group (those starting with the most common first piece, at least
    /// half of them) start with, and those they end with, left out of the names that have them; a
    /// name outside the group keeps its whole name. Names left empty, or two alike, keep the whole
    /// names. At most 28 characters, the middle elided, unless that makes two alike.
    static func distinguishing(_ names: [String]) -> [String] {
        guard names.count > 1 else { return names.map { shortened($0) } }
        func pieces(_ name: String) -> [String] {
            var out: [String] = []
            var current = ""
            for ch in name {
                if ch == "." || ch == "-" {
                    if !current.isEmpty { out.append(current) }
                    out.append(String(ch))
                    current = ""
                } else {
                    current.append(ch)
                }
            }
            if !current.isEmpty { out.append(current) }
            return out
        }
        let split = names.map(pieces)
        // The largest group: one odd host name among a pool's must not keep the pool's names whole.
        let firsts = Dictionary(grouping: split.indices, by: { split[$0].first ?? "" })
        let group = firsts.values.max { $0.count < $1.count } ?? []
        var middles = names
        if group.count >= 2 && group.count * 2 >= names.count {
            let members = group.map { split[$0] }
            let shortest = members.map(\.count).min() ?? 0
            var prefix = 0
            while prefix < shortest, members.allSatisfy({ $0[prefix] == members[0][prefix] }) { prefix += 1 }
            var suffix = 0
            while suffix < shortest - prefix,
                members.allSatisfy({ $0[$0.count - 1 - suffix] == members[0][members[0].count - 1 - suffix] })
            {
                suffix += 1
            }
            for i in group {
                var middle = Array(split[i][prefix..<(split[i].count - suffix)])
                while let first = middle.first, first == "." || first == "-" { middle.removeFirst() }
                while let last = middle.last, last == "." || last == "-" { middle.removeLast() }
                middles[i] = middle.joined()
            }
        }
        let distinct = Set(names).count
        if middles.contains(where: \.isEmpty) || Set(middles).count < distinct { middles = names }
        let short = middles.map { shortened($0) }
        return Set(short).count < distinct ? middles : short
    }

    static func shortened(_ name: String, limit: Int = 28) -> String {
        guard name.count > limit else { return name }
        return String(name.prefix(limit / 2 - 1)) + "…" + String(name.suffix(limit - limit / 2))
    }
}
