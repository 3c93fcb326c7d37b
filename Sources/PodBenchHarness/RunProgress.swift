import Dispatch
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
    private let state = Mutex((finished: 0, current: 0))

    public init(total: Int, plannedNanosecondsPerCase: Double, now: UInt64 = MonotonicClock.now()) {
        started = now
        self.total = total
        plannedNanoseconds = plannedNanosecondsPerCase
    }

    /// Case `number` (from 1) starts.
    public func starting(_ number: Int) { state.withLock { $0.current = number } }

    /// A case finished.
    public func finished() { state.withLock { $0.finished += 1 } }

    /// `0:41 elapsed, about 2:10 left`: what is left is the cases not finished times the mean a
    /// finished case took (the plan's figure before any has), less what the current one has run.
    public func status(now: UInt64 = MonotonicClock.now()) -> String {
        let (finished, _) = state.withLock { ($0.finished, $0.current) }
        let elapsed = Double(now &- started)
        let perCase = finished > 0 ? elapsed / Double(finished) : plannedNanoseconds
        let left = max(0, perCase * Double(total - finished) - (finished > 0 ? 0 : elapsed))
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

/// A status line on a terminal, redrawn every second in place (carriage return, erase line) with
/// the run's clock, and erased before any other line is written (`MeasurementSession.progress`).
/// `@unchecked`: the timer is set up in `init` and only cancelled after (Dispatch's cancel is
/// thread-safe); the text is behind a lock.
final class LiveStatus: @unchecked Sendable {
    private let timer: DispatchSourceTimer
    /// The case now running (a class, so the timer's handler can hold it).
    private final class Text: Sendable {
        let value = Mutex<String?>(nil)
    }
    private let text = Text()

    /// Whether stderr is a terminal that understands erasing a line.
    static var terminal: Bool {
        isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"].map { $0 != "dumb" } ?? false
    }

    init(clock: RunClock) {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { [text] in
            guard let prefix = text.value.withLock({ $0 }) else { return }
            MeasurementSession.drawStatus("\(prefix): \(clock.status())")
        }
        timer.resume()
    }

    /// The case now running, shown in front of the clock.
    func show(_ prefix: String?) { text.value.withLock { $0 = prefix } }

    func stop() {
        timer.cancel()
        MeasurementSession.drawStatus(nil)
    }
}
