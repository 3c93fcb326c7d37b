import PodBenchCore
import PodBenchTransports
import PodBenchURing

/// Every transport of this build, listed once. Adding a transport is its type (conforming to
/// `Transport`) and one line here; the matrix, the case key, validation and `probe` find it here.
/// It lives in Harness, the lowest module that sees the io_uring transports (PodBenchURing).
public enum TransportCatalog {
    /// The type of `kind`: one switch, so the compiler holds the catalog to `TransportKind`.
    public static func transport(_ kind: TransportKind) -> any Transport.Type {
        switch kind {
        case .tcp: TCPTransport.self
        case .tcp6: TCP6Transport.self
        case .uds: UnixStreamTransport.self
        case .udsAbstract: AbstractUnixStreamTransport.self
        case .fifo: FIFOTransport.self
        case .shm: SharedMemoryTransport.self
        case .file: FileTransport.self
        case .uringTCP: URingTCPTransport.self
        case .uringUDS: URingUnixStreamTransport.self
        case .uringFile: URingFileTransport.self
        }
    }

    /// Every transport, in `TransportKind`'s order (the order `probe` and help list them).
    public static var all: [any Transport.Type] { TransportKind.allCases.map(transport) }
}
