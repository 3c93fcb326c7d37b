import Foundation
import Testing

@testable import PodBenchReport

/// Known answers: computed independently by scripts/stat-fixtures.py, which finds the exact null
/// distribution of U by enumerating every split of the ranks (the Swift code uses the recursion).
@Suite("Hodges–Lehmann estimate and Mann–Whitney interval")
struct ShiftEstimateTests {
    struct Fixture: Sendable, CustomTestStringConvertible {
        var a: [Double]
        var b: [Double]
        var estimate: Double
        var lower: Double?
        var upper: Double?
        var confidence: Double?
        var testDescription: String { "\(a.count) vs \(b.count)" }
    }

    static let fixtures: [Fixture] = [
        Fixture(
            a: [10, 11, 12, 13, 14], b: [12, 13.5, 14, 15, 16.5], estimate: 2.0, lower: -0.5, upper: 5.0,
            confidence: 0.9682539682539683),
        Fixture(a: [1, 2, 3], b: [2, 3, 4, 10], estimate: 1.5, lower: nil, upper: nil, confidence: nil),
        Fixture(
            a: [0.5, 0.7, 0.2, 0.9, 0.4, 0.6], b: [0.8, 1.1, 0.9, 1.4, 1.0, 1.2, 0.95], estimate: 0.5,
            lower: 0.20000000000000007, upper: 0.7999999999999999, confidence: 0.965034965034965),
        Fixture(a: [5.0, 5.1, 4.9], b: [6.0, 6.1, 5.9], estimate: 1.0, lower: nil, upper: nil, confidence: nil),
        Fixture(
            a: [100, 102, 98, 101, 99, 100.5, 97.5, 103], b: [90, 91, 89.5, 92, 88, 90.5, 91.5, 93], estimate: -9.5,
            lower: -11.5, upper: -7.5, confidence: 0.9501165501165502),
    ]

    @Test("estimates and intervals match the independent computation", arguments: fixtures)
    func knownAnswers(f: Fixture) {
        let s = ShiftEstimate(baseline: f.a, current: f.b, confidence: 0.95)
        #expect(abs(s.estimate - f.estimate) < 1e-9)
        #expect(s.lower.map { abs($0 - (f.lower ?? .nan)) < 1e-9 } ?? (f.lower == nil))
        #expect(s.upper.map { abs($0 - (f.upper ?? .nan)) < 1e-9 } ?? (f.upper == nil))
        #expect(s.achievedConfidence.map { abs($0 - (f.confidence ?? .nan)) < 1e-9 } ?? (f.confidence == nil))
    }

    @Test(
        "critical ranks match the published tables (and the enumeration)",
        arguments: [(5, 5, 3), (3, 3, 0), (4, 4, 1), (10, 10, 24), (8, 8, 14)] as [(Int, Int, Int)])
    func criticalRanks(m: Int, n: Int, k: Int) {
        let rank = ShiftEstimate.criticalRank(m: m, n: n, alphaHalf: 0.025)?.rank ?? 0
        #expect(rank == k)
    }

