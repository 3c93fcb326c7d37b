import Glibc
import PodBenchCore

/// Unix datagram sockets at paths in the shared directory: the channel of statsd-style metrics
/// agents (docs/datagrams.md). The server binds `NAME.dgram`, the client `NAME.dgram.c` beside it;
/// each connects to the other. A sender blocks while the receiver's queue is full, so nothing is
/// lost, but a message is at most one datagram: the socket's send buffer less 64 bytes.
public enum UnixDatagramTransport: Transport {
    public static let kind = TransportKind.udsDgram
    public static let needs = "a shared volume (directory)"
    public static var optionGroups: TransportOptions.Groups { .socket }

    public static func validate(_ options: TransportOptions) throws { try options.validateSocketBuffers() }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        options.socketKeyOptions()
    }

    public static func maximumPayload(_ options: TransportOptions) -> Int? {
        DatagramSocket.maximumPayload(kind: kind, family: AF_UNIX, options: options)
    }

    /// Where the client of the server at `path` binds: the one sender the server accepts.
    public static func clientPath(of path: String) -> String { path + ".c" }

    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> DatagramSocket.Listener {
        try place.refuseHop(for: kind)
        let path = place.sharedDirectory + "/" + place.name + ".dgram"
        _ = SystemFiles.removeSocketFile(path)
        let expected = Array(clientPath(of: path).utf8)
        return try DatagramSocket.listen(kind: kind, address: .unixPath(path), options: options) { address, length in
            guard Int32(address.pointee.sa_family) == AF_UNIX else { return false }
            return address.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { un in
                withUnsafeBytes(of: un.pointee.sun_path) { raw in
                    let room = min(raw.count, max(0, Int(length) - MemoryLayout<sa_family_t>.size))
                    let name = raw.prefix(room).prefix { $0 != 0 }
                    return name.elementsEqual(expected)
                }
            }
        }
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> DatagramChannel
    {
        // The client binds (and first removes a stale socket at) a path next to the server's: only
        // next to a socket named as a server names it, never anywhere a server says.
        guard case .datagram(.unixPath(let path), let nonce) = endpoint, isServerPath(path) else {
            throw endpoint.refused(for: kind)
        }
        return try DatagramSocket.connect(
            to: .unixPath(path), nonce: nonce, local: .unixPath(clientPath(of: path)), kind: kind, options: options,
            timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Whether `path` is absolute, names a file `podbench-….dgram`, and has no `.` or `..` step.
    static func isServerPath(_ path: String) -> Bool {
        let steps = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), let name = steps.last, name.hasPrefix("podbench-"), name.hasSuffix(".dgram"),
            !steps.contains(where: { $0 == "." || $0 == ".." })
        else { return false }
        return true
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        do {
            let listener = try listen(TransportOptions(), at: probePlace(places))
            guard case .unixPath(let path) = listener.address else { return (false, "no socket path") }
            return DatagramSocket.probe(
                kind: kind, needs: needs, listener: listener, local: .unixPath(clientPath(of: path)))
        } catch {
            return (false, "\(error)")
        }
    }
}
