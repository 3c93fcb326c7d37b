import PodBenchCore

/// What a hop (`--via`: a relay or a proxy between the sides) costs: a case through the hop
/// against the same case direct (same transport, workload, size and options) in the same run.
public struct HopCost: Sendable {
    public var through: CaseResult
    public var direct: CaseResult
    /// The hop's name (relay, haproxy, socat, …) and the transport the client spoke to it.
    public var hop: String
    public var hopIn: String
    /// Median latency (pingpong round trip, stream/rate one-way) added by the hop, in ns, and as
    /// a ratio to the direct case's.
    public var p50Added: Double?
    public var p50Ratio: Double?
    public var p99Added: Double?
    /// Messages per second through the hop as a share of direct.
    public var rateRatio: Double
    /// The relay's own CPU and context switches per message (its whole process), when its stats
    /// were read (podbench's relay); nil for a proxy podbench cannot see into.
    public var hopCPUPerMessage: Double?
    public var hopSwitchesPerMessage: Double?
    /// CPU per message the two sides spent more (or less) than direct.
    public var clientCPUAdded: Double
    public var serverCPUAdded: Double

    /// Every case through a hop that has its direct twin in `run`, both measured.
    public static func pairs(in run: RunResult) -> [HopCost] {
        run.cases.compactMap { through in
            guard through.status == .ok, let hop = through.key.hop else { return nil }
            let key = through.key.direct
            guard let direct = run.cases.first(where: { $0.key == key && $0.status == .ok }) else { return nil }
            return HopCost(through: through, direct: direct, hop: hop.name, hopIn: hop.entry.rawValue)
        }
    }

    public init(through: CaseResult, direct: CaseResult, hop: String, hopIn: String) {
        self.through = through
        self.direct = direct
        self.hop = hop
        self.hopIn = hopIn
        let a = CaseSummary(direct)
        let b = CaseSummary(through)
        if let x = a.p50, let y = b.p50 {
            p50Added = y - x
            p50Ratio = x > 0 ? y / x : nil
        }
        if let x = a.p99, let y = b.p99 { p99Added = y - x }
        rateRatio = a.messagesPerSecond > 0 ? b.messagesPerSecond / a.messagesPerSecond : 0
        let hops = through.trials.compactMap(\.hop)
        if !hops.isEmpty {
            hopCPUPerMessage = CaseSummary.median(hops.map(\.cpuNanosecondsPerMessage))
            hopSwitchesPerMessage = CaseSummary.median(hops.map(\.contextSwitchesPerMessage))
        }
        clientCPUAdded = b.clientCPUPerMessage - a.clientCPUPerMessage
        serverCPUAdded = b.serverCPUPerMessage - a.serverCPUPerMessage
    }

    /// transport, workload, size, (rate) offered rate and the key's options, so that two cases of a
    /// run never share a name: `tcp rate 256 at 10k/s`, `tcp http2 64 streams=16`.
    public var caseName: String {
        let key = through.key
        let rate = key.rate.map { " at \(Format.rate(Double($0)))/s" } ?? ""
        let options = key.options.keys.sorted().map { " \($0)=\(key.options[$0]!)" }.joined()
        return "\(key.transport) \(key.workload) \(ByteSize.format(key.messageSize))\(rate)\(options)"
    }

    /// One line: the case, what the hop added to latency and took from throughput, its own CPU.
    public var text: String {
        var parts = ["\(caseName) via \(hop) (\(hopIn) in)"]
        if let p50Added, let p50Ratio {
            parts.append(
                "p50 \(p50Added >= 0 ? "+" : "−")\(Format.nanoseconds(abs(p50Added))) (×\(Format.fixed(p50Ratio, digits: 2)))"
            )
        }
        if let p99Added { parts.append("p99 \(p99Added >= 0 ? "+" : "−")\(Format.nanoseconds(abs(p99Added)))") }
        parts.append("msg/s ×\(Format.fixed(rateRatio, digits: 2))")
        if let hopCPUPerMessage, let hopSwitchesPerMessage {
            parts.append(
                "\(hop) cpu/msg \(Format.nanoseconds(hopCPUPerMessage)), cs/msg \(Format.decimal(hopSwitchesPerMessage))"
            )
        } else {
            parts.append("\(hop)'s own CPU not seen (no --via-stats: a relay's stats endpoint, or pid:PID)")
        }
        parts.append(
            "sides' cpu/msg \(Self.signed(clientCPUAdded)) client, \(Self.signed(serverCPUAdded)) server")
        return parts.joined(separator: ", ")
    }

    public static func signed(_ ns: Double) -> String { (ns >= 0 ? "+" : "−") + Format.nanoseconds(abs(ns)) }
}
