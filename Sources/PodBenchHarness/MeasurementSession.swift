import Dispatch
import Foundation
import PodBenchCore
import PodBenchResults
import Synchronization

/// The part `run` and `client` share: greet the server, record the environment, run the matrix,
/// write the results file (also when interrupted), print the table, pick the exit code. The
/// executable parses its options into the plan and hands it over with where the server is.
public struct MeasurementSession {
    public var plan: MeasurementPlan
    /// How the sides are kept apart, as the results record it (process, namespaces, podman).
    public var isolation: String
    public var control: SocketAddress
    public var connectWaitNanoseconds: UInt64
    /// Called when the run ends early by a signal, before exiting (kills a child server).
    public var onInterrupt: @Sendable () -> Void = {}
    public var keepWaiting: () -> Bool = { true }
    public var shutdownServer: Bool
    /// The control token the server expects (read once connected: a starting server makes it).
    public var tokenFile: String
    /// Print the results file on stdout between marker lines (for `kubectl logs` and `collect`).
    public var printResults = false

    public init(
        plan: MeasurementPlan, isolation: String, control: SocketAddress, connectWaitNanoseconds: UInt64,
        shutdownServer: Bool, tokenFile: String
    ) {
        self.plan = plan
        self.isolation = isolation
        self.control = control
        self.connectWaitNanoseconds = connectWaitNanoseconds
        self.shutdownServer = shutdownServer
        self.tokenFile = tokenFile
    }

    /// Orders what the session writes: a progress line never lands inside the table or the
    /// printed results file (other threads, the interrupt handlers, write progress too).
    public static let outputLock = Mutex(())

    public static func progress(_ line: String) {
        outputLock.withLock { _ in
            fflush(nil)
            let erase = statusShown.withLock { shown in
                defer { shown = false }
                return shown
            }
            FileHandle.standardError.write(Data(((erase ? "\r\u{1B}[K" : "") + line + "\n").utf8))
        }
    }

    /// Set once the run is interrupted: no status line is drawn after (the handler's lines and
    /// the shell's prompt must not be glued to one).
    static let statusOff = Mutex(false)

    /// Whether a status line (`LiveStatus`) is on the terminal now, to be erased before a line.
    static let statusShown = Mutex(false)

    /// Draws `text` as the terminal's status line in place (nil: erases it).
    static func drawStatus(_ text: String?) {
        let text = statusOff.withLock { $0 } ? nil : text
        outputLock.withLock { _ in
            let shown = statusShown.withLock { shown in
                defer { shown = text != nil }
                return shown
            }
            guard text != nil || shown else { return }
            // Within 79 columns, so that it never wraps on an 80-column terminal: a wrapped line
            // could not be erased by one carriage return.
            let line = text.map { String(TextEscaping.terminal($0).prefix(79)) } ?? ""
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        }
    }

    /// `client --print-results`: from here on the process writes one stream. Its stderr becomes
    /// its stdout, and the table, the results and every progress line are written whole (one lock,
    /// stdout flushed before a progress line), so everything reaches the pod's log in
    /// the order written. With two streams the log is not safe: conmon and the kubelet read them
    /// from two pipes, tag a line that one read cut short as partial, and `podman logs` (and
    /// `kubectl logs`) join a partial line with whatever line is read next, from either stream,
    /// so a progress line could land in the middle of the printed results.
    public static func joinOutputStreams() {
        fflush(nil)
        _ = dup2(STDOUT_FILENO, STDERR_FILENO)
    }

