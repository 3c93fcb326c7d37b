import PodBenchCore
import PodBenchResults
import PodBenchTransports

/// The messages of the control channel, in the order a session uses them:
/// `hello` → `welcome`; per case `prepareCase` → `caseReady`; per phase `startPhase` →
/// `phaseReady`, the data phase, then `phaseReport`; `endCase` → `caseEnded`; at last `bye`
/// (the server waits for the next client) or `shutdown` (the server exits). Either side may send
/// `failure` instead of an answer.
public enum ControlMessage: Codable, Equatable, Sendable {
    case hello(Hello)
    case welcome(Welcome)
    case prepareCase(CaseSpec)
    case caseReady(endpoint: Endpoint)
    case startPhase(index: Int, warmup: Bool)
    case phaseReady
    case phaseReport(ServerPhaseReport)
    case endCase
    case caseEnded
    case bye
    case shutdown
    case failure(code: PodBenchError.Code, message: String)

    /// The name of the message, for errors.
    public var name: String {
        switch self {
        case .hello: "hello"
        case .welcome: "welcome"
        case .prepareCase: "prepareCase"
        case .caseReady: "caseReady"
        case .startPhase: "startPhase"
        case .phaseReady: "phaseReady"
        case .phaseReport: "phaseReport"
        case .endCase: "endCase"
        case .caseEnded: "caseEnded"
        case .bye: "bye"
        case .shutdown: "shutdown"
        case .failure: "failure"
        }
    }
}

/// The client's greeting.
public struct Hello: Codable, Equatable, Sendable {
    public var podbenchVersion: String
    /// The CPU the server should pin its measuring thread to.
    public var serverCPU: Int?
    /// The shared secret from the token file (`--token-file`); the server answers nothing else
    /// until it matches.
    public var token: String?

    public init(podbenchVersion: String, serverCPU: Int?, token: String? = nil) {
        self.podbenchVersion = podbenchVersion
        self.serverCPU = serverCPU
        self.token = token
    }
}

/// The server's answer: who it is and where it runs.
public struct Welcome: Codable, Equatable, Sendable {
    public var podbenchVersion: String
    public var environment: HostEnvironment
    public var pinning: CPUPinning.Outcome
    /// The test-only delay the server adds before each pingpong echo (`PODBENCH_TEST_SERVER_DELAY_NS`),
    /// when set; recorded in the results so that a slowed run is never taken for a real one.
    public var injectedDelayNanoseconds: UInt64?

    public init(
        podbenchVersion: String, environment: HostEnvironment, pinning: CPUPinning.Outcome,
        injectedDelayNanoseconds: UInt64? = nil
    ) {
        self.podbenchVersion = podbenchVersion
        self.environment = environment
        self.pinning = pinning
        self.injectedDelayNanoseconds = injectedDelayNanoseconds
    }
}

/// What the server measured of itself in one phase.
public struct ServerPhaseReport: Codable, Equatable, Sendable {
    public var usage: CPUUsage
    public var integrity: IntegrityCounts
    /// The data phase's error on the server side, if it ended in one.
    public var errorCode: PodBenchError.Code?
    public var error: String?
    public var cpu: Int?
    /// One-way delivery times the server recorded (stream), in nanoseconds.
    public var oneWayLatency: EncodedHistogram?

    public init(
        usage: CPUUsage, integrity: IntegrityCounts, errorCode: PodBenchError.Code?, error: String?, cpu: Int?,
        oneWayLatency: EncodedHistogram? = nil
    ) {
        self.oneWayLatency = oneWayLatency
        self.usage = usage
        self.integrity = integrity
        self.errorCode = errorCode
        self.error = error
        self.cpu = cpu
    }
}
