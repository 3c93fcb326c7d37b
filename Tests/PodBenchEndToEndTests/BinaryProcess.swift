import Foundation
import Glibc
import PodBenchCore
import PodBenchResults
import Testing

/// The built `podbench` binary: `PODBENCH_BIN`, or the debug build of this package.
func podbenchBinary() throws -> String {
    if let path = ProcessInfo.processInfo.environment["PODBENCH_BIN"], !path.isEmpty { return path }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let path = root.appendingPathComponent(".build/debug/podbench").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw BinaryMissing(path: path)
    }
    return path
}

struct BinaryMissing: Error, CustomStringConvertible {
    var path: String
    var description: String { "podbench is not built at \(path): run `swift build` first or set PODBENCH_BIN" }
}

/// A running podbench process with its output collected.
final class BinaryProcess: @unchecked Sendable {
    let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private var stdoutData = Data()
    private var stderrData = Data()
    private let lock = NSLock()
    private let readers = DispatchGroup()
    /// When the process last wrote anything (or started).
    private var lastOutput = Date()

    /// Starts podbench (or `executable`) with `arguments`.
    init(
        _ arguments: [String], directory: String? = nil, environment: [String: String] = [:], executable: String? = nil
    ) throws {
        process.executableURL = URL(fileURLWithPath: try executable ?? podbenchBinary())
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = FileHandle.nullDevice
        for (pipe, isOut) in [(stdoutPipe, true), (stderrPipe, false)] {
            readers.enter()
            let handle = pipe.fileHandleForReading
            Thread { [self] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    lock.lock()
                    if isOut { stdoutData.append(chunk) } else { stderrData.append(chunk) }
                    lastOutput = Date()
                    lock.unlock()
                }
                readers.leave()
            }.start()
        }
        try process.run()
    }

    /// Runs to completion and returns the exit status; killed once it has written nothing for
    /// `timeout` seconds. A limit on silence, not on the whole run: a run that keeps reporting
    /// progress (slow under a sanitizer, or on a busy machine) is never cut off, a stalled one is.
    @discardableResult
    func wait(timeout: Double = 120) -> Int32 {
        let started = Date()
        while process.isRunning {
            lock.lock()
            // Silence counts from the later of its last output and this call: a quiet server told
            // to stop gets the whole `timeout` to do so.
            let silent = Date().timeIntervalSince(max(lastOutput, started))
            lock.unlock()
            if silent > timeout { break }
            usleep(10_000)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        readers.wait()
        return process.terminationStatus
    }

    var stdout: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: stdoutData, as: UTF8.self)
    }

    var stderr: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: stderrData, as: UTF8.self)
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    var isRunning: Bool { process.isRunning }

    /// Runs podbench (or `executable`) with `arguments` to completion.
    static func run(
        _ arguments: [String], timeout: Double = 120, environment: [String: String] = [:], executable: String? = nil
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = try BinaryProcess(arguments, environment: environment, executable: executable)
        let status = p.wait(timeout: timeout)
        return (status, p.stdout, p.stderr)
    }
}

/// A fresh temporary directory.
func temporaryDirectory() throws -> String {
    let path = "/tmp/podbench-e2e-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The one results file in `directory`.
func resultsFiles(in directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.sorted()
        .map { directory + "/" + $0 }
}

/// A TCP port that was free a moment ago.
func freePort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    _ = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return UInt16(bigEndian: addr.sin_port)
}

/// Waits until the journal in `directory` holds at least `cases` finished cases (its first line is
/// the run's header), so that a fault is injected after them whatever the machine's speed.
func waitForFinishedCases(in directory: String, _ cases: Int, timeout: Double = 60) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let journals = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter {
            $0.hasSuffix(".journal.jsonl")
        }
        if let journal = journals?.first,
            let text = try? String(contentsOfFile: directory + "/" + journal, encoding: .utf8),
            text.split(separator: "\n").count >= cases + 1
        {
            return true
        }
        usleep(20_000)
    }
    return false
}

