import PodBenchCore
import PodBenchTransports
import PodBenchURing

/// Every transport of this build, listed once. Adding a transport is its type (conforming to
/// `Transport`) and one line here; the matrix, the case key, validation and `probe` find it here.
/// It lives in Harness, the lowest module that sees the io_uring transports (PodBenchURing).
public enum TransportCatalog {
    /// In the order `probe` and help list them.
    public static let all: [any Transport.Type] = [
        TCPTransport.self,
        TCP6Transport.self,
        UnixStreamTransport.self,
        AbstractUnixStreamTransport.self,
        FIFOTransport.self,
        SharedMemoryTransport.self,
        FileTransport.self,
        URingTCPTransport.self,
        URingUnixStreamTransport.self,
        URingFileTransport.self,
    ]

    private static let byKind: [TransportKind: any Transport.Type] = Dictionary(
        uniqueKeysWithValues: all.map { ($0.kind, $0) })

    /// The type of `kind`. Every kind has one (a test holds the catalog to `TransportKind`).
    public static func transport(_ kind: TransportKind) -> any Transport.Type {
        guard let type = byKind[kind] else { preconditionFailure("\(kind) is not in TransportCatalog") }
        return type
    }
}
