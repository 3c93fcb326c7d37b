import Histogram
import PodBenchCore

extension RunResult {
    /// Checks what JSON decoding cannot: every figure finite and non-negative, every histogram
    /// decodable and agreeing with the summary kept beside it, every message size in range, each
    /// case once, an `ok` case with its trials. A file that fails is refused whole, with the case
    /// and trial named, rather than half-trusted.
    /// - Throws: `.incompatibleResults`.
    public func validate(source: String) throws {
        try validateSettings(source: source)
        var seen: [CaseKey: Int] = [:]
        for (caseIndex, c) in cases.enumerated() {
            let where_ = "\(source): case \(caseIndex + 1) (\(TextEscaping.terminal(c.key.description)))"
            guard c.key.messageSize >= 1, c.key.messageSize <= ByteSize.maximum else {
                throw PodBenchError(
                    .incompatibleResults, "\(where_): message size \(c.key.messageSize) is out of range")
            }
            if let earlier = seen[c.key] {
                throw PodBenchError(
                    .incompatibleResults,
                    "\(where_): the same case as case \(earlier + 1); a run measures each case once, and a reader could take either"
                )
            }
            seen[c.key] = caseIndex
            try c.key.validate(at: where_)
            guard c.trials.count <= Self.maximumTrials else {
                throw PodBenchError(
                    .incompatibleResults,
                    "\(where_): \(c.trials.count) trials; podbench runs at most \(Self.maximumTrials)")
            }
            if c.status == .ok && c.trials.isEmpty {
                throw PodBenchError(
                    .incompatibleResults, "\(where_): marked ok but holds no trials, so there is nothing to compare")
            }
            for trial in c.trials + (c.warmup.map { [$0] } ?? []) {
                var figures: [(String, Double, Double)] = [
                    ("messagesPerSecond", trial.messagesPerSecond, 1e12),
                    ("bytesPerSecond", trial.bytesPerSecond, 1e15),
                    ("client cpuNanosecondsPerMessage", trial.client.cpuNanosecondsPerMessage, 1e15),
                    ("server cpuNanosecondsPerMessage", trial.server.cpuNanosecondsPerMessage, 1e15),
                    ("client contextSwitchesPerMessage", trial.client.contextSwitchesPerMessage, 1e9),
                    ("server contextSwitchesPerMessage", trial.server.contextSwitchesPerMessage, 1e9),
                    ("latencySummary.mean", trial.latencySummary?.mean ?? 0, 1e12),
                    ("oneWayLatencySummary.mean", trial.oneWayLatencySummary?.mean ?? 0, 1e12),
                ]
                if let hop = trial.hop {
                    figures += [
                        ("hop cpuNanosecondsPerMessage", hop.cpuNanosecondsPerMessage, 1e15),
                        ("hop contextSwitchesPerMessage", hop.contextSwitchesPerMessage, 1e9),
                    ]
                }
                for (name, value, limit) in figures {
                    try Self.check(value, name, limit: limit, at: "\(where_), trial \(trial.index)")
                }
                for (name, histogram, summary) in [
                    ("latency", trial.latency, trial.latencySummary),
                    ("oneWayLatency", trial.oneWayLatency, trial.oneWayLatencySummary),
                ] {
                    guard let histogram else {
                        if summary != nil {
                            throw PodBenchError(
                                .incompatibleResults,
                                "\(where_), trial \(trial.index): \(name)Summary without the \(name) histogram it summarizes"
                            )
                        }
                        continue
                    }
                    do {
                        let decoded = try histogram.summary()
                        if let summary, !summary.agrees(with: decoded) {
                            throw PodBenchError(
                                .incompatibleResults,
                                "\(name)Summary (p50 \(summary.p50), p99 \(summary.p99), \(summary.count) values) contradicts its histogram (p50 \(decoded.p50), p99 \(decoded.p99), \(decoded.count) values)"
                            )
                        }
                    } catch let error as PodBenchError {
                        throw PodBenchError(.incompatibleResults, "\(where_), trial \(trial.index): \(error.message)")
                    }
                }
            }
        }
    }
}

extension RunResult {
    /// No case holds more trials than `run --trials` allows.
    public static let maximumTrials = 1000

