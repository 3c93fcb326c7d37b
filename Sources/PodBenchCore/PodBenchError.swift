import SystemPackage

/// The one error type of podbench: a code a program can branch on, a message that tells the user
/// what to do next, the failed system call (if any) and where the error was thrown.
public struct PodBenchError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is.
    public enum Code: String, Codable, Sendable {
        /// The host forbids or lacks what a case needs; a result, not a crash.
        case unavailable
        /// The user asked for something that cannot work (bad option, bad combination).
        case invalidConfiguration
        /// The peer closed its end or died.
        case peerClosed
        /// The peer sent something that breaks the protocol.
        case protocolViolation
        /// The peer stopped answering within the allowed time.
        case timeout
        /// A system call failed.
        case ioFailure
        /// A results file cannot be read or does not fit.
        case incompatibleResults
        /// A message arrived lost, reordered or corrupted.
        case integrityFailure
        /// The user interrupted the run.
        case interrupted
        /// The peer did not prove that it may use this server (no or a wrong control token, another
        /// user), or the server refused it for now (too many waiting).
        case unauthorized
    }

    /// The failed system call and its errno.
    public struct SystemCause: Sendable, Equatable, CustomStringConvertible {
        /// The C function that failed, for example `connect`.
        public var call: String
        /// The errno it left.
        public var errno: Errno

        public init(call: String, errno: Errno) {
            self.call = call
            self.errno = errno
        }

        public var description: String { "\(call): \(errno.description) (errno \(errno.rawValue))" }
    }

    public var code: Code
    public var message: String
    public var cause: SystemCause?
    public var file: String
    public var line: Int

    public init(
        _ code: Code, _ message: String, cause: SystemCause? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.cause = cause
        self.file = file
        self.line = line
    }

    /// An error for a failed system call.
    public static func system(
        _ call: String, _ errno: Errno, _ message: String, file: String = #fileID, line: Int = #line
    ) -> PodBenchError {
        let code: Code =
            switch errno {
            case .connectionReset, .brokenPipe, .socketNotConnected: .peerClosed
            case .resourceTemporarilyUnavailable, .timedOut: .timeout
            default: .ioFailure
            }
        return PodBenchError(code, message, cause: SystemCause(call: call, errno: errno), file: file, line: line)
    }

    public var description: String {
        if let cause { return "\(message) [\(cause)]" }
        return message
    }

    public static func == (lhs: PodBenchError, rhs: PodBenchError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.cause == rhs.cause
    }
}
