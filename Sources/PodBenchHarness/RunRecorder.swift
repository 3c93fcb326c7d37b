import PodBenchCore
import PodBenchResults
import Synchronization

/// Holds a run's results as they come in and writes them: each finished case to the journal at
/// once, the whole file at the end. Thread-safe, so that a signal handler on another thread can
/// write the finished cases of an interrupted run while the measuring thread is blocked.
public final class RunRecorder: Sendable {
    struct State {
        var run: RunResult
        var finishedPath: String?
    }

    private let state: Mutex<State>
    public let store: ResultsStore

    public init(store: ResultsStore, run: RunResult) {
        self.store = store
        state = Mutex(State(run: run))
    }

    /// Adds a finished case (journal first, so it survives a crash).
    public func record(_ result: CaseResult) throws {
        try state.withLock { state in
            guard state.finishedPath == nil else { return }
            state.run.cases.append(result)
            try store.appendToJournal(result)
        }
    }

    /// Records the calibration taken at the end of the run.
    public func setCalibrationAfter(_ calibration: Calibration) {
        state.withLock { $0.run.calibrationAfter = calibration }
    }

    /// The run so far.
    public var snapshot: RunResult { state.withLock { $0.run } }

    /// Writes the results file, once; later calls return the same path.
    public func finish(complete: Bool, reason: String?, finishedAt: String) throws -> String {
        try state.withLock { state in
            if let path = state.finishedPath { return path }
            state.run.complete = complete
            state.run.incompleteReason = complete ? nil : reason
            state.run.finishedAt = finishedAt
            try store.finish(state.run)
            state.finishedPath = store.path
            return store.path
        }
    }
}
