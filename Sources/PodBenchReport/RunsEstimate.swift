import Foundation

/// The difference between two groups of runs, each run one value (the logarithm of its median
/// over trials): what `compare` gives when a side holds several runs (a baseline of several runs,
/// `baseline save NAME RUN...`). Runs are the unit, trials nested in them: the spread between
/// runs, which the trials of one run cannot show, is in the interval.
///
/// The estimate is the difference of the means; the interval is Student's t with the variance
/// pooled over both sides (k + j − 2 degrees of freedom), so one current run can be judged
/// against a baseline of several, on the assumption that it drifts as they do. With fewer than
/// three runs in all there is no interval.
public struct RunsEstimate: Equatable, Sendable {
    public var estimate: Double
    public var lower: Double?
    public var upper: Double?
    /// The pooled standard deviation of a run's value (the run-to-run spread).
    public var runSpread: Double?

    /// The smallest spread assumed: a histogram's relative resolution (0.1%).
    public static let resolution = 0.001

    public init(baseline x: [Double], current y: [Double], confidence: Double) {
        precondition(!x.isEmpty && !y.isEmpty, "each side needs a run")
        let mx = x.reduce(0, +) / Double(x.count)
        let my = y.reduce(0, +) / Double(y.count)
        estimate = my - mx
        let df = x.count + y.count - 2
        guard df >= 1 else { return }
        let squares = x.reduce(0) { $0 + ($1 - mx) * ($1 - mx) } + y.reduce(0) { $0 + ($1 - my) * ($1 - my) }
        // Floored at the histograms' resolution (3 significant digits): runs whose values agree
        // exactly have a spread too small to see, not none, and a zero would make any difference
        // beyond δ certain.
        let spread = max((squares / Double(df)).squareRoot(), Self.resolution)
        runSpread = spread
        let standardError = spread * (1 / Double(x.count) + 1 / Double(y.count)).squareRoot()
        let t = StudentT.quantile(1 - (1 - confidence) / 2, degreesOfFreedom: Double(df))
        lower = estimate - t * standardError
        upper = estimate + t * standardError
    }
}

/// Student's t distribution: its CDF from the regularized incomplete beta function (evaluated by
/// its continued fraction), its quantile by bisection.
enum StudentT {
    static func cdf(_ t: Double, degreesOfFreedom v: Double) -> Double {
        let x = v / (v + t * t)
        let tail = 0.5 * incompleteBeta(x, a: v / 2, b: 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    static func quantile(_ p: Double, degreesOfFreedom v: Double) -> Double {
        precondition(p > 0 && p < 1, "a probability strictly between 0 and 1")
        if p < 0.5 { return -quantile(1 - p, degreesOfFreedom: v) }
        var low = 0.0
        var high = 1.0
        while cdf(high, degreesOfFreedom: v) < p { high *= 2 }
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if cdf(mid, degreesOfFreedom: v) < p { low = mid } else { high = mid }
            if high - low < 1e-12 * max(1, high) { break }
        }
        return (low + high) / 2
    }

    /// I_x(a, b), the regularized incomplete beta function.
    static func incompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
        // The continued fraction converges fast below the mean; above it, by symmetry.
        if x > (a + 1) / (a + b + 2) { return 1 - incompleteBeta(1 - x, a: b, b: a) }
        return exp(logFront) * continuedFraction(x, a: a, b: b) / a
    }

    /// The continued fraction of I_x(a, b) (modified Lentz evaluation).
    static func continuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var result = d
        for m in 1...500 {
            let m = Double(m)
            // The even step, then the odd step, of the fraction's coefficients.
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + even * d
            if abs(d) < tiny { d = tiny }
            c = 1 + even / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            result *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + odd * d
            if abs(d) < tiny { d = tiny }
            c = 1 + odd / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            result *= step
            if abs(step - 1) < 1e-15 { break }
        }
        return result
    }
}
