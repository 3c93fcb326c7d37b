import PodBenchCore

extension RunResult {
    /// Checks what JSON decoding cannot: every figure finite and non-negative, every histogram
    /// decodable, every message size in range. A file that fails is refused whole, with the case
    /// and trial named, rather than half-trusted.
    /// - Throws: `.incompatibleResults`.
    public func validate(source: String) throws {
        for (caseIndex, c) in cases.enumerated() {
            let where_ = "\(source): case \(caseIndex + 1) (\(c.key))"
            guard c.key.messageSize >= 1, c.key.messageSize <= ByteSize.maximum else {
                throw PodBenchError(
                    .incompatibleResults, "\(where_): message size \(c.key.messageSize) is out of range")
            }
            for trial in c.trials + (c.warmup.map { [$0] } ?? []) {
                let figures: [(String, Double)] = [
                    ("messagesPerSecond", trial.messagesPerSecond), ("bytesPerSecond", trial.bytesPerSecond),
                    ("client cpuNanosecondsPerMessage", trial.client.cpuNanosecondsPerMessage),
                    ("server cpuNanosecondsPerMessage", trial.server.cpuNanosecondsPerMessage),
                    ("client contextSwitchesPerMessage", trial.client.contextSwitchesPerMessage),
                    ("server contextSwitchesPerMessage", trial.server.contextSwitchesPerMessage),
                    ("latencySummary.mean", trial.latencySummary?.mean ?? 0),
                ]
                for (name, value) in figures where !value.isFinite || value < 0 {
                    throw PodBenchError(
                        .incompatibleResults,
                        "\(where_), trial \(trial.index): \(name) is \(value), not a finite figure ≥ 0")
                }
                for histogram in [trial.latency, trial.oneWayLatency].compactMap({ $0 }) {
                    do {
                        _ = try histogram.decode()
                    } catch let error as PodBenchError {
                        throw PodBenchError(.incompatibleResults, "\(where_), trial \(trial.index): \(error.message)")
                    }
                }
            }
        }
    }
}
