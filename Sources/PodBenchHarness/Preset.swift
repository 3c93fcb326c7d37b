import PodBenchCore

/// A pod pattern `--preset` names (docs/patterns.md), and what it measures unless the command line
/// says otherwise: a preset fills only the lists not given.
public enum Preset: String, CaseIterable, Sendable {
    /// client → podbench's relay → server, localhost TCP both ways.
    case ambassador
    /// client → relay over a Unix socket, relay → server over TCP.
    case adapter
    /// The app appends records to a file; the relay follows it and ships them over TCP.
    case sidecarLogs = "sidecar-logs"
    /// A content-sync sidecar publishes versions into the shared volume (a new directory behind a
    /// swapped symlink, or a file renamed over the old one); the main container follows and reads
    /// each newest version whole. No hop: the volume is the channel.
    case contentSync = "content-sync"
    /// An HTTP sidecar: `run` starts nginx (or haproxy) between the sides, in TCP mode and in HTTP
    /// mode at once (two hops, one process), so each http1 case runs direct, through the proxy
    /// passing bytes, and through the proxy parsing HTTP: what the parsing adds is the difference.
    /// Both also take `--workloads http1,http2`: haproxy passes HTTP/2 on as HTTP/2, nginx (an
    /// HTTP/2 port of its own) as HTTP/1.1.
    case httpProxyNginx = "http-proxy=nginx"
    case httpProxyHAProxy = "http-proxy=haproxy"

    /// The transports between the hop and the server (the app's localhost TCP); content-sync's
    /// two ways of publishing.
    public var transports: [TransportKind] { self == .contentSync ? [.syncSymlink, .syncRename] : [.tcp] }

    /// The workloads, when the preset has its own: the log shipper's question is lag at an append
    /// rate, open loop; content-sync's, publish-to-visible latency flat out and at a rate.
    public var workloads: [WorkloadKind]? {
        switch self {
        case .sidecarLogs: [.rate]
        case .contentSync: [.stream, .rate]
        case .httpProxyNginx, .httpProxyHAProxy: [.http1]
        default: nil
        }
    }

    /// The transport the client speaks to podbench's relay; nil without a relay.
    public var relayIn: TransportKind? {
        switch self {
        case .ambassador: .tcp
        case .adapter: .uds
        case .sidecarLogs: .file
        case .contentSync, .httpProxyNginx, .httpProxyHAProxy: nil
        }
    }

    /// The proxy `run` starts between the sides; nil for the relay presets and content-sync.
    public var proxy: ProxyLauncher.Kind? {
        switch self {
        case .httpProxyNginx: .nginx
        case .httpProxyHAProxy: .haproxy
        default: nil
        }
    }

    /// The hop as `--via` spells it; nil without a relay.
    public var via: String? {
        switch self {
        case .ambassador: "relay"
        case .contentSync, .httpProxyNginx, .httpProxyHAProxy: nil
        default: relayIn.map { "relay:\($0.rawValue)" }
        }
    }

    /// `--preset`'s value, or an error naming the presets there are.
    public init(parsing text: String) throws {
        guard let preset = Preset(rawValue: text) else {
            throw PodBenchError(
                .invalidConfiguration,
                "--preset: '\(text)' is not ambassador, adapter, sidecar-logs, content-sync, http-proxy=nginx or http-proxy=haproxy"
            )
        }
        self = preset
    }
}
