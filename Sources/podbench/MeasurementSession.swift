import Dispatch
import Foundation
import PodBenchCore
import PodBenchHarness
import PodBenchLaunch
import PodBenchResults
import Synchronization

/// The part `run` and `client` share: greet the server, record the environment, run the matrix,
/// write the results file (also when interrupted), print the table, pick the exit code.
struct MeasurementSession {
    var parsed: MeasurementOptions.Parsed
    var options: MeasurementOptions
    var isolation: String
    var control: SocketAddress
    var connectWaitNanoseconds: UInt64
    /// Called when the run ends early by a signal, before exiting (kills a child server).
    var onInterrupt: @Sendable () -> Void = {}
    var keepWaiting: () -> Bool = { true }
    var shutdownServer: Bool
    /// The control token the server expects (read once connected: a starting server makes it).
    var tokenFile: String
    /// Print the results file on stdout between marker lines (for `kubectl logs` and `collect`).
    var printResults = false

    /// Orders what the session writes: a progress line never lands inside the table or the
    /// printed results file (other threads, the interrupt handlers, write progress too).
    static let outputLock = Mutex(())

    static func progress(_ line: String) {
        outputLock.withLock { _ in
            fflush(nil)
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// `client --print-results`: from here on the process writes one stream. Its stderr becomes
    /// its stdout, and the table, the results and every progress line are written whole (one lock,
    /// stdout flushed before a progress line), so everything reaches the pod's log in
    /// the order written. With two streams the log is not safe: conmon and the kubelet read them
    /// from two pipes, tag a line that one read cut short as partial, and `podman logs` (and
    /// `kubectl logs`) join a partial line with whatever line is read next, from either stream,
    /// so a progress line could land in the middle of the printed results.
    static func joinOutputStreams() {
        fflush(nil)
        _ = dup2(STDOUT_FILENO, STDERR_FILENO)
    }

    /// Runs everything; returns the process exit code.
    func execute() throws -> Int32 {
        let messageLimit = options.messages.map(UInt64.init)
        let client = BenchmarkClient(
            configuration: .init(
                control: control, trials: parsed.trials,
                warmup: PhasePlan(durationNanoseconds: parsed.warmupNanoseconds, messageLimit: nil),
                trial: PhasePlan(durationNanoseconds: parsed.trialNanoseconds, messageLimit: messageLimit),
                peerTimeoutNanoseconds: parsed.timeoutNanoseconds, clientCPU: parsed.clientCPU,
                serverCPU: parsed.serverCPU, connectWaitNanoseconds: connectWaitNanoseconds,
                hopStats: parsed.hopStats, tokenFile: tokenFile),
            log: Self.progress)
        let startedAt = Date()
        let clientEnvironment = HostEnvironment.probe()
        // Before the client pins itself: the calibration picks its CPUs from all allowed ones.
        let calibration: Calibration? =
            options.noCalibrate
            ? nil
            : try Calibrator(
                configuration: .init(
                    trials: 5, trialNanoseconds: 20_000_000, firstCPU: parsed.clientCPU, secondCPU: parsed.serverCPU,
                    directory: options.shmDirForCalibration, executable: BuildInfo.executablePath),
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
            trials: parsed.trials, warmupSeconds: Double(parsed.warmupNanoseconds) / 1e9,
            trialSeconds: Double(parsed.trialNanoseconds) / 1e9, trialMessages: options.messages,
            verify: parsed.verifyEvery == 1 ? "all" : "sample:\(parsed.verifyEvery)", isolation: isolation,
            peerTimeoutSeconds: Double(parsed.timeoutNanoseconds) / 1e9,
            injectedServerDelayNanoseconds: welcome.injectedDelayNanoseconds)
        var header = RunResult(
            podbench: ToolInfo(
                version: PodBenchVersion.version, commit: BuildInfo.commit(),
                controlProtocol: Int(PodBenchVersion.controlProtocol)),
            startedAt: BuildInfo.utcTimestamp(startedAt), commandLine: CommandLine.arguments, settings: settings,
            environment: environment)
        header.calibration = calibration
        if let calibration {
            Self.progress(
                "podbench: limits: cache-line round trip \(calibration[CalibrationMeasurement.cachelineCrossCore].map(Calibrator.format) ?? "-") cross-core, futex round trip \(calibration[CalibrationMeasurement.futexCrossCore].map(Calibrator.format) ?? "-"), memcpy \(calibration[CalibrationMeasurement.memcpyLarge].map(Calibrator.format) ?? "-")"
            )
        }
        let store = try ResultsStore(
            directory: options.resultsDir, startedAt: startedAt,
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
            transports: parsed.transports, workloads: parsed.workloads, sizes: parsed.sizes, options: parsed.options,
            verifyEvery: parsed.verifyEvery, corruptSequence: options.injectCorruption, shmWaits: parsed.shmWaits,
            fileFsyncs: parsed.fileFsyncs, uringSetups: parsed.uringSetups, rates: parsed.rates, hop: parsed.hop)
        Self.progress(
            "podbench: \(specs.count) cases × (warm-up + \(parsed.trials) trials), isolation \(isolation): "
                + "\(environment.topology); shared namespaces: \(environment.sharedNamespaces.joined(separator: ",")); "
                + "separate: \(environment.separateNamespaces.isEmpty ? "none" : environment.separateNamespaces.joined(separator: ","))"
        )
        // Once interrupted, the case in flight ends because the server was stopped on purpose:
        // that is not a failure to report (the signal handler says what happens instead).
        let runner = MatrixRunner(
            client: client, recorder: recorder,
            progress: { line in
                if !interrupted.value.load(ordering: .acquiring) { Self.progress(line) }
            })
        let sessionError: PodBenchError?
        do {
            sessionError = try runner.run(specs)
        } catch {
            yieldToInterrupt()
            throw error
        }
        yieldToInterrupt()
        if sessionError == nil { client.finish(shutdown: shutdownServer) }
        if sessionError == nil, let before = calibration {
            // The limits again, on the same CPUs: the host may have changed speed meanwhile.
            let after = try? Calibrator(
                configuration: .init(
                    trials: 5, trialNanoseconds: 20_000_000, firstCPU: before.firstCPU, secondCPU: before.secondCPU,
                    directory: options.shmDirForCalibration, executable: BuildInfo.executablePath),
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
        Self.outputLock.withLock { _ in
            print(ResultsTable.render(run), terminator: "")
            fflush(nil)
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
    static func printMarked(path: String) throws {
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
