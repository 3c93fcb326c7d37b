import PodBenchCore
import PodBenchResults
import PodBenchTransports

/// Runs a list of cases through a connected client, recording each as it finishes.
public struct MatrixRunner {
    public var client: BenchmarkClient
    public var recorder: RunRecorder
    public var progress: @Sendable (String) -> Void
    /// Elapsed time and what is left, in each case's label.
    public var clock: RunClock?
    /// Told the case now running (nil between cases), for a terminal's status line.
    public var caseRunning: (String?) -> Void = { _ in }

    public init(client: BenchmarkClient, recorder: RunRecorder, progress: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.recorder = recorder
        self.progress = progress
    }

    /// The cases of a matrix in the order they run: transport, then workload, then size.
    public static func cases(
        transports: [TransportKind], workloads: [WorkloadKind], sizes: [Int], options: TransportOptions,
        verifyEvery: Int,
        corruptSequence: UInt64?, shmWaits: [String] = ["spin-futex"], fileFsyncs: [String] = ["none"],
        uringSetups: [String] = ["default"], rates: [Int] = [], hops: [Hop] = [], h2Streams: [Int] = [1]
    ) -> [CaseSpec] {
        var specs: [CaseSpec] = []
        for transport in transports {
            // Options belong to their transport; each shm wait strategy, file fsync mode and
            // io_uring setup is a case of its own.
            let type = TransportCatalog.transport(transport)
            let lists = VariantLists(shmWaits: shmWaits, fileFsyncs: fileFsyncs, uringSetups: uringSetups)
            for variant in type.variants(of: type.own(options), lists: lists) {
                // HTTP runs over stream sockets only: an http1 case of shm is not made (`run`
                // refuses a list where no transport carries it).
                for workload in workloads where workload.runs(on: transport) {
                    for size in sizes {
                        // The rate workload is one case per offered rate, lowest first; with no rates
                        // (`--rates auto`) one search, which `run` expands into the cases it measures.
                        // http2: one case per number of streams at once.
                        let rateList = workload.isOpenLoop && !rates.isEmpty ? rates.map(Optional.some) : [nil]
                        let streamList = workload.speaksHTTP2 ? h2Streams.map(Optional.some) : [nil]
                        for rate in rateList {
                            for streams in streamList {
                                let direct = CaseSpec(
                                    transport: transport, workload: workload, messageSize: size, options: variant,
                                    verifyEvery: verifyEvery, corruptSequence: corruptSequence, messagesPerSecond: rate,
                                    streams: streams)
                                specs.append(direct)
                                // Through each hop, right after the same case direct: a hop's cost is
                                // the difference, measured minutes apart at most.
                                // http2's client polls a socket: a hop it speaks a file, FIFO or ring to is left out.
                                for hop in hops
                                where hop.transport == transport && hop.carries(workload)
                                    && (!workload.speaksHTTP2 || workload.runs(on: hop.via.transport))
                                {
                                    var through = direct
                                    through.options.via = hop.via
                                    through.options.listen = hop.listen
                                    through.options.hop = hop.name
                                    specs.append(through)
                                }
                            }
                        }
                    }
                }
            }
        }
        return specs
    }

    /// A hop between the sides (`--via`): the client connects to `via`, which forwards to `listen`,
    /// where the server listens; `transport` is the server side's (from `listen`). Its name is in
    /// the results key, so the hops of one run have names of their own.
    public struct Hop: Sendable, Equatable {
        public var via: HopEndpoint
        public var listen: HopEndpoint
        public var name: String
        /// Where the hop's own CPU per message comes from (`--via-stats`), if anywhere.
        public var stats: HopStatsSource?
        /// The workloads it carries (`--via-workloads`; nil: all): nginx takes HTTP/2 on a port of
        /// its own, so its HTTP mode is two hops of one name, one for each version.
        public var workloads: [WorkloadKind]?
        /// The server side's transport.
        public var transport: TransportKind { listen.transport }

        public init(
            via: HopEndpoint, listen: HopEndpoint, name: String, stats: HopStatsSource? = nil,
            workloads: [WorkloadKind]? = nil
        ) {
            self.via = via
            self.listen = listen
            self.name = name
            self.stats = stats
            self.workloads = workloads
        }

