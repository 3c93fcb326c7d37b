import Foundation

/// The one-sample Hodges–Lehmann estimate of the centre of paired differences and its
/// distribution-free confidence interval from the Wilcoxon signed-rank statistic: the estimate
/// `podbench ab` gives for each case and metric from its rounds (one difference of logarithms,
/// B − A, per round).
///
/// For n differences the n(n+1)/2 Walsh averages `(d[i] + d[j]) / 2, i ≤ j` are ranked: the
/// estimate is their median, and the interval with confidence 1 − α is `[W(k), W(N + 1 − k)]`,
/// where k is the largest integer with `P(T ≤ k − 1) ≤ α/2` under the null distribution of the
/// signed-rank statistic T (exact, counted by the classic recursion, for n ≤ 60; the normal
/// approximation beyond). With too few rounds for any such k (5 or fewer at 95%) there is no
/// interval.
public struct SignedRankEstimate: Equatable, Sendable {
    public var estimate: Double
    public var lower: Double?
    public var upper: Double?
    /// The confidence the interval really has (≥ the one asked; exact intervals are discrete).
    public var achievedConfidence: Double?

    public init(differences d: [Double], confidence: Double) {
        precondition(!d.isEmpty, "the estimate needs differences")
        var walsh: [Double] = []
        walsh.reserveCapacity(d.count * (d.count + 1) / 2)
        for i in d.indices {
            for j in i..<d.count { walsh.append((d[i] + d[j]) / 2) }
        }
        // Only four order statistics are needed: selected, not sorted (ab looks at hundreds of
        // rounds, tens of thousands of averages, many times over). Selected in ascending order of
        // rank, each among the values above the last one's place.
        let count = walsh.count
        let critical = Self.criticalRank(n: d.count, alphaHalf: (1 - confidence) / 2)
        var ranks: Set<Int> = [(count - 1) / 2, count / 2]
        if let k = critical {
            ranks.insert(k.rank - 1)
            ranks.insert(count - k.rank)
        }
        var from = 0
        for rank in ranks.sorted() {
            Self.select(rank, in: &walsh, from..<count)
            from = rank + 1
        }
        estimate = (walsh[(count - 1) / 2] + walsh[count / 2]) / 2
        if let k = critical {
            lower = walsh[k.rank - 1]
            upper = walsh[count - k.rank]
            achievedConfidence = 1 - 2 * k.tail
        }
    }

    /// Puts the value of order `rank` (from 0, of those in `range`) at `rank`, the smaller ones
    /// before it and the larger after (Hoare's selection, median-of-three pivots).
    static func select(_ rank: Int, in values: inout [Double], _ range: Range<Int>) {
        var low = range.lowerBound
        var high = range.upperBound - 1
        while low < high {
            let mid = low + (high - low) / 2
            // Median of three as the pivot, left at `mid`.
            if values[mid] < values[low] { values.swapAt(mid, low) }
            if values[high] < values[low] { values.swapAt(high, low) }
            if values[high] < values[mid] { values.swapAt(high, mid) }
            let pivot = values[mid]
            var i = low
            var j = high
            while i <= j {
                while values[i] < pivot { i += 1 }
                while pivot < values[j] { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if rank <= j {
                high = j
            } else if rank >= i {
                low = i
            } else {
                return
            }
        }
    }

    /// The smallest number of rounds with any interval at this confidence.
    public static func minimumRounds(confidence: Double) -> Int {
        var n = 1
        while criticalRank(n: n, alphaHalf: (1 - confidence) / 2) == nil { n += 1 }
        return n
    }

    /// The largest k with `P(T ≤ k − 1) ≤ alphaHalf`, and that probability; nil when none.
    static func criticalRank(n: Int, alphaHalf: Double) -> (rank: Int, tail: Double)? {
        let total = n * (n + 1) / 2
        if n <= 60 {
            let cdf = cumulative(n: n)
            var best: (Int, Double)?
            for k in 1...(total / 2 + 1) {
                let tail = cdf[k - 1]
                if tail <= alphaHalf { best = (k, tail) } else { break }
            }
            return best
        }
        let mean = Double(total) / 2
        let sd = (Double(n) * Double(n + 1) * Double(2 * n + 1) / 24).squareRoot()
        let z = NormalDistribution.quantile(1 - alphaHalf)
        let k = Int((mean - z * sd - 0.5).rounded(.down)) + 1
        guard k >= 1 else { return nil }
        return (k, NormalDistribution.cdf((Double(k - 1) + 0.5 - mean) / sd))
    }

    /// `result[t] = P(T ≤ t)` for n differences without ties: the number of subsets of
    /// {1, …, n} with sum t, over 2^n.
    static func cumulative(n: Int) -> [Double] {
        let total = n * (n + 1) / 2
        var counts = [Double](repeating: 0, count: total + 1)
        counts[0] = 1
        if n > 0 {
            for rank in 1...n {
                for t in stride(from: total, through: rank, by: -1) { counts[t] += counts[t - rank] }
            }
        }
        let all = pow(2, Double(n))
        var out = [Double](repeating: 0, count: total + 1)
        var running = 0.0
        for t in 0...total {
            running += counts[t]
            out[t] = running / all
        }
        return out
    }
}
