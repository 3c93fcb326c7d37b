import PodBenchCore
import PodBenchTransports

/// The io_uring transports' options: the setup always, the sends' batching and buffers for sockets.
extension TransportOptions {
    func uringKeyOptions(sends: Bool) throws -> [String: String] {
        let settings = try uringSettings()
        var out = ["setup": settings.setup.rawValue]
        if sends {
            out["batch"] = String(settings.batch)
            out["buffers"] = settings.registeredBuffers ? "registered" : "copy"
        }
        return out
    }
}

private let needsIOURing = "io_uring allowed (seccomp, kernel.io_uring_disabled)"

/// A socket transport whose sends and receives go through an io_uring: its socket buffers, ring
/// setup, batching and buffers are its options, and each listed setup is a case of its own.
public protocol URingSocketTransport: Transport {}

extension URingSocketTransport {
    public static var optionGroups: TransportOptions.Groups { [.socket, .uringSetup, .uringSends] }

    public static func variants(of options: TransportOptions, lists: VariantLists) -> [TransportOptions] {
        options.setupVariants(lists)
    }

    public static func validate(_ options: TransportOptions) throws {
        try options.validateSocketBuffers()
        _ = try options.uringSettings()
    }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        try options.uringKeyOptions(sends: true).merging(options.socketKeyOptions()) { $1 }
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        URingProbe.probe(kind: kind, needs: needs, sharedDirectory: places.sharedDirectory)
    }
}

/// `tcp` with every send and receive submitted through an io_uring.
public enum URingTCPTransport: URingSocketTransport {
    public static let kind = TransportKind.uringTCP
    public static let needs = "the network namespace, and " + needsIOURing
}

/// `uds` with every send and receive submitted through an io_uring.
public enum URingUnixStreamTransport: URingSocketTransport {
    public static let kind = TransportKind.uringUDS
    public static let needs = "a shared volume (directory), and " + needsIOURing
}

/// `file` with its writes, fsyncs and reads submitted through an io_uring. Its writes are one
/// record each: batching and registered buffers belong to the socket channels.
public enum URingFileTransport: Transport {
    public static let kind = TransportKind.uringFile
    public static let needs = "a shared volume (directory), and " + needsIOURing
    public static let optionGroups: TransportOptions.Groups = [.fileLog, .uringSetup]

    /// Each fsync mode in each setup.
    public static func variants(of options: TransportOptions, lists: VariantLists) -> [TransportOptions] {
        options.fsyncVariants(lists).flatMap { $0.setupVariants(lists) }
    }

    public static func validate(_ options: TransportOptions) throws {
        _ = try options.fileSettings()
        _ = try options.uringSettings()
    }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        try options.fileLogKeyOptions().merging(try options.uringKeyOptions(sends: false)) { $1 }
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        URingProbe.probeFile(sharedDirectory: places.sharedDirectory)
    }
}
