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

    /// The transports between the hop and the server (the app's localhost TCP); content-sync's
    /// two ways of publishing.
    public var transports: [TransportKind] { self == .contentSync ? [.syncSymlink, .syncRename] : [.tcp] }

    /// The workloads, when the preset has its own: the log shipper's question is lag at an append
    /// rate, open loop; content-sync's, publish-to-visible latency flat out and at a rate.
    public var workloads: [WorkloadKind]? {
        switch self {
        case .sidecarLogs: [.rate]
        case .contentSync: [.stream, .rate]
        default: nil
        }
    }

    /// The transport the client speaks to podbench's relay; nil without a relay.
    public var relayIn: TransportKind? {
        switch self {
        case .ambassador: .tcp
        case .adapter: .uds
        case .sidecarLogs: .file
        case .contentSync: nil
        }
    }

    /// The hop as `--via` spells it; nil without a relay.
    public var via: String? {
        switch self {
        case .ambassador: "relay"
        case .contentSync: nil
        default: relayIn.map { "relay:\($0.rawValue)" }
        }
    }

    /// `--preset`'s value, or an error naming the presets there are.
    public init(parsing text: String) throws {
        guard let preset = Preset(rawValue: text) else {
            throw PodBenchError(
                .invalidConfiguration, "--preset: '\(text)' is not ambassador, adapter, sidecar-logs or content-sync")
        }
        self = preset
    }
}