    @Test("the exact null distribution is a distribution: monotone, ends at 1, symmetric")
    func distribution() {
        let cdf = MannWhitneyDistribution.cumulative(m: 6, n: 9)
        #expect(cdf.count == 55)
        #expect(abs(cdf.last! - 1) < 1e-12)
        #expect(zip(cdf, cdf.dropFirst()).allSatisfy { $0 <= $1 })
        // P(U ≤ u) = P(U ≥ mn − u) = 1 − P(U ≤ mn − u − 1).
        for u in 0..<54 { #expect(abs(cdf[u] - (1 - cdf[53 - u])) < 1e-12) }
    }

    @Test("the Gaussian binomial's counts are the recursion's, for every m and n up to 12, and 1 against 50")
    func countsMatchRecursion() {
        // f(i, j, u) = f(i − 1, j, u − j) + f(i, j − 1, u): arrangements of i values below j others
        // with U = u, in integers (the classic recursion the distribution was first computed by).
        func counts(m: Int, n: Int) -> [UInt64] {
            var table = [[[UInt64]]](repeating: [[UInt64]](repeating: [], count: n + 1), count: m + 1)
            for i in 0...m {
                for j in 0...n {
                    var row = [UInt64](repeating: 0, count: i * j + 1)
                    if i == 0 || j == 0 {
                        row[0] = 1
                    } else {
                        for (u, c) in table[i][j - 1].enumerated() { row[u] += c }
                        for (u, c) in table[i - 1][j].enumerated() { row[u + j] += c }
                    }
                    table[i][j] = row
                }
            }
            return table[m][n]
        }
        for (m, n) in (0...12).flatMap({ m in (0...12).map { (m, $0) } }) + [(1, 50), (50, 1)] {
            let expected = counts(m: m, n: n)
            let total = Double(expected.reduce(0, +))
            var running = 0.0
            let cdf = MannWhitneyDistribution.cumulative(m: m, n: n)
            #expect(cdf.count == m * n + 1, "\(m) × \(n)")
            for (u, c) in expected.enumerated() {
                running += Double(c)
                #expect(abs(cdf[u] - running / total) < 1e-12, "\(m) × \(n), U = \(u)")
            }
        }
    }

    @Test("the normal approximation used for large samples agrees with the exact rank")
    func normalApproximation() {
        let exact = MannWhitneyDistribution.cumulative(m: 60, n: 60)
        let exactRank = (1...1800).last { exact[$0 - 1] <= 0.025 }!
        let total = 3600.0
        let sd = (total * 121 / 12).squareRoot()
        let approximate = Int((1800 - 1.959963984540054 * sd - 0.5).rounded(.down)) + 1
        #expect(abs(exactRank - approximate) <= 2)
        #expect(abs(NormalDistribution.quantile(0.975) - 1.959963984540054) < 1e-9)
        #expect(abs(NormalDistribution.cdf(1.959963984540054) - 0.975) < 1e-9)
        // Samples past the exact limit take the approximate path and still give an interval.
        let a = (0..<60).map { Double($0) }
        let s = ShiftEstimate(baseline: a, current: a.map { $0 + 10 })
        #expect(s.lower != nil && s.lower! < 10 && s.upper! > 10)
    }
}

@Suite("The signed-rank estimate of paired rounds")
struct SignedRankEstimateTests {
    @Test("exact critical values match the published table; too few rounds give no interval")
    func criticalValues() {
        // Wilcoxon signed-rank, two-sided 5%: the critical T is 0 for n = 6, 3 for 8, 8 for 10, 25 for 15.
        for (n, t) in [(6, 0), (8, 3), (10, 8), (15, 25)] {
            #expect(SignedRankEstimate.criticalRank(n: n, alphaHalf: 0.025)?.rank == t + 1, "n = \(n)")
        }
        #expect(SignedRankEstimate.criticalRank(n: 5, alphaHalf: 0.025) == nil)
        #expect(SignedRankEstimate.minimumRounds(confidence: 0.95) == 6)
        #expect(SignedRankEstimate.minimumRounds(confidence: 0.99) == 8)
        let cdf = SignedRankEstimate.cumulative(n: 10)
        #expect(abs(cdf.last! - 1) < 1e-12 && abs(cdf[8] - 0.0244) < 0.0005)
    }

    @Test("the estimate is the median of the Walsh averages; the interval holds it")
    func estimate() {
        let d = [0.1, 0.2, 0.15, 0.3, 0.12, 0.18, 0.22, 0.09]
        let e = SignedRankEstimate(differences: d, confidence: 0.95)
        var walsh: [Double] = []
        for i in d.indices { for j in i..<d.count { walsh.append((d[i] + d[j]) / 2) } }
        walsh.sort()
        #expect(abs(e.estimate - (walsh[17] + walsh[18]) / 2) < 1e-12)
        #expect(e.lower! <= e.estimate && e.estimate <= e.upper! && e.lower! > 0)
        #expect(e.achievedConfidence! >= 0.95)
    }

    @Test("selecting the order statistics gives what sorting every Walsh average gives, ties and all")
    func selection() {
        var random = SplitMix64(seed: 11)
        // Every n from 1 to 90 twice: drawn from a million levels, then from four (ties, the hard
        // case for a partition).
        for trial in 0..<180 {
            let n = 1 + trial % 90
            let d = (0..<n).map { _ in
                trial >= 90 ? Double(random.next() % 4) : Double(random.next() % 1_000_000) / 1e5 - 5
            }
            var walsh: [Double] = []
            for i in d.indices { for j in i..<d.count { walsh.append((d[i] + d[j]) / 2) } }
            walsh.sort()
            for confidence in [0.5, 0.95, 0.999] {
                let e = SignedRankEstimate(differences: d, confidence: confidence)
                let count = walsh.count
                #expect(e.estimate == (walsh[(count - 1) / 2] + walsh[count / 2]) / 2, "n \(n)")
                if let k = SignedRankEstimate.criticalRank(n: n, alphaHalf: (1 - confidence) / 2) {
                    #expect(e.lower == walsh[k.rank - 1] && e.upper == walsh[count - k.rank], "n \(n)")
                } else {
                    #expect(e.lower == nil && e.upper == nil)
                }
            }
        }
    }
}
