/// The vocabulary of a case: what carries the messages and what pattern they follow. Every
/// module below the command line speaks it (results files, reports, the harness).

/// The transports this build measures, by their command-line names.
public enum TransportKind: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// TCP over 127.0.0.1 with TCP_NODELAY: what a pod's shared network namespace gives.
    case tcp
    /// TCP over ::1 with TCP_NODELAY.
    case tcp6
    /// A Unix stream socket at a path in the shared directory (a volume both containers mount).
    case uds
    /// A Unix stream socket in the abstract namespace (shared with the network namespace).
    case udsAbstract = "uds-abstract"
    /// Two named pipes in the shared directory, one each way.
    case fifo
    /// Two shared-memory rings in one mapped file in a memory-backed shared directory.
    case shm
    /// Records appended to files in the shared directory and followed by the reader, one set
    /// each way: the log-shipping sidecar's channel.
    case file
    /// `tcp` with every send and receive submitted through an io_uring.
    case uringTCP = "uring-tcp"
    /// `uds` with every send and receive submitted through an io_uring.
    case uringUDS = "uring-uds"
    /// `file` with its writes, fsyncs and reads submitted through an io_uring.
    case uringFile = "uring-file"
    /// UDP datagrams over 127.0.0.1: one message a datagram, which may be lost or reordered.
    case udp
    /// UDP datagrams over ::1.
    case udp6
    /// Unix datagram sockets at paths in the shared directory (the channel of statsd-style
    /// metrics agents): one message a datagram, the sender blocking while the receiver's queue is full.
    case udsDgram = "uds-dgram"
    /// A pair of pipes the server makes and the client takes from the server's process with
    /// pidfd_getfd(2): a channel that needs a shared process namespace and nothing else shared.
    case pidfdPipe = "pidfd-pipe"
    /// The same pipes passed to the client over a Unix socket in the shared volume (SCM_RIGHTS):
    /// what `pidfd-pipe` is compared with; needs a shared volume, not the process namespace.
    case scmPipe = "scm-pipe"
    /// Queued real-time signals to a thread of the other process, eight bytes a signal, read by a
    /// signalfd: the cost of "signal the other container". Needs a shared process namespace.
    case signal
    /// Cross-memory attach: the receiver copies each message straight out of the sender's memory
    /// with process_vm_readv(2), offers and doorbells on pipes taken with pidfd_getfd(2). Needs a
    /// shared process namespace and ptrace access both ways.
    case processVM = "process-vm"
    /// Content published into the shared volume as a content-sync sidecar and the kubelet's
    /// ConfigMap volumes do it: each message a new version directory behind a swapped symlink;
    /// the follower reads the newest version whole (superseded ones count as lost).
    case syncSymlink = "sync-symlink"
    /// The same, each version a file renamed over the published one.
    case syncRename = "sync-rename"

    public var description: String { rawValue }

    /// Whether it carries one message per datagram, which may be lost or reordered (its channel's
    /// `isDatagram`; a catalog test holds the two together): for what sees kinds, not channel types.
    public var carriesDatagrams: Bool {
        switch self {
        case .udp, .udp6, .udsDgram, .syncSymlink, .syncRename: true
        default: false
        }
    }

    /// The socket transport underneath an io_uring one (the same endpoints and socket options),
    /// the transport itself otherwise.
    public var socketKind: TransportKind {
        switch self {
        case .uringTCP: .tcp
        case .uringUDS: .uds
        default: self
        }
    }

    /// Whether HTTP runs over it: the stream sockets (HTTP's own transports), plain or through
    /// io_uring.
    public var carriesHTTP: Bool {
        switch socketKind {
        case .tcp, .tcp6, .uds, .udsAbstract: true
        default: false
        }
    }

    /// Parses a comma-separated list of transport names.
    /// - Throws: `.invalidConfiguration` naming the unknown transport and the known ones.
    public static func parseList(_ text: String) throws -> [TransportKind] {
        try NameList.parse(text, what: "transport")
    }
}

/// The workloads of this build.
public enum WorkloadKind: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// Closed loop: one message out, the same message back; round-trip latency.
    case pingpong
    /// One direction (client to server) as fast as the receiver takes it; throughput.
    case stream
    /// One direction at a fixed offered rate (open loop); latency from each message's intended
    /// send time, achieved rate next to offered.
    case rate
    /// HTTP/1.1 keep-alive, closed loop: one request out (a body of the case's size), its
    /// response back (the same size); round-trip latency per request (docs/http.md).
    case http1
    /// HTTP/2 over cleartext (h2c), closed loop with `--h2-streams` requests outstanding on one
    /// connection, each a body of the case's size answered with the same size; round-trip
    /// latency per request (docs/http.md).
    case http2
    /// HTTP/1.1 keep-alive at a fixed offered rate (open loop, one request outstanding on one
    /// connection, as wrk2 runs one): request k is due at `start + k / rate`, sent then or as soon
    /// as the answer before it is in, and timed from when it was due to its response's last byte;
    /// one case per `--rates` (docs/http.md).
    case http1Rate = "http1-rate"
    /// HTTP/2 at a fixed offered rate (open loop with up to `--h2-streams` requests outstanding on
    /// one connection, as wrk2 runs one connection's requests on a schedule): request k is due at
    /// `start + k / rate`, sent then on a free stream (or as soon as one frees), and timed from when
    /// it was due to its answer's last byte; one case per `--rates` and streams (docs/http.md).
    case http2Rate = "http2-rate"

    public var description: String { rawValue }

    /// Whether it offers load at a fixed rate (one case per `--rates`, latency from each message's
    /// intended send time, achieved rate next to offered): the capacity table's workloads.
    public var isOpenLoop: Bool { self == .rate || self == .http1Rate || self == .http2Rate }

    /// Whether the client records each message's round trip (pingpong, http1), where the others
    /// record one-way delivery at the server.
    public var measuresRoundTrip: Bool {
        switch self {
        case .pingpong, .http1, .http2, .http1Rate, .http2Rate: true
        case .stream, .rate: false
        }
    }

    /// Whether it speaks HTTP, and so runs only where `TransportKind.carriesHTTP` (http2 on fewer:
    /// `runs(on:)`).
    public var speaksHTTP: Bool { speaksHTTP1 || speaksHTTP2 }

    /// Whether it speaks HTTP/1.1 (`http1`, `http1-rate`): the same messages, the same server.
    public var speaksHTTP1: Bool { self == .http1 || self == .http1Rate }

    /// Whether it speaks HTTP/2 (`http2`, `http2-rate`): the same session, streams and server.
    public var speaksHTTP2: Bool { self == .http2 || self == .http2Rate }

    /// Whether a case of this workload can be made on `transport`: HTTP/1.1 on the stream sockets,
    /// HTTP/2 on the plain ones (its client polls the socket itself, which the io_uring channels'
    /// batching would bypass), the others everywhere.
    public func runs(on transport: TransportKind) -> Bool {
        switch self {
        case .http1, .http1Rate: transport.carriesHTTP
        case .http2, .http2Rate:
            transport == .tcp || transport == .tcp6 || transport == .uds || transport == .udsAbstract
        case .pingpong, .stream, .rate: true
        }
    }

    /// The transports `runs(on:)` takes for an HTTP workload, in words.
    public var transportsInWords: String {
        speaksHTTP2
            ? "tcp, tcp6, uds or uds-abstract" : "tcp, tcp6, uds, uds-abstract, uring-tcp or uring-uds"
    }

    /// Parses a comma-separated list of workload names.
    public static func parseList(_ text: String) throws -> [WorkloadKind] {
        try NameList.parse(text, what: "workload")
    }
}
