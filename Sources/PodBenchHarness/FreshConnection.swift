import Glibc
import PodBenchCore
import PodBenchTransports

/// Connections made in a fixed directory: where a side that cannot be told an exact endpoint (the
/// client of a relay, a relay forwarding to a server) finds the connection waiting for it. The
/// maker names them so the newest sorts last; a ring file and a FIFO pair keep their names only
/// until they are opened, a file connection counts as fresh while nobody has written it
/// (each transport's `waitingEndpoints`).
public enum FreshConnection {
    /// Connects with `T` to a connection waiting in `directory`, newest first, waiting while its
    /// maker is still making it (after the previous case); a candidate taken or removed meanwhile
    /// is skipped and the directory looked at again. A refusal that no retry can cure (a ring whose
    /// wait strategy disagrees with ours) ends the wait at once.
    public static func open<T: Transport>(
        _ transport: T.Type, in directory: String, options: TransportOptions, timeoutNanoseconds: UInt64
    ) throws -> T.Channel {
        let deadline = MonotonicClock.now() + timeoutNanoseconds
        while true {
            for candidate in T.waitingEndpoints(in: directory) {
                do {
                    return try T.connect(to: candidate, options: options, timeoutNanoseconds: timeoutNanoseconds)
                } catch let error as PodBenchError
                    where error.code != .invalidConfiguration && MonotonicClock.now() < deadline
                {
                    _ = error
                }
            }
            guard MonotonicClock.now() < deadline else {
                throw PodBenchError(
                    .timeout,
                    "no \(T.kind.rawValue) connection appeared in \(directory) in time: is the other side (a `podbench relay`, or the server) making its connections there?"
                )
            }
            usleep(200)
        }
    }
}

/// What is done with a channel once connected, generic over its type (so it runs specialised).
protocol ChannelUser {
    associatedtype Output
    func use<Channel: DataChannel & Sendable>(_ channel: Channel) throws -> Output
}

/// Connects to one side of a hop (`--via`, a relay's `--forward`) with the transport that speaks
/// to it, from the catalog: a socket's address, or the fresh connection in a directory.
struct HopConnection<User: ChannelUser>: TransportVisitor {
    let endpoint: HopEndpoint
    let options: TransportOptions
    let timeoutNanoseconds: UInt64
    let user: User

    /// Connects to `endpoint` and hands the channel to `user`.
    static func open(
        _ endpoint: HopEndpoint, options: TransportOptions, timeoutNanoseconds: UInt64, then user: User
    ) throws -> User.Output {
        try TransportCatalog.visit(
            endpoint.transport,
            with: HopConnection(
                endpoint: endpoint, options: options, timeoutNanoseconds: timeoutNanoseconds, user: user))
    }

    func visit<T: Transport>(_ transport: T.Type) throws -> User.Output {
        let channel: T.Channel
        switch endpoint {
        case .socket(let address):
            channel = try T.connect(
                to: .socket(address: address), options: options, timeoutNanoseconds: timeoutNanoseconds)
        case .file(let directory), .sharedMemory(let directory), .fifo(let directory):
            channel = try FreshConnection.open(
                T.self, in: directory, options: options, timeoutNanoseconds: timeoutNanoseconds)
        }
        return try user.use(channel)
    }
}