        /// Whether it carries `workload`.
        public func carries(_ workload: WorkloadKind) -> Bool { workloads?.contains(workload) ?? true }
    }

    /// Runs every case. Returns nil when all ran, or the error that ended the session early.
    public func run(_ specs: [CaseSpec]) throws -> PodBenchError? {
        defer { caseRunning(nil) }
        for (number, spec) in specs.enumerated() {
            let label = clock?.label(number + 1) ?? "[\(number + 1)/\(specs.count)]"
            defer { clock?.finished() }
            if spec.workload.isOpenLoop && spec.messagesPerSecond == nil {
                if let error = try searchRates(spec, label: label) { return error }
                continue
            }
            if let error = try runOne(spec, label: label).error { return error }
        }
        return nil
    }

    /// `--rates auto`: measures `base` at offered rates from 1k/s up, ×4 a step, until the channel
    /// breaks (`KneeRule`: delivers under 95% of the offered rate, or its p99 more than doubles
    /// over the best p99 so far), then halves the gap to the last good rate
    /// three times (geometric midpoints). At most 13 cases; each is recorded like any other.
    func searchRates(_ base: CaseSpec, label: String) throws -> PodBenchError? {
        func measure(_ rate: Int) throws -> (ok: Bool, error: PodBenchError?) {
            var spec = base
            spec.messagesPerSecond = rate
            let (result, error) = try runOne(spec, label: label + " auto")
            guard error == nil, result.status == .ok, !result.trials.isEmpty else { return (false, error) }
            let s = CaseSummary(result)
            return (rule.admit(offered: Double(rate), achieved: s.messagesPerSecond, p99: s.p99), nil)
        }
        var rule = KneeRule()
        var good: Int?
        var bad: Int?
        var rate = 1_000
        while rate <= 100_000_000 {
            let (ok, error) = try measure(rate)
            if let error { return error }
            if !ok {
                bad = rate
                break
            }
            good = rate
            rate *= 4
        }
        guard let low = good, let high = bad else { return nil }  // broke at once, or never within 100M/s
        var (lo, hi) = (Double(low), Double(high))
        for _ in 0..<3 {
            let mid = Int((lo * hi).squareRoot().rounded())
            guard mid > Int(lo), mid < Int(hi) else { break }
            let (ok, error) = try measure(mid)
            if let error { return error }
            if ok { lo = Double(mid) } else { hi = Double(mid) }
        }
        return nil
    }

    /// Runs and records one case. Returns it, and the error that ended the session, if one did.
    func runOne(_ spec: CaseSpec, label: String) throws -> (result: CaseResult, error: PodBenchError?) {
        let key = try spec.key()
        progress("\(label) \(key) ...")
        caseRunning("[\(label.dropFirst().prefix { $0 != "," && $0 != "]" })] \(key)")
        defer { caseRunning(nil) }
        let result: CaseResult
        do {
            result = try client.runCase(spec)
        } catch let error as BenchmarkClient.SessionError {
            var failed = CaseResult(
                key: key, status: .failed, error: error.error.description, errorCode: error.error.code.rawValue)
            failed.endpoint = nil
            try recorder.record(failed)
            progress("\(label) \(key): FAILED, the server is gone: \(error.error)")
            return (failed, error.error)
        }
        try recorder.record(result)
        progress("\(label) \(key): \(Self.oneLine(result))")
        return (result, nil)
    }

    static func oneLine(_ result: CaseResult) -> String {
        switch result.status {
        case .unavailable: return "unavailable: \(result.error ?? "")"
        case .failed: return "FAILED: \(result.error ?? "")"
        case .ok:
            let s = CaseSummary(result)
            var parts: [String] = []
            if let p50 = s.p50 { parts.append("p50 \(Format.nanoseconds(p50))") }
            if let p99 = s.p99 { parts.append("p99 \(Format.nanoseconds(p99))") }
            parts.append("\(Format.rate(s.messagesPerSecond)) \(result.key.workload.speaksHTTP ? "req" : "msg")/s")
            parts.append("\(Format.decimal(s.bytesPerSecond / 1e6)) MB/s")
            return parts.joined(separator: ", ")
        }
    }
}
