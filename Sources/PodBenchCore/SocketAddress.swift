#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a socket lives: a numeric IPv4 or IPv6 address and port, a Unix socket path (a file in
/// a shared volume) or a name in Linux's abstract Unix namespace (shared with the network
/// namespace). Written `tcp:127.0.0.1:7000`, `tcp:[::1]:7000`, `unix:/shared/ctl.sock`,
/// `unix:@podbench-ctl`.
public enum SocketAddress: Hashable, Sendable, CustomStringConvertible, Codable {
    case ipv4(host: String, port: UInt16)
    case ipv6(host: String, port: UInt16)
    case unixPath(String)
    case unixAbstract(String)

    /// Parses the written form.
    /// - Throws: `PodBenchError.invalidConfiguration` saying what the form should be.
    public init(parsing text: String) throws {
        let help =
            "write tcp:HOST:PORT (numeric host, e.g. tcp:127.0.0.1:7000 or tcp:[::1]:7000), unix:PATH or unix:@NAME"
        if text.hasPrefix("unix:") {
            let rest = String(text.dropFirst(5))
            guard !rest.isEmpty else { throw PodBenchError(.invalidConfiguration, "'\(text)' has no path: \(help)") }
            if rest.hasPrefix("@") {
                let name = String(rest.dropFirst())
                guard !name.isEmpty, name.utf8.count <= 106 else {
                    throw PodBenchError(.invalidConfiguration, "'\(text)': an abstract name takes 1 to 106 bytes")
                }
                self = .unixAbstract(name)
            } else {
                guard rest.utf8.count <= 107 else {
                    throw PodBenchError(
                        .invalidConfiguration,
                        "'\(text)': a Unix socket path takes at most 107 bytes; use a shorter directory")
                }
                self = .unixPath(rest)
            }
            return
        }
        guard text.hasPrefix("tcp:") else {
            throw PodBenchError(.invalidConfiguration, "'\(text)' is not an endpoint: \(help)")
        }
        let rest = text.dropFirst(4)
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                throw PodBenchError(.invalidConfiguration, "'\(text)' is not an endpoint: \(help)")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            portText = rest[rest.index(close, offsetBy: 2)...]
        } else {
            guard let colon = rest.lastIndex(of: ":") else {
                throw PodBenchError(.invalidConfiguration, "'\(text)' has no port: \(help)")
            }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        }
        guard let port = UInt16(portText) else {
            throw PodBenchError(.invalidConfiguration, "'\(text)' has a bad port '\(portText)': use 0 to 65535")
        }
        if host.contains(":") {
            var probe = in6_addr()
            guard inet_pton(AF_INET6, String(host), &probe) == 1 else {
                throw PodBenchError(.invalidConfiguration, "'\(host)' is not a numeric IPv6 address: \(help)")
            }
            self = .ipv6(host: String(host), port: port)
        } else {
            var probe = in_addr()
            guard inet_pton(AF_INET, String(host), &probe) == 1 else {
                throw PodBenchError(.invalidConfiguration, "'\(host)' is not a numeric IPv4 address: \(help)")
            }
            self = .ipv4(host: String(host), port: port)
        }
    }

    public var description: String {
        switch self {
        case .ipv4(let host, let port): "tcp:\(host):\(port)"
        case .ipv6(let host, let port): "tcp:[\(host)]:\(port)"
        case .unixPath(let path): "unix:\(path)"
        case .unixAbstract(let name): "unix:@\(name)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// The protocol family (AF_INET, AF_INET6, AF_UNIX).
    public var family: Int32 {
        switch self {
        case .ipv4: AF_INET
        case .ipv6: AF_INET6
        case .unixPath, .unixAbstract: AF_UNIX
        }
    }

    /// The same address with another port (TCP only).
    public func withPort(_ port: UInt16) -> SocketAddress {
        switch self {
        case .ipv4(let host, _): .ipv4(host: host, port: port)
        case .ipv6(let host, _): .ipv6(host: host, port: port)
        default: self
        }
    }

    /// Calls `body` with the C form of the address.
    public func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        switch self {
        case .ipv4(let host, let port):
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            _ = inet_pton(AF_INET, host, &addr.sin_addr)
            return try withUnsafePointer(to: &addr) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .ipv6(let host, let port):
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = port.bigEndian
            _ = inet_pton(AF_INET6, host, &addr.sin6_addr)
            return try withUnsafePointer(to: &addr) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        case .unixPath(let path):
            return try Self.withUnixAddress(Array(path.utf8), abstract: false, body)
        case .unixAbstract(let name):
            return try Self.withUnixAddress(Array(name.utf8), abstract: true, body)
        }
    }

    private static func withUnixAddress<R>(
        _ bytes: [UInt8], abstract: Bool, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R
    ) rethrows -> R {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let offset = abstract ? 1 : 0  // the abstract namespace starts with a NUL byte
        withUnsafeMutableBytes(of: &addr.sun_path) { path in
            for (i, byte) in bytes.enumerated() where i + offset < path.count { path[i + offset] = byte }
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        // An abstract address's length counts exactly its bytes; a path's counts the NUL too.
        let length = pathOffset + offset + bytes.count + (abstract ? 0 : 1)
        return try withUnsafePointer(to: &addr) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(length)) }
        }
    }
}
