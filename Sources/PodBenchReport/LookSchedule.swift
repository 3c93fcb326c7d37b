import Foundation

/// The rounds at which `podbench ab` looks at its verdicts, and the confidence of each look.
///
/// Looking again and again at a growing sample and stopping at the first decision inflates false
/// alarms; the asked confidence is therefore divided over the looks (Bonferroni: with k looks each
/// is taken at 1 − α/k), which keeps the chance of any false verdict over all the looks at α or
/// less. The schedule grows by about a third each time, so few looks cover many rounds; the last
/// look is always at `maxRounds` (or at whatever round the budget stops), so a run that stops
/// early is judged at a look it paid for.
public struct LookSchedule: Equatable, Sendable {
    /// The rounds after which the verdicts are looked at, ascending.
    public var rounds: [Int]
    /// The confidence of each look's intervals.
    public var perLook: Double

    public init(maxRounds: Int, confidence: Double) {
        var count = 2
        while true {
            let perLook = 1 - (1 - confidence) / Double(count)
            let first = SignedRankEstimate.minimumRounds(confidence: perLook)
            var schedule: [Int] = []
            var n = first
            while n < maxRounds {
                schedule.append(n)
                n = max(n + 1, Int((Double(n) * 1.35).rounded(.up)))
            }
            schedule.append(max(maxRounds, first))
            // One look is kept for a budget that ends between two scheduled looks.
            if schedule.count + 1 <= count {
                rounds = schedule
                self.perLook = perLook
                return
            }
            count += 1
        }
    }

    /// The fewest rounds that can decide anything.
    public var first: Int { rounds.first ?? 0 }
}
