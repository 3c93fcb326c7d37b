import Dispatch
import Glibc
import Synchronization

/// The one way podbench takes Ctrl-C and termination: the signals lose their default action and
/// their arrivals are handed, counted from 1, to a handler that runs on a dispatch queue (not in
/// signal context: it may lock, allocate, write files, signal children). The first arrival
/// usually ends things in order, the second at once. Dispatch runs one signal's handler one call
/// at a time and merges arrivals while it runs, so a handler that has long work to do hands it
/// to another queue and returns, or a second Ctrl-C waits for it. `stop()` restores the default
/// actions. One watch per process at a time: libdispatch installs its own handler once per
/// signal, so a second watch of the same signal (or one made after `stop()`) would not hear it.
public final class InterruptWatch {
    private let sources: [any DispatchSourceSignal]
    private let numbers: [Int32]

    /// Watches `signals` (SIGINT and SIGTERM unless told otherwise).
    /// - Parameter handler: called with the signal and how many of the watched signals have
    ///   arrived so far, this one included.
    public init(signals: [Int32] = [SIGINT, SIGTERM], _ handler: @escaping @Sendable (Int32, Int) -> Void) {
        precondition(
            Self.made.exchange(true, ordering: .acquiringAndReleasing) == false,
            "one InterruptWatch per process: libdispatch would not deliver to a second")
        let count = Mutex(0)
        numbers = signals
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let seen = count.withLock { value -> Int in
                    value += 1
                    return value
                }
                handler(number, seen)
            }
            source.resume()
            return source
        }
    }

    private static let made = Atomic(false)

    /// Stops watching: the signals take their default action again.
    public func stop() {
        sources.forEach { $0.cancel() }
        for number in numbers { signal(number, SIG_DFL) }
    }

    /// The signal's name as users know it (`SIGINT`, `SIGTERM`, …).
    public static func name(of number: Int32) -> String {
        switch number {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        default: "signal \(number)"
        }
    }
}