    /// Runs everything; returns the process exit code.
    public func execute() throws -> Int32 {
        let messageLimit = plan.messages.map(UInt64.init)
        let client = BenchmarkClient(
            configuration: .init(
                control: control, trials: plan.trials,
                warmup: PhasePlan(durationNanoseconds: plan.warmupNanoseconds, messageLimit: nil),
                trial: PhasePlan(durationNanoseconds: plan.trialNanoseconds, messageLimit: messageLimit),
                peerTimeoutNanoseconds: plan.timeoutNanoseconds, clientCPU: plan.clientCPU,
                serverCPU: plan.serverCPU, connectWaitNanoseconds: connectWaitNanoseconds,
                hopStats: plan.hops.reduce(into: [:]) { $0[$1.name] = $1.stats }, tokenFile: tokenFile),
            log: Self.progress)
        let startedAt = Date()
        let clientEnvironment = HostEnvironment.probe()
        // Before the client pins itself: the calibration picks its CPUs from all allowed ones.
        let calibration: Calibration? =
            !plan.calibrate
            ? nil
            : try Calibrator(
                configuration: .init(
                    trials: 5, trialNanoseconds: 20_000_000, firstCPU: plan.clientCPU, secondCPU: plan.serverCPU,
                    directory: plan.calibrationDirectory, executable: BuildInfo.executablePath),
                progress: { _ in }
            ).run()
        try client.start(keepWaiting: keepWaiting)
        guard let welcome = client.welcome, let clientPinning = client.clientPinning else {
            throw PodBenchError(.protocolViolation, "the server did not greet the client")
        }
        let environment = RunEnvironment(
            client: clientEnvironment, server: welcome.environment, clientPinning: clientPinning,
            serverPinning: welcome.pinning, timerOverheadNanoseconds: MonotonicClock.measureOverhead())
        let settings = RunSettings(
            trials: plan.trials, warmupSeconds: Double(plan.warmupNanoseconds) / 1e9,
            trialSeconds: Double(plan.trialNanoseconds) / 1e9, trialMessages: plan.messages,
            verify: plan.verifyEvery == 1 ? "all" : "sample:\(plan.verifyEvery)", isolation: isolation,
            peerTimeoutSeconds: Double(plan.timeoutNanoseconds) / 1e9,
            injectedServerDelayNanoseconds: welcome.injectedDelayNanoseconds)
        var header = RunResult(
            podbench: ToolInfo(
                version: PodBenchVersion.version, commit: BuildInfo.commit(),
                controlProtocol: Int(PodBenchVersion.controlProtocol)),
            startedAt: BuildInfo.utcTimestamp(startedAt), commandLine: CommandLine.arguments, settings: settings,
            environment: environment)
        header.calibration = calibration
        // --quiet: no progress lines; what went wrong and where the results went still are said.
        let quiet = plan.quiet
        let say: @Sendable (String) -> Void = { line in
            if !quiet { Self.progress(line) }
        }
        if let calibration {
            say(
                "podbench: limits: cache-line round trip \(calibration[CalibrationMeasurement.cachelineCrossCore].map(Calibrator.format) ?? "-") cross-core, futex round trip \(calibration[CalibrationMeasurement.futexCrossCore].map(Calibrator.format) ?? "-"), memcpy \(calibration[CalibrationMeasurement.memcpyLarge].map(Calibrator.format) ?? "-")"
            )
        }
        let store =
            try plan.output.map { try ResultsStore(path: $0, header: header) }
            ?? ResultsStore(
                directory: plan.resultsDirectory, startedAt: startedAt,
                host: clientEnvironment.nodeName ?? clientEnvironment.hostname,
                header: header)
        let recorder = RunRecorder(store: store, run: header)
        let interrupted = InterruptFlag()
        let signals = installInterruptHandlers(recorder: recorder, interrupted: interrupted)
        defer { signals.stop() }
        // Once a signal is being handled, the handler owns the ending (exit 130): the measuring
        // thread, whose server the handler stops, must not race it to an exit of its own.
        func yieldToInterrupt() {
            while interrupted.value.load(ordering: .acquiring) { pause() }
        }

        let specs = MatrixRunner.cases(
            transports: plan.transports, workloads: plan.workloads, sizes: plan.sizes, options: plan.options,
            verifyEvery: plan.verifyEvery, corruptSequence: plan.injectCorruption, shmWaits: plan.shmWaits,
            fileFsyncs: plan.fileFsyncs, uringSetups: plan.uringSetups, rates: plan.rates, hops: plan.hops,
            h2Streams: plan.h2Streams)
        say(
            "podbench: \(specs.count) cases × (warm-up + \(plan.trials) trials), isolation \(isolation): "
                + "\(environment.topology); shared namespaces: \(environment.sharedNamespaces.joined(separator: ",")); "
                + "separate: \(environment.separateNamespaces.isEmpty ? "none" : environment.separateNamespaces.joined(separator: ","))"
        )
        // Once interrupted, the case in flight ends because the server was stopped on purpose:
        // that is not a failure to report (the signal handler says what happens instead).
        var runner = MatrixRunner(
            client: client, recorder: recorder,
            progress: { line in
                if !interrupted.value.load(ordering: .acquiring) { say(line) }
            })
        // The plan's time per case: warm-up and trials, with a guess of 100 ms for the setup.
        let trialGuess = plan.messages == nil ? Double(plan.trialNanoseconds) : 100_000_000
        let clock = RunClock(
            total: specs.count,
            plannedNanosecondsPerCase: Double(plan.warmupNanoseconds) + Double(plan.trials) * trialGuess + 100_000_000)
        runner.clock = clock
        let live =
            !plan.quiet && !printResults && LiveStatus.terminal ? LiveStatus(clock: clock, trials: plan.trials) : nil
        runner.caseRunning = { name in live?.show(name) }
        client.phaseStarting = { index in live?.phase(index) }

        let sessionError: PodBenchError?
        do {
            sessionError = try runner.run(specs)
        } catch {
            live?.stop()
            yieldToInterrupt()
            throw error
        }
        live?.stop()
        yieldToInterrupt()
        if sessionError == nil { client.finish(shutdown: shutdownServer) }
        if sessionError == nil, let before = calibration {
            // The limits again, on the same CPUs: the host may have changed speed meanwhile.
            let after = try? Calibrator(
                configuration: .init(
                    trials: 5, trialNanoseconds: 20_000_000, firstCPU: before.firstCPU, secondCPU: before.secondCPU,
                    directory: plan.calibrationDirectory, executable: BuildInfo.executablePath),
                progress: { _ in }
            ).run()
            if let after { recorder.setCalibrationAfter(after) }
        }
        let path: String
        do {
            path = try recorder.finish(
                complete: sessionError == nil,
                reason: sessionError.map { "the session ended early: \($0.description)" },
                finishedAt: BuildInfo.utcTimestamp())
        } catch let error as PodBenchError {
            throw PodBenchError(
                error.code,
                "\(error.message); every finished case is kept, one JSON document per line, in \(recorder.store.journalPath)",
                cause: error.cause)
        }
        let run = recorder.snapshot
        if plan.printJSON {
            // The document as written, on stdout; the table, for a person, on stderr.
            if !plan.quiet { Self.progress(ResultsTable.render(run).trimmingCharacters(in: .newlines)) }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw PodBenchError(.ioFailure, "cannot read back \(path) to print it")
            }
            Self.outputLock.withLock { _ in
                FileHandle.standardOutput.write(data)
                fflush(nil)
            }
        } else {
            Self.outputLock.withLock { _ in
                print(ResultsTable.render(run), terminator: "")
                fflush(nil)
            }
        }
        Self.progress("podbench: results written to \(path)")
        if printResults { try Self.printMarked(path: path) }
        if let sessionError {
            Self.progress(
                "podbench: the run stopped early: \(sessionError.description); the finished cases are in the file")
            return 1
        }
        return run.cases.contains { $0.status == .failed } ? 1 : 0
    }

    /// The results file on stdout between `ResultsMarker` lines, flushed: a pod's log then holds
    /// the whole file, which `podbench collect` takes back out.
    public static func printMarked(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PodBenchError(.ioFailure, "cannot read back \(path) to print it")
        }
        let name = (path as NSString).lastPathComponent
        let text = String(decoding: data, as: UTF8.self)
        outputLock.withLock { _ in
            print(ResultsMarker.begin(name: name, bytes: data.count))
            print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            print(ResultsMarker.end)
            fflush(nil)
        }
    }

    private func installInterruptHandlers(recorder: RunRecorder, interrupted: InterruptFlag) -> InterruptWatch {
        let onInterrupt = self.onInterrupt
        return InterruptWatch { number, seen in
            if seen > 1 { _exit(130) }
            interrupted.value.store(true, ordering: .releasing)
            Self.statusOff.withLock { $0 = true }
            let name = InterruptWatch.name(of: number)
            Self.progress("podbench: \(name): writing the finished cases and stopping (again to quit at once)")
            // Off the signal's queue, so that a second Ctrl-C is heard while this writes.
            DispatchQueue.global().async {
                // Write first, then stop the server: a case cut short by the server's end is not
                // a finished case, and the recorder takes nothing after it has written the file.
                defer {
                    onInterrupt()
                    _exit(130)
                }
                do {
                    let path = try recorder.finish(
                        complete: false, reason: "interrupted by \(name)", finishedAt: BuildInfo.utcTimestamp())
                    Self.progress("podbench: partial results written to \(path)")
                } catch {
                    Self.progress(
                        "podbench: could not write the results file: \(error); the journal \(recorder.store.journalPath) keeps the finished cases"
                    )
                }
            }
        }
    }
}

/// Set by the signal handler when it takes over the ending of an interrupted run.
final class InterruptFlag: Sendable {
    let value = Atomic<Bool>(false)
}
