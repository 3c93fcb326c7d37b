import Foundation
import PodBenchCore
import Synchronization

/// How far a run is: elapsed time and an estimate of what is left, for the progress lines
/// (`[3/12, 0:41 elapsed, about 2:10 left]`) and, on a terminal, a status line redrawn every
/// second while a case runs, so a long trial never leaves the terminal silent.
public final class RunClock: Sendable {
    let started: UInt64
    let total: Int
    /// What one case should take by the plan: warm-up and trials (a guess with --messages).
    let plannedNanoseconds: Double
    /// Cases finished, and when the last one did.
    private let state = Mutex((finished: 0, lastFinished: UInt64(0)))

    public init(total: Int, plannedNanosecondsPerCase: Double, now: UInt64 = MonotonicClock.now()) {
        started = now
        state.withLock { $0.lastFinished = now }
        self.total = total
        plannedNanoseconds = plannedNanosecondsPerCase
    }

    /// A case finished.
    public func finished(now: UInt64 = MonotonicClock.now()) {
        state.withLock {
            $0.finished += 1
            $0.lastFinished = now
        }
    }

    /// `0:41 elapsed, about 2:10 left`: what is left is the cases not finished times the mean a
    /// finished case took (the plan's figure before any has), less what the case in progress has
    /// run already.
    public func status(now: UInt64 = MonotonicClock.now()) -> String {
        let (finished, last) = state.withLock { ($0.finished, $0.lastFinished) }
        let elapsed = Double(now &- started)
        let perCase = finished > 0 ? Double(last &- started) / Double(finished) : plannedNanoseconds
        let running = Double(now &- last)
        let left = max(0, perCase * Double(total - finished) - running)
        return "\(Self.clock(elapsed)) elapsed, about \(Self.clock(left)) left"
    }

    /// `0:07`, `2:10`, `1:02:03`.
    public static func clock(_ nanoseconds: Double) -> String {
        let seconds = Int((max(0, nanoseconds) / 1e9).rounded())
        let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }

    /// The label of case `number` in a progress line: `[3/12, 0:41 elapsed, about 2:10 left]`.
    public func label(_ number: Int) -> String { "[\(number)/\(total), \(status())]" }
}

/// A status line on a terminal, drawn in place (carriage return, erase line) with the run's clock
/// when a phase of a case starts (`[3/12] tcp pingpong 64: trial 2/5, 0:41 elapsed, about 2:10
/// left`), and erased before any other line is written (`MeasurementSession.progress`). It is
/// drawn only between phases: a timer redrawing it during a trial would wake a thread beside the
/// measuring ones (on a 2-CPU machine with both pinned, it preempts one of them).
final class LiveStatus: Sendable {
    let clock: RunClock
    let trials: Int
    private let text = Mutex<String?>(nil)

    /// Whether stderr is a terminal that understands erasing a line.
    static var terminal: Bool {
        isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"].map { $0 != "dumb" } ?? false
    }

    init(clock: RunClock, trials: Int) {
        self.clock = clock
        self.trials = trials
    }

    /// The case now running (nil: none; the line is erased).
    func show(_ prefix: String?) {
        text.withLock { $0 = prefix }
        if prefix == nil { MeasurementSession.drawStatus(nil) }
    }

    /// Phase `index` of the case shown starts (-1: warm-up).
    func phase(_ index: Int) {
        guard let prefix = text.withLock({ $0 }) else { return }
        let phase = index < 0 ? "warm-up" : "trial \(index + 1)/\(trials)"
        MeasurementSession.drawStatus("\(prefix): \(phase), \(clock.status())")
    }

    func stop() { show(nil) }
}
