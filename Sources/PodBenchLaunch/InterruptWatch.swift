import Dispatch
import Glibc
import Synchronization

/// The one way podbench takes Ctrl-C and termination: the signals lose their default action and
/// each arrival is handed, counted from 1, to a handler that runs on a dispatch queue (not in
/// signal context: it may lock, allocate, write files, signal children). The first arrival
/// usually ends things in order, the second at once. `stop()` restores the default actions.
public final class InterruptWatch {
    private let sources: [any DispatchSourceSignal]
    private let numbers: [Int32]

    /// Watches `signals` (SIGINT and SIGTERM unless told otherwise).
    /// - Parameter handler: called with the signal and how many of the watched signals have
    ///   arrived so far, this one included.
    public init(signals: [Int32] = [SIGINT, SIGTERM], _ handler: @escaping @Sendable (Int32, Int) -> Void) {
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
        case SIGHUP: "SIGHUP"
        case SIGUSR1: "SIGUSR1"
        case SIGUSR2: "SIGUSR2"
        default: "signal \(number)"
        }
    }
}