extension BinaryProcess {
    /// Runs a system tool to completion and returns its exit status.
    static func runTool(_ path: String, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}

/// Every trial of `c` moved `messages` messages, all received and verified by the side that
/// receives (the client for pingpong's echoes, the server otherwise), with no integrity error.
func expectIntact(_ c: CaseResult, messages: UInt64, sourceLocation: SourceLocation = #_sourceLocation) {
    for t in c.trials {
        let receiver = c.key.workload.measuresRoundTrip ? t.client.integrity : t.server.integrity
        #expect(
            t.messages == messages && receiver.verified == messages && !receiver.hasErrors, "\(c.key)",
            sourceLocation: sourceLocation)
    }
}

/// `expectIntact` for a case on any transport: over a datagram channel (whose receiver counts
/// `lost`), what arrived plus what was lost is what was sent and what arrived is intact; a Unix
/// datagram sender blocks, so `uds-dgram` loses nothing.
func expectDelivered(_ c: CaseResult, messages: UInt64, sourceLocation: SourceLocation = #_sourceLocation) {
    guard c.key.transport.carriesDatagrams else {
        expectIntact(c, messages: messages, sourceLocation: sourceLocation)
        return
    }
    for t in c.trials {
        let receiver = c.key.workload == .pingpong ? t.client.integrity : t.server.integrity
        let lost = receiver.lost ?? UInt64.max
        #expect(
            receiver.received &+ lost == messages && t.messages == receiver.received
                && receiver.verified == receiver.received && !receiver.hasErrors && !t.server.integrity.hasErrors,
            "\(c.key): \(receiver)", sourceLocation: sourceLocation)
        if c.key.transport == .udsDgram { #expect(lost == 0, "\(c.key)", sourceLocation: sourceLocation) }
    }
}

/// What `podbench probe --json` prints.
struct ProbeOutput: Decodable {
    struct Transport: Decodable {
        var transport: String
        var available: Bool
        var reason: String
    }
    var transports: [Transport]
    var environment: HostEnvironment
}

/// The sanitizer the binary under test was built with: scripts/sanitizers.sh sets
/// `PODBENCH_SANITIZED` to `thread` or `address` (any other value counts as a sanitizer's build).
enum SanitizerBuild: String { case thread, address, other }

let sanitizerBuild: SanitizerBuild? = ProcessInfo.processInfo.environment["PODBENCH_SANITIZED"].map {
    SanitizerBuild(rawValue: $0) ?? .other
}

/// Whether the binary under test is a sanitizer's build.
let sanitized = sanitizerBuild != nil

extension Trait where Self == ConditionTrait {
    /// Off under the thread sanitizer, which finds races between the threads of one process: what
    /// the test drives runs on one thread of each process (a sweep of sizes or settings through a
    /// data path that each side moves on its own thread, a channel shared between processes, which
    /// no sanitizer sees across, reading files). The address sanitizer's pass still runs it. The
    /// thread sanitizer's pass keeps the tests that exercise the threads the binary starts: serve's
    /// accepting and authenticating threads, the relay's two directions, its stats and its
    /// `--exit-after` watcher, the probe's FIFO thread, run's interrupt handling and the
    /// `Process` children it waits for (server, calibration peer).
    static func singleThreaded(_ what: Comment) -> Self {
        .disabled(if: sanitizerBuild == .thread, what)
    }

    /// Off under both sanitizers: what the test drives is safe Swift on one thread (reading files,
    /// the statistics, reports, option parsing), where neither sanitizer has anything to find that
    /// the unit tests and the fuzzers (whose builds carry the address sanitizer) do not already
    /// reach; or it checks a property of the binary users get (its link) that a sanitizer's build
    /// changes. The plain pass runs it.
    static func safeSwiftOnOneThread(_ what: Comment) -> Self { .disabled(if: sanitized, what) }
}

/// Messages per trial for an end-to-end matrix of large messages: a fifth (at least 4) under a
/// sanitizer, which runs the same paths 10 to 20 times slower (every checksummed byte is checked
/// for races or bad addresses); what the repetitions add is speed, which those runs do not judge.
/// Each test asserts the count it asked for.
func sanitizerScaled(_ messages: Int) -> Int { sanitized ? max(4, messages / 5) : messages }
