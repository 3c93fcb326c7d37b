import PodBenchCore

/// One results file: a run's settings, both sides' environments and every case it measured.
/// Its JSON form is documented by `docs/results.schema.json`; `schemaVersion` changes whenever
/// that form changes incompatibly.
public struct RunResult: Codable, Equatable, Sendable {
    public var schemaVersion: Int
    public var podbench: ToolInfo
    /// False when the run was interrupted or failed part-way; the cases present are still valid.
    public var complete: Bool
    /// Why the run is incomplete, when it is.
    public var incompleteReason: String?
    /// UTC, ISO 8601.
    public var startedAt: String
    public var finishedAt: String?
    public var commandLine: [String]
    public var settings: RunSettings
    public var environment: RunEnvironment
    /// This machine's limits measured at the start of the run (absent with --no-calibrate).
    public var calibration: Calibration?
    /// The same limits measured again at the end: on hosts whose speed shifts (VMs moved between
    /// cores) the two differ, and a case is compared with the more demanding of them.
    public var calibrationAfter: Calibration?
    public var cases: [CaseResult]

    public init(
        podbench: ToolInfo, startedAt: String, commandLine: [String], settings: RunSettings,
        environment: RunEnvironment
    ) {
        schemaVersion = PodBenchVersion.resultsSchema
        self.podbench = podbench
        complete = false
        self.startedAt = startedAt
        self.commandLine = commandLine
        self.settings = settings
        self.environment = environment
        cases = []
    }
}

/// Which podbench made a file.
public struct ToolInfo: Codable, Equatable, Sendable {
    public var version: String
    /// The git commit the binary was built from, when known.
    public var commit: String?
    public var controlProtocol: Int

    public init(version: String, commit: String?, controlProtocol: Int) {
        self.version = version
        self.commit = commit
        self.controlProtocol = controlProtocol
    }
}

/// How a run measured: the same for every case in it.
public struct RunSettings: Codable, Equatable, Sendable {
    /// Measured trials per case.
    public var trials: Int
    /// Seconds of the thrown-away warm-up before the trials of each case.
    public var warmupSeconds: Double
    /// Seconds each trial lasts (the trial also ends after `trialMessages`, when set).
    public var trialSeconds: Double
    public var trialMessages: Int?
    /// How payloads are verified: "all" or "sample:N" (every Nth message; lengths and sequence
    /// numbers are always checked).
    public var verify: String
    /// "process" (podbench run started the server), "external" (client against a running serve).
    public var isolation: String
    /// Seconds either side waits for the other before giving up.
    public var peerTimeoutSeconds: Double
    /// Test only: the busy delay the server added before each pingpong echo
    /// (`PODBENCH_TEST_SERVER_DELAY_NS`), as the server reported it; absent in real runs.
    public var injectedServerDelayNanoseconds: UInt64?

    public init(
        trials: Int, warmupSeconds: Double, trialSeconds: Double, trialMessages: Int?, verify: String,
        isolation: String, peerTimeoutSeconds: Double, injectedServerDelayNanoseconds: UInt64? = nil
    ) {
        self.injectedServerDelayNanoseconds = injectedServerDelayNanoseconds
        self.trials = trials
        self.warmupSeconds = warmupSeconds
        self.trialSeconds = trialSeconds
        self.trialMessages = trialMessages
        self.verify = verify
        self.isolation = isolation
        self.peerTimeoutSeconds = peerTimeoutSeconds
    }
}

/// Both sides' environments and what they share.
public struct RunEnvironment: Codable, Equatable, Sendable {
    public var client: HostEnvironment
    public var server: HostEnvironment
    public var clientPinning: CPUPinning.Outcome
    public var serverPinning: CPUPinning.Outcome
    /// Namespace kinds whose identities are equal on both sides (shared), and those that differ.
    public var sharedNamespaces: [String]
    public var separateNamespaces: [String]
    /// The cost of one clock reading on the client, in nanoseconds (median of back-to-back pairs);
    /// round trips are not corrected by it, it is here to judge sub-microsecond figures.
    public var timerOverheadNanoseconds: UInt64

    public init(
        client: HostEnvironment, server: HostEnvironment, clientPinning: CPUPinning.Outcome,
        serverPinning: CPUPinning.Outcome, timerOverheadNanoseconds: UInt64
    ) {
        self.client = client
        self.server = server
        self.clientPinning = clientPinning
        self.serverPinning = serverPinning
        self.timerOverheadNanoseconds = timerOverheadNanoseconds
        var shared: [String] = []
        var separate: [String] = []
        for kind in HostEnvironment.namespaceKinds {
            guard let a = client.namespaces[kind], let b = server.namespaces[kind] else { continue }
            if a == b { shared.append(kind) } else { separate.append(kind) }
        }
        sharedNamespaces = shared
        separateNamespaces = separate
    }
}

extension RunEnvironment {
    /// What the two sides' namespace identities and container evidence prove about how they were
    /// kept apart: "two containers, one pod" only when both are in containers, share the network,
    /// IPC and UTS namespaces (what a pod shares) and have mount and PID namespaces of their own;
    /// "… sharing its process namespace" when the PID namespace is shared too
    /// (`shareProcessNamespace: true`).
    public var topology: String {
        let shared = Set(sharedNamespaces)
        let separate = Set(separateNamespaces)
        let podShares = ["net", "ipc", "uts"].allSatisfy(shared.contains)
        let ownMountAndPID = separate.contains("mnt") && separate.contains("pid")
        let inContainers = client.containerRuntime != "none" && server.containerRuntime != "none"
        if podShares && ownMountAndPID && inContainers { return "two containers, one pod" }
        if podShares && shared.contains("pid") && separate.contains("mnt") && inContainers {
            return "two containers, one pod sharing its process namespace"
        }
        if podShares && ownMountAndPID {
            return "a pod's split without containers: own mount and PID namespaces, network, IPC and UTS shared"
        }
        if separate.isEmpty { return "two processes in the same namespaces" }
        if !shared.contains("net") { return "separate network namespaces: not one pod (localhost differs)" }
        return "two processes, separate \(separateNamespaces.joined(separator: ", "))"
    }
}