    /// A figure is finite, 0 or at least 1e-9 (nothing podbench measures is smaller, and a
    /// vanishing positive value would reach a logarithm or an axis as minus infinity) and at
    /// most `limit`, a bound no machine comes near.
    static func check(_ value: Double, _ name: String, limit: Double, at place: String) throws {
        guard value.isFinite, value == 0 || (value >= 1e-9 && value <= limit) else {
            throw PodBenchError(
                .incompatibleResults,
                "\(place): \(name) is \(value), not a finite figure of 0 or between 1e-9 and \(limit)")
        }
    }

    /// CPU numbers as a kernel gives them: 0 up to 65,535, at most 65,536 of them.
    static func checkCPUs(_ cpus: [Int], _ name: String, at place: String) throws {
        guard cpus.count <= 65_537, cpus.allSatisfy({ (0...65_536).contains($0) }) else {
            throw PodBenchError(
                .incompatibleResults, "\(place): \(name) are not CPU numbers a kernel gives (0 to 65535)")
        }
    }

    func validateSettings(source: String) throws {
        let s = settings
        for (name, value) in [
            ("settings.trialSeconds", s.trialSeconds), ("settings.warmupSeconds", s.warmupSeconds),
            ("settings.peerTimeoutSeconds", s.peerTimeoutSeconds),
        ] {
            try Self.check(value, name, limit: 1e7, at: source)
        }
        for (side, host) in [("client", environment.client), ("server", environment.server)] {
            if let quota = host.cpuQuotaCores { try Self.check(quota, "\(side) cpuQuotaCores", limit: 1e6, at: source) }
            try Self.checkCPUs(host.allowedCPUs + [host.onlineCPUs], "\(side) CPUs", at: source)
        }
        for (side, pin) in [("client", environment.clientPinning), ("server", environment.serverPinning)] {
            try Self.checkCPUs(
                pin.allowed + [pin.asked, pin.observed].compactMap { $0 }, "\(side) pinning", at: source)
        }
        for (which, calibration) in [("calibration", calibration), ("calibrationAfter", calibrationAfter)] {
            guard let calibration else { continue }
            try Self.check(calibration.trialSeconds, "\(which).trialSeconds", limit: 1e7, at: source)
            for m in calibration.measurements {
                for value in m.trials + [m.median] {
                    try Self.check(value, "\(which) \(m.id)", limit: 1e15, at: source)
                }
            }
        }
    }
}

extension CaseKey {
    /// Names podbench writes (the transport and workload are kinds, checked when decoded): option
    /// names of lower-case letters, digits, `.`, `_`, `-`; option values and the hop's name
    /// without control or bidirectional characters; a rate a machine could offer. What a file
    /// holds beyond that could only have been written to mislead a reader (an option named
    /// `::error::` starts a GitHub Actions command in a table row), so it is refused.
    func validate(at place: String) throws {
        func identifier(_ text: String) -> Bool {
            guard let first = text.unicodeScalars.first, text.unicodeScalars.count <= 64 else { return false }
            let allowed = { (c: Unicode.Scalar) in
                ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "." || c == "_" || c == "-"
            }
            return ("a"..."z").contains(first) || ("0"..."9").contains(first)
                ? text.unicodeScalars.allSatisfy(allowed) : false
        }
        for name in options.keys where !identifier(name) {
            throw PodBenchError(
                .incompatibleResults,
                "\(place): the option name \(Self.quoted(name)) is not one podbench writes (lower-case letters, digits, '.', '_', '-')"
            )
        }
        for (name, value) in fileOptions {
            let clean = value.unicodeScalars.count <= 256 && TextEscaping.terminal(value) == value
            guard clean else {
                throw PodBenchError(
                    .incompatibleResults, "\(place): option \(name)'s value holds control characters or is too long")
            }
        }
        if let hop, !Hop.isValidName(hop.name) {
            throw PodBenchError(.incompatibleResults, "\(place): \(Hop.nameRule)")
        }
        if let rate, !(1...1_000_000_000_000).contains(rate) {
            throw PodBenchError(
                .incompatibleResults, "\(place): the offered rate \(rate) is not a rate in messages per second")
        }
    }
}

extension LatencySummary {
    /// Whether this summary is the one `histogram`'s summary gives: counts, extremes and
    /// percentiles exactly (they are read from the same buckets), the mean to 1% (decoding puts
    /// each bucket's values at one point).
    func agrees(with other: LatencySummary) -> Bool {
        count == other.count && min == other.min && max == other.max && p50 == other.p50 && p90 == other.p90
            && p99 == other.p99 && p999 == other.p999
            && abs(mean - other.mean) <= 0.01 * Swift.max(abs(other.mean), 1)
    }
}
