import PodBenchCore
import PodBenchRing
import PodBenchTransports

/// What `podbench serve` is asked to do, parsed once from its options; the one place that writes
/// a `serve` command line too (`run`'s child, a pod's server container), so what one side writes
/// the other reads back as the same plan.
public struct ServePlan: Equatable, Sendable {
    public var control: SocketAddress
    /// The directory both sides share: Unix data sockets, file and FIFO connections, the token.
    public var sharedDirectory: String
    /// The memory-backed directory where ring files are made.
    public var sharedMemoryDirectory: String
    /// The CPU the serving thread is pinned to when a client does not ask for one.
    public var cpu: Int?
    /// The token file; nil for `ServePlan.defaultTokenFileName` in the shared directory.
    public var tokenFile: String?
    /// Endpoints a hop forwards to, where this server may listen for a client's case.
    public var hopTargets: [HopEndpoint]
    /// How long one control message may take to arrive (and a silent peer is waited for).
    public var timeoutNanoseconds: UInt64
    /// Exit when the parent process exits (`podbench run`'s child).
    public var exitWithParent: Bool
    /// Print nothing but errors.
    public var quiet: Bool
    /// Exit once no client has been connected for this long (`--idle-exit`); nil: never.
    public var idleExitNanoseconds: UInt64?

    /// The token file's name in the shared directory when `--token-file` is not given.
    public static let defaultTokenFileName = "podbench.token"
    public static let defaultTimeoutNanoseconds: UInt64 = 10_000_000_000

    public init(
        control: SocketAddress = .unixPath("/tmp/podbench.sock"), sharedDirectory: String = "/tmp",
        sharedMemoryDirectory: String = "/dev/shm", cpu: Int? = nil, tokenFile: String? = nil,
        hopTargets: [HopEndpoint] = [], timeoutNanoseconds: UInt64 = Self.defaultTimeoutNanoseconds,
        exitWithParent: Bool = false, quiet: Bool = false, idleExitNanoseconds: UInt64? = nil
    ) {
        self.idleExitNanoseconds = idleExitNanoseconds
        self.control = control
        self.sharedDirectory = sharedDirectory
        self.sharedMemoryDirectory = sharedMemoryDirectory
        self.cpu = cpu
        self.tokenFile = tokenFile
        self.hopTargets = hopTargets
        self.timeoutNanoseconds = timeoutNanoseconds
        self.exitWithParent = exitWithParent
        self.quiet = quiet
    }

    /// The token file this server reads (or makes).
    public var tokenPath: String { tokenFile ?? sharedDirectory + "/" + Self.defaultTokenFileName }

    /// The server's configuration with the token read from `tokenPath`.
    public func configuration(token: ControlToken) -> BenchmarkServer.Configuration {
        .init(
            control: control, sharedDirectory: sharedDirectory, peerTimeoutNanoseconds: timeoutNanoseconds, cpu: cpu,
            sharedMemoryDirectory: sharedMemoryDirectory, token: token, hopTargets: hopTargets,
            idleExitNanoseconds: idleExitNanoseconds)
    }

    /// The `serve` command line (its first word `serve`) that parses back to this plan.
    public var arguments: [String] {
        var words = [
            "serve", "--control", control.description, "--shared-dir", sharedDirectory, "--shm-dir",
            sharedMemoryDirectory, "--timeout", DurationText.format(nanoseconds: timeoutNanoseconds),
        ]
        if let cpu { words += ["--cpu", String(cpu)] }
        if let tokenFile { words += ["--token-file", tokenFile] }
        for target in hopTargets { words += ["--via-target", target.description] }
        if exitWithParent { words.append("--exit-with-parent") }
        if quiet { words.append("--quiet") }
        if let idleExitNanoseconds { words += ["--idle-exit", DurationText.format(nanoseconds: idleExitNanoseconds)] }
        return words
    }
}

/// What `podbench relay` is asked to do, parsed once from its options; the one place that writes a
/// `relay` command line too (`run`'s relay child, a pod's relay container).
public struct RelayPlan: Equatable, Sendable {
    public var listen: HopEndpoint
    public var forward: HopEndpoint
    /// Where the relay answers with its CPU time and byte counts (`--via-stats`).
    public var stats: SocketAddress?
    /// How the relay waits on the rings it makes.
    public var wait: RingWaitStrategy
    /// The CPU the relay's threads are pinned to.
    public var cpu: Int?
    /// Exit once this path has appeared and is gone again (the server's control socket in a pod).
    public var exitAfter: String?
    public var exitWithParent: Bool
    public var quiet: Bool

    public init(
        listen: HopEndpoint, forward: HopEndpoint, stats: SocketAddress? = nil,
        wait: RingWaitStrategy = .spinFutex(nanoseconds: RingWaitStrategy.defaultSpinNanoseconds), cpu: Int? = nil,
        exitAfter: String? = nil, exitWithParent: Bool = false, quiet: Bool = false
    ) {
        self.listen = listen
        self.forward = forward
        self.stats = stats
        self.wait = wait
        self.cpu = cpu
        self.exitAfter = exitAfter
        self.exitWithParent = exitWithParent
        self.quiet = quiet
    }

    /// The relay's configuration.
    public var configuration: Relay.Configuration {
        .init(listen: listen, forward: forward, stats: stats, wait: wait)
    }

    /// The `relay` command line (its first word `relay`) that parses back to this plan.
    public var arguments: [String] {
        var words = [
            "relay", "--listen", listen.description, "--forward", forward.description, "--wait", wait.description,
        ]
        if let stats { words += ["--stats", stats.description] }
        if let cpu { words += ["--cpu", String(cpu)] }
        if let exitAfter { words += ["--exit-after", exitAfter] }
        if exitWithParent { words.append("--exit-with-parent") }
        if quiet { words.append("--quiet") }
        return words
    }
}
