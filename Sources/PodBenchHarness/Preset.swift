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

    /// The transports between the hop and the server: the app's localhost TCP.
    public var transports: [TransportKind] { [.tcp] }

    /// The workloads, when the preset has its own: the log shipper's question is lag at an append
    /// rate, open loop.
    public var workloads: [WorkloadKind]? { self == .sidecarLogs ? [.rate] : nil }

    /// The transport the client speaks to podbench's relay.
    public var relayIn: TransportKind {
        switch self {
        case .ambassador: .tcp
        case .adapter: .uds
        case .sidecarLogs: .file
        }
    }

    /// The hop as `--via` spells it.
    public var via: String { self == .ambassador ? "relay" : "relay:\(relayIn.rawValue)" }

    /// `--preset`'s value, or an error naming the presets there are.
    public init(parsing text: String) throws {
        guard let preset = Preset(rawValue: text) else {
            throw PodBenchError(
                .invalidConfiguration, "--preset: '\(text)' is not ambassador, adapter or sidecar-logs")
        }
        self = preset
    }
}
