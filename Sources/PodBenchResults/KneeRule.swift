/// The knee's rule (docs/report.md), in one place for `--rates auto` and the capacity table: going
/// up in offered rate, a point is past the knee when the channel delivers under 95% of what was
/// offered, or its p99 exceeds `factor` (2) times the best p99 of the points below it.
public struct KneeRule: Sendable {
    /// The share of the offered rate a channel must deliver to keep up.
    public static let deliveredShare = 0.95

    public let factor: Double
    /// The best p99 admitted so far (infinite before the first).
    public private(set) var bestP99 = Double.infinity

    public init(factor: Double = 2) {
        self.factor = factor
    }

    /// Whether `achieved` messages/s keep up with `offered`.
    public static func keptUp(offered: Double, achieved: Double) -> Bool {
        achieved >= deliveredShare * offered
    }

    /// Whether the next point up (in offered rate) is still below the knee; an admitted point's
    /// p99 (nil: none measured, never better) joins the best so far.
    public mutating func admit(offered: Double, achieved: Double, p99: Double?) -> Bool {
        let tail = p99 ?? .infinity
        guard Self.keptUp(offered: offered, achieved: achieved), !(bestP99.isFinite && tail > factor * bestP99) else {
            return false
        }
        bestP99 = min(bestP99, tail)
        return true
    }
}
