import Foundation
import PodBenchCore
import SystemPackage

/// Between `serve`'s accepting thread and its serving thread: counts the connections that wait
/// (being authenticated, or authenticated and queued) against a limit, and hands authenticated
/// ones over in arrival order.
///
/// When the limit is reached, a new connection evicts the oldest one that has not yet proved
/// itself (its socket is shut down, so its authenticating thread gives up at once): connections
/// without the token cannot keep a real client out by holding every place until they time out.
/// Only when every waiting connection is authenticated is the new one refused as busy.
final class AdmissionGate: @unchecked Sendable {
    private let condition = NSCondition()
    private let limit: Int
    private var waiting = 0
    /// Admitted connections still authenticating, oldest first (by descriptor, unique while open:
    /// each leaves this list, under the lock, before its descriptor is closed).
    private var unproven: [FileDescriptor] = []
    private var queue: [(ControlConnection, Hello)] = []
    private var stopped = false
    private var failure: PodBenchError?

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Counts a new connection in, evicting the oldest unauthenticated one when all places are
    /// taken; false when every waiting connection is authenticated (the caller refuses it).
    func admit(_ fd: FileDescriptor) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return false }
        if waiting >= limit {
            guard !unproven.isEmpty else { return false }
            // Its thread sees an error or end of stream, and leaves (counted out then).
            unproven.removeFirst().shutdownBoth()
        }
        waiting += 1
        unproven.append(fd)
        return true
    }

    /// A connection's authentication is over (either way): it can no longer be evicted. Called
    /// before its descriptor is closed or handed on.
    func proven(_ fd: FileDescriptor) {
        condition.lock()
        unproven.removeAll { $0 == fd }
        condition.unlock()
    }

    /// An admitted connection that failed authentication: no longer waiting.
    func leave() {
        condition.lock()
        waiting -= 1
        condition.unlock()
    }

    /// An admitted connection that passed: it queues for the serving thread.
    func enqueue(_ admitted: (ControlConnection, Hello)) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else {
            waiting -= 1
            admitted.0.close()
            return
        }
        queue.append(admitted)
        condition.signal()
    }

    /// What waiting for the next client gave.
    enum Next {
        case client(ControlConnection, Hello)
        /// No authenticated client came within the time allowed.
        case idle
    }

    /// The next authenticated client, waiting for one (at most `idleNanoseconds`, when given);
    /// nil once stopped.
    /// - Throws: the error that stopped the accepting thread, if one did.
    func next(idleNanoseconds: UInt64? = nil) throws -> Next? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = idleNanoseconds.map { Date(timeIntervalSinceNow: Double($0) / 1e9) }
        while queue.isEmpty && !stopped {
            if let deadline {
                if !condition.wait(until: deadline) && queue.isEmpty && !stopped { return .idle }
            } else {
                condition.wait()
            }
        }
        if let failure { throw failure }
        guard !stopped else { return nil }
        waiting -= 1
        let (connection, hello) = queue.removeFirst()
        return .client(connection, hello)
    }

    /// Stops handing out clients and closes the queued ones; `failure` is what `next` throws.
    func stop(failure: PodBenchError? = nil) {
        condition.lock()
        defer { condition.unlock() }
        if self.failure == nil { self.failure = failure }
        stopped = true
        for (connection, _) in queue { connection.close() }
        queue.removeAll()
        condition.broadcast()
    }

    var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }
}
