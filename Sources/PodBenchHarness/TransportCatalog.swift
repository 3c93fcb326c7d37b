import PodBenchCore
import PodBenchTransports
import PodBenchURing

/// Every transport of this build, listed once. Adding a transport is its type (conforming to
/// `Transport`) and one line here; the matrix, the case key, validation, `probe`, the client and the
/// server find it here. It lives in Harness, the lowest module that sees the io_uring transports
/// (PodBenchURing).
public enum TransportCatalog {
    /// Calls `visitor` with the type of `kind`: the one switch, so the compiler holds the catalog
    /// to `TransportKind`. The visitor's generic `visit` is specialised per transport, so what it
    /// runs over the transport's `Channel` is statically dispatched.
    public static func visit<Visitor: TransportVisitor>(_ kind: TransportKind, with visitor: Visitor)
        throws(Visitor.Failure) -> Visitor.Output
    {
        switch kind {
        case .tcp: try visitor.visit(TCPTransport.self)
        case .tcp6: try visitor.visit(TCP6Transport.self)
        case .uds: try visitor.visit(UnixStreamTransport.self)
        case .udsAbstract: try visitor.visit(AbstractUnixStreamTransport.self)
        case .fifo: try visitor.visit(FIFOTransport.self)
        case .shm: try visitor.visit(SharedMemoryTransport.self)
        case .file: try visitor.visit(FileTransport.self)
        case .uringTCP: try visitor.visit(URingTCPTransport.self)
        case .uringUDS: try visitor.visit(URingUnixStreamTransport.self)
        case .uringFile: try visitor.visit(URingFileTransport.self)
        case .udp: try visitor.visit(UDPTransport.self)
        case .udp6: try visitor.visit(UDP6Transport.self)
        case .udsDgram: try visitor.visit(UnixDatagramTransport.self)
        case .pidfdPipe: try visitor.visit(PidfdPipeTransport.self)
        case .scmPipe: try visitor.visit(ScmPipeTransport.self)
        case .signal: try visitor.visit(SignalTransport.self)
        case .processVM: try visitor.visit(ProcessVMTransport.self)
        case .syncSymlink: try visitor.visit(ContentSyncSymlinkTransport.self)
        case .syncRename: try visitor.visit(ContentSyncRenameTransport.self)
        }
    }

    /// The type of `kind`, for what needs no `Channel` (its description, options, key, probe).
    public static func transport(_ kind: TransportKind) -> any Transport.Type {
        visit(kind, with: TypeOf())
    }

    /// Every transport, in `TransportKind`'s order (the order `probe` and help list them).
    public static var all: [any Transport.Type] { TransportKind.allCases.map(transport) }

    private struct TypeOf: TransportVisitor {
        typealias Failure = Never
        func visit<T: Transport>(_ transport: T.Type) -> any Transport.Type { transport }
    }
}

/// Something done with one transport's type, generic over it (`TransportCatalog.visit`).
public protocol TransportVisitor {
    associatedtype Output
    associatedtype Failure: Error = any Error
    func visit<T: Transport>(_ transport: T.Type) throws(Failure) -> Output
}
