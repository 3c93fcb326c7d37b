import Glibc
import PodBenchCore

/// UDP over the loopback address, one message a datagram (docs/datagrams.md). A full receive
/// buffer drops what arrives, so the stream and rate workloads count losses; a message is at most
/// one datagram (65,475 payload bytes over IPv4, 65,495 over IPv6): larger sizes are unavailable.
public protocol UDPSocketTransport: Transport
where Channel == DatagramChannel, Listener == DatagramSocket.Listener {
    /// The loopback address, port 0.
    static var loopback: SocketAddress { get }
}

extension UDPSocketTransport {
    public static var needs: String { "the network namespace" }
    public static var optionGroups: TransportOptions.Groups { .socket }

    public static func validate(_ options: TransportOptions) throws { try options.validateSocketBuffers() }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        options.socketKeyOptions()
    }

    public static func maximumPayload(_ options: TransportOptions) -> Int? {
        DatagramSocket.maximumPayload(kind: kind, family: loopback.family, options: options)
    }

    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> DatagramSocket.Listener {
        try place.refuseHop(for: kind)
        return try DatagramSocket.listen(kind: kind, address: loopback, options: options) { address, length in
            // The client's socket, connected to 127.0.0.1 (::1), sends from it: a hello from any
            // other address is not its.
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    UInt32(bigEndian: $0.pointee.sin_addr.s_addr) == 0x7F00_0001
                }
            case AF_INET6:
                return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    var loopback = in6addr_loopback
                    var got = $0.pointee.sin6_addr
                    return memcmp(&got, &loopback, MemoryLayout<in6_addr>.size) == 0
                }
            default: return false
            }
        }
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> DatagramChannel
    {
        // Only the loopback: a server cannot send this client's hellos to another host.
        guard case .datagram(let address, let nonce) = endpoint, address.withPort(0) == loopback else {
            throw endpoint.refused(for: kind)
        }
        return try DatagramSocket.connect(
            to: address, nonce: nonce, local: nil, kind: kind, options: options, timeoutNanoseconds: timeoutNanoseconds)
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        do {
            let listener = try listen(TransportOptions(), at: probePlace(places))
            return DatagramSocket.probe(kind: kind, needs: needs, listener: listener, local: nil)
        } catch {
            return (false, "\(error)")
        }
    }
}

/// UDP datagrams over 127.0.0.1.
public enum UDPTransport: UDPSocketTransport {
    public static let kind = TransportKind.udp
    public static let loopback = SocketAddress.ipv4(host: "127.0.0.1", port: 0)
}

/// UDP datagrams over ::1.
public enum UDP6Transport: UDPSocketTransport {
    public static let kind = TransportKind.udp6
    public static let loopback = SocketAddress.ipv6(host: "::1", port: 0)
}
