import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchHarness
import PodBenchResults
import PodBenchRing
import PodBenchTransports

/// What to measure and how: shared by `run` and `client`.
struct MeasurementOptions: ParsableArguments {
    /// The transports when --transports is not given (and no --preset chooses others).
    static let defaultTransports = "tcp,uds,shm"
    /// The workloads when --workloads is not given (and no --preset chooses others).
    static let defaultWorkloads = "pingpong,stream"

    // The options in sections of --help (ArgumentParser prints a titled group as one); each is
    // also a property of this type (below), so the code reads them as before.
    @OptionGroup(title: "What to measure") var matrix: MatrixOptions
    @OptionGroup(title: "How long, how often, how carefully") var phases: PhaseOptions
    @OptionGroup(title: "Placement and transport settings") var transportSettings: TransportSettings
    @OptionGroup(title: "A hop between the sides (--via)") var hop: HopOptions
    @OptionGroup(title: "Where the results go") var outputOptions: OutputOptions

    /// The parsed, checked settings: the plan `MeasurementSession` runs.
    typealias Parsed = MeasurementPlan

    func validate() throws {
        _ = try parsed()
    }

    /// --transports and --workloads as this run measures them: as given, else as --preset
    /// chooses, else the defaults. A preset fills only what was not given: an explicit list, the
    /// default spelt out included, stands.
    func lists() throws -> (transports: String, workloads: String) {
        var transports = self.transports ?? Self.defaultTransports
        var workloads = self.workloads ?? Self.defaultWorkloads
        if let preset = try chosenPreset() {
            if self.transports == nil { transports = preset.transports.map(\.rawValue).joined(separator: ",") }
            if self.workloads == nil, let own = preset.workloads {
                workloads = own.map(\.rawValue).joined(separator: ",")
            }
        }
        return (transports, workloads)
    }

    /// `--preset`, parsed.
    func chosenPreset() throws -> Preset? {
        do { return try preset.map(Preset.init(parsing:)) } catch let error as PodBenchError {
            throw ValidationError(error.message)
        }
    }

    func parsed() throws -> Parsed {
        do {
            let (transportList, workloadList) = try lists()
            var vias = via
            if vias.isEmpty, let preset = try chosenPreset()?.via { vias = [preset] }
            let transports = try Self.naming("--transports") { try TransportKind.parseList(transportList) }
            let workloads = try Self.naming("--workloads") { try WorkloadKind.parseList(workloadList) }
            let sizes = try Self.naming("--sizes") { try ByteSize.parseList(self.sizes) }
            for http in workloads where http.speaksHTTP && !transports.contains(where: { http.runs(on: $0) }) {
                throw ValidationError(
                    "--workloads \(http.rawValue) speaks HTTP, which runs on \(http.transportsInWords): include one in --transports"
                )
            }
            let h2Streams = try Self.parseStreams(self.h2Streams)
            guard (1...1000).contains(trials) else {
                throw ValidationError("--trials must be 1 to 1000, not \(trials)")
            }
            let trial = try DurationText.parse(duration, option: "--duration")
            guard trial >= 1_000_000 || messages != nil else {
                throw ValidationError("--duration must be at least 1ms")
            }
            let warm = try DurationText.parse(warmup, option: "--warmup")
            if let messages, messages < 1 { throw ValidationError("--messages must be at least 1") }
            let verifyEvery = try Self.parseVerify(verify)
            let timeoutNs = try DurationText.parse(timeout, option: "--timeout")
            guard timeoutNs >= 100_000_000 else { throw ValidationError("--timeout must be at least 100ms") }
            let (client, server) = try Self.parseCPU(cpu)
            var options = TransportOptions()
            if let socketBuffer {
                let bytes: Int
                do { bytes = try ByteSize.parse(socketBuffer) } catch let e as PodBenchError {
                    throw ValidationError("--socket-buffer: \(e.message)")
                }
                guard bytes >= 1024 else { throw ValidationError("--socket-buffer must be at least 1KiB") }
                options.socketBufferBytes = bytes
            }
            let ring: Int
            do { ring = try ByteSize.parse(shmRing, maximum: 1 << 30) } catch let e as PodBenchError {
                throw ValidationError("--shm-ring: \(e.message)")
            }
            do { try RingLayout.validate(capacity: ring) } catch let e as PodBenchError {
                throw ValidationError("--shm-ring: \(e.message)")
            }
            options.ringBytes = ring
            var waits: [String] = []
            for part in shmWait.split(separator: ",", omittingEmptySubsequences: false) {
                do {
                    let strategy = try RingWaitStrategy(parsing: String(part))
                    if !waits.contains(strategy.description) { waits.append(strategy.description) }
                } catch let e as PodBenchError {
                    throw ValidationError("--shm-wait: \(e.message)")
                }
            }
            options.follow = try Self.naming("--file-follow") { try FileFollowMode(parsing: fileFollow).description }
            if options.follow == "signal", let log = transports.first(where: { $0 == .file || $0 == .uringFile }) {
                throw ValidationError(
                    "--file-follow signal is for the content-sync transports (sync-symlink, sync-rename); \(log.rawValue)'s reader follows appends by inotify or poll: run it separately"
                )
            }
            do {
                options.segmentBytes = try ByteSize.parse(fileSegment, maximum: 1 << 40)
            } catch let e as PodBenchError {
                throw ValidationError("--file-segment: \(e.message)")
            }
            guard options.segmentBytes! >= 1024 else { throw ValidationError("--file-segment must be at least 1KiB") }
            var fsyncs: [String] = []
            for part in fileFsync.split(separator: ",", omittingEmptySubsequences: false) {
                let mode = try Self.naming("--file-fsync") { try FileSyncMode(parsing: String(part)).description }
                if !fsyncs.contains(mode) { fsyncs.append(mode) }
            }
            guard (1...256).contains(uringBatch) else { throw ValidationError("--uring-batch must be 1 to 256") }
            options.uringBatch = uringBatch
            guard uringBuffers == "copy" || uringBuffers == "registered" else {
                throw ValidationError("--uring-buffers: '\(uringBuffers)' is not copy or registered")
            }
            options.uringBuffers = uringBuffers
            var setups: [String] = []
            for part in uringSetup.split(separator: ",", omittingEmptySubsequences: false) {
                let mode = try Self.naming("--uring-setup") { try URingSetupMode(parsing: String(part)).rawValue }
                if !setups.contains(mode) { setups.append(mode) }
            }
            let offered = try Self.parseRates(rates)
            // Between two messages of an open loop the server waits for the next one for --timeout at
            // most: a rate whose period comes near it (within half, for the delivery's jitter) would
            // fail its cases at the server's timeout. (Under `client` the server's own `serve
            // --timeout` decides, which the message names too.)
            if let slowest = offered.min(), workloads.contains(where: \.isOpenLoop),
                2e9 / Double(slowest) > Double(timeoutNs)
            {
                let period = String(format: "%.4g ms", 1000 / Double(slowest))
                throw ValidationError(
                    "--rates \(slowest): one message every \(period) comes too close to --timeout (\(timeout)), after which the server stops waiting for the next: give --timeout at least twice the period, or offer at least \(Int((2e9 / Double(timeoutNs)).rounded(.up)))/s (with client, serve's --timeout too)"
                )
            }
            var hops: [MatrixRunner.Hop] = []
            var relayIn: TransportKind?
            let isRelay = { (text: String) in text == "relay" || text.hasPrefix("relay:") }
            if vias.count > 1 {
                if vias.contains(where: isRelay) {
                    throw ValidationError(
                        "--via relay starts podbench's relay and goes alone: give it once, or give endpoints of proxies you run"
                    )
                }
                guard viaTarget.count == vias.count else {
                    throw ValidationError(
                        "\(vias.count) --via and \(viaTarget.count) --via-target: give each hop its --via-target, in the same order"
                    )
                }
                for (option, count) in [
                    ("--via-name", viaName.count), ("--via-stats", viaStats.count),
                    ("--via-workloads", viaWorkloads.count),
                ]
                where count != 0 && count != vias.count {
                    throw ValidationError(
                        "\(vias.count) --via and \(count) \(option): give none, or one for each hop in the same order (\(option == "--via-workloads" ? "all for a hop that carries every workload" : "--via-stats none for a hop without"))"
                    )
                }
                guard viaName.count == vias.count else {
                    throw ValidationError(
                        "several hops need --via-name each: the name tells their cases apart in the results")
                }
                // Two hops may share a name only as two ports of one proxy: the same --via-stats, and
                // workloads of their own (a case's key, its hop's name and its workload, stays one case's).
                for (i, name) in viaName.enumerated() {
                    for j in (i + 1)..<viaName.count where viaName[j] == name {
                        let (a, b) = (
                            viaWorkloads.count == vias.count ? viaWorkloads[i] : "all",
                            viaWorkloads.count == vias.count ? viaWorkloads[j] : "all"
                        )
                        let disjoint =
                            a != "all" && b != "all"
                            && Set((try? WorkloadKind.parseList(a)) ?? []).isDisjoint(
                                with: (try? WorkloadKind.parseList(b)) ?? [])
                        guard disjoint, viaStats.count != vias.count || viaStats[i] == viaStats[j] else {
                            throw ValidationError(
                                "--via-name: each hop needs a name of its own, not \(viaName.joined(separator: ", ")) (two ports of one proxy may share one: give each its --via-workloads, which must not overlap, and the same --via-stats)"
                            )
                        }
                    }
                }
            } else if viaTarget.count > 1 || viaName.count > 1 || viaStats.count > 1 || viaWorkloads.count > 1 {
                throw ValidationError(
                    "--via-target, --via-name, --via-stats and --via-workloads go once for each --via")
            }
            if let viaText = vias.first, vias.count == 1 {
                let viaTarget = viaTarget.first
                let viaName = viaName.first
                if isRelay(viaText) {
                    let kind = String(viaText.dropFirst(6))
                    guard
                        viaText == "relay"
                            || ["tcp", "tcp6", "uds", "uds-abstract", "file", "fifo", "shm"].contains(kind)
                    else {
                        throw ValidationError(
                            "--via: '\(viaText)' is not relay, relay:tcp, relay:tcp6, relay:uds, relay:uds-abstract, relay:file, relay:fifo or relay:shm"
                        )
                    }
                    relayIn = try TransportKind.parseList(viaText == "relay" ? "tcp" : kind)[0]
                } else {
                    guard let viaTarget else {
                        throw ValidationError(
                            "--via \(viaText) needs --via-target: the endpoint the hop forwards to, where the server listens"
                        )
                    }
                    hops = [
                        try Self.naming("--via") {
                            MatrixRunner.Hop(
                                via: try HopEndpoint(parsing: viaText), listen: try HopEndpoint(parsing: viaTarget),
                                name: viaName ?? "proxy")
                        }
                    ]
                }
            } else if vias.count > 1 {
                for (index, viaText) in vias.enumerated() {
                    hops.append(
                        try Self.naming("--via") {
                            MatrixRunner.Hop(
                                via: try HopEndpoint(parsing: viaText),
                                listen: try HopEndpoint(parsing: viaTarget[index]), name: viaName[index])
                        })
                }
            } else if !viaTarget.isEmpty || !viaStats.isEmpty || !viaName.isEmpty || !viaWorkloads.isEmpty {
                throw ValidationError("--via-target, --via-stats, --via-name and --via-workloads go with --via")
            }
            for hop in hops where !transports.contains(hop.transport) {
                throw ValidationError(
                    "--via-target \(hop.listen) is a \(hop.transport) endpoint: include \(hop.transport) in --transports"
                )
            }
            for name in viaName where !CaseKey.Hop.isValidName(name) {
                throw ValidationError("--via-name: \(CaseKey.Hop.nameRule)")
            }
            for (index, text) in viaStats.enumerated() where text != "none" {
                let source = try Self.naming("--via-stats") { try HopStatsSource(parsing: text) }
                if index < hops.count { hops[index].stats = source }
            }
            if relayIn != nil && !viaWorkloads.isEmpty {
                throw ValidationError(
                    "--via relay carries every workload: --via-workloads goes with the endpoints of proxies you run")
            }
            for (index, text) in viaWorkloads.enumerated() where text != "all" && index < hops.count {
                hops[index].workloads = try Self.naming("--via-workloads") { try WorkloadKind.parseList(text) }
            }
            // The proxy presets put every case of tcp through the proxy's HTTP port too, which
            // answers anything but HTTP with 400: the HTTP workloads only, and tcp to run them on.
            if vias.isEmpty, let preset = try chosenPreset(), preset.proxy != nil {
                let carried: [WorkloadKind] = [.http1, .http2, .http1Rate, .http2Rate]
                if let other = workloads.first(where: { !carried.contains($0) }) {
                    throw ValidationError(
                        "--preset \(preset.rawValue) measures \(carried.dropLast().map(\.rawValue).joined(separator: ", ")) and \(carried.last!.rawValue) (the proxy's HTTP port answers anything else with 400): leave \(other.rawValue) out of --workloads, or measure it in a run of its own"
                    )
                }
                guard transports.contains(.tcp) else {
                    throw ValidationError(
                        "--preset \(preset.rawValue) puts the proxy on localhost TCP: include tcp in --transports")
                }
            }
            if relayIn != nil && !viaStats.isEmpty {
                throw ValidationError("--via relay reads the relay's own stats: --via-stats goes with a proxy of yours")
            }
            return MeasurementPlan(
                transports: transports, workloads: workloads, sizes: sizes, trials: trials, trialNanoseconds: trial,
                warmupNanoseconds: warm, messages: messages, verifyEvery: verifyEvery, timeoutNanoseconds: timeoutNs,
                clientCPU: client, serverCPU: server, options: options, shmWaits: waits, fileFsyncs: fsyncs,
                uringSetups: setups, rates: offered, hops: hops, h2Streams: h2Streams, relayIn: relayIn,
                calibrate: !noCalibrate, calibrationDirectory: shmDirForCalibration, resultsDirectory: resultsDir,
                injectCorruption: injectCorruption, output: try outputPath(), printJSON: json, quiet: quiet)
        } catch let error as PodBenchError {
            throw ValidationError(error.message)
        }
    }

    /// `--output` made absolute, checked before anything is measured: a results file is never
    /// overwritten, and its folder must be one (it is made if missing).
    func outputPath() throws -> String? {
        guard let output else { return nil }
        guard !output.isEmpty, !output.hasSuffix("/") else {
            throw ValidationError("--output: give a file name, e.g. -o results/today.json")
        }
        let path = URL(fileURLWithPath: output).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        // A link, even one to nothing, is there too: the results would be refused at the end.
        if (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
            == .typeSymbolicLink
        {
            throw ValidationError("--output: \(output) exists (a link); give a new name or remove it first")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            throw ValidationError(
                isDirectory.boolValue
                    ? "--output: \(output) is a folder; give a file name (or --results-dir for a folder)"
                    : "--output: \(output) exists; podbench never overwrites a results file: give a new name or remove it first"
            )
        }
        return path
    }

    /// Runs `parse`, putting the option's name in front of its error message.
    static func naming<T>(_ option: String, _ parse: () throws -> T) throws -> T {
        do {
            return try parse()
        } catch let error as PodBenchError {
            throw ValidationError("\(option): \(error.message)")
        }
    }

    /// `1k,10k,2.5M` as messages per second, lowest first, without repeats; `auto` as none.
    static func parseRates(_ text: String) throws -> [Int] {
        if text == "auto" { return [] }  // the matrix searches (MatrixRunner.searchRates)
        var out: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            var number = Substring(part.trimmingCharacters(in: .whitespaces))
            var scale = 1.0
            if let last = number.last, let factor = ["k": 1e3, "K": 1e3, "M": 1e6][String(last)] {
                scale = factor
                number = number.dropLast()
            }
            guard let value = Double(number), value.isFinite, value * scale >= 1, value * scale <= 100e6 else {
                throw ValidationError("--rates: '\(part)' is not a rate of 1 to 100M messages/s; write e.g. 1k,10k,50k")
            }
            let rate = Int((value * scale).rounded())
            if !out.contains(rate) { out.append(rate) }
        }
        return out.sorted()
    }

    /// `--h2-streams`: a list of 1 to 128, each a case of the http2 workload.
    static func parseStreams(_ text: String) throws -> [Int] {
        var out: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Int(part.trimmingCharacters(in: .whitespaces)),
                (1...HTTP2Workload.maximumStreams).contains(value)
            else {
                throw ValidationError(
                    "--h2-streams: '\(part)' is not a number of streams of 1 to \(HTTP2Workload.maximumStreams); write e.g. 1,16"
                )
            }
            if !out.contains(value) { out.append(value) }
        }
        return out.sorted()
    }

    static func parseVerify(_ text: String) throws -> Int {
        if text == "all" { return 1 }
        if text.hasPrefix("sample:"), let n = Int(text.dropFirst(7)), n >= 1 { return n }
        throw ValidationError("--verify: '\(text)' is not 'all' or 'sample:N' with N at least 1")
    }

    static func parseCPU(_ text: String?) throws -> (client: Int?, server: Int?) {
        guard let text else { return (nil, nil) }
        var client: Int?
        var server: Int?
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let cpu = Int(pair[1]), cpu >= 0 else {
                throw ValidationError("--cpu: '\(part)' is not SIDE=CPU; write e.g. client=0,server=1")
            }
            switch pair[0] {
            case "client": client = cpu
            case "server": server = cpu
            default: throw ValidationError("--cpu: unknown side '\(pair[0])'; the sides are client and server")
            }
        }
        return (client, server)
    }

    /// These options as command-line arguments that parse back to the same values: `run
    /// --isolation podman` hands them to the client in its container. Every option is written,
    /// defaults too, so that a new option left out here fails the round-trip test.
    func arguments(resultsDir: String) -> [String] {
        // The lists as resolved here (a preset's choice written out: the same run there).
        let (transports, workloads) = (try? lists()) ?? (Self.defaultTransports, Self.defaultWorkloads)
        var out = [
            "--transports", transports, "--workloads", workloads, "--rates", rates, "--h2-streams", h2Streams,
            "--sizes", sizes,
            "--trials", String(trials), "--duration", duration, "--warmup", warmup, "--verify", verify,
            "--timeout", timeout, "--shm-ring", shmRing, "--shm-wait", shmWait, "--file-follow", fileFollow,
            "--file-fsync", fileFsync, "--file-segment", fileSegment, "--uring-batch", String(uringBatch),
            "--uring-setup", uringSetup, "--uring-buffers", uringBuffers, "--results-dir", resultsDir,
        ]
        if let messages { out += ["--messages", String(messages)] }
        if let cpu { out += ["--cpu", cpu] }
        if let socketBuffer { out += ["--socket-buffer", socketBuffer] }
        if noCalibrate { out.append("--no-calibrate") }
        if let injectCorruption { out += ["--inject-corruption", String(injectCorruption)] }
        for text in via { out += ["--via", text] }
        for text in viaTarget { out += ["--via-target", text] }
        for text in viaName { out += ["--via-name", text] }
        for text in viaStats { out += ["--via-stats", text] }
        for text in viaWorkloads { out += ["--via-workloads", text] }
        if let preset { out += ["--preset", preset] }
        if let path = try? outputPath() { out += ["--output", path] }
        if json { out.append("--json") }
        if quiet { out.append("--quiet") }
        return out
    }

    /// Where the calibration's shared page goes (memory-backed; /dev/shm when present).
    var shmDirForCalibration: String {
        FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : "/tmp"
    }
}

/// Each option as a property of `MeasurementOptions`, as before the sections.
extension MeasurementOptions {
    var transports: String? {
        get { matrix.transports }
        set { matrix.transports = newValue }
    }
    var workloads: String? {
        get { matrix.workloads }
        set { matrix.workloads = newValue }
    }
    var sizes: String {
        get { matrix.sizes }
        set { matrix.sizes = newValue }
    }
    var rates: String {
        get { matrix.rates }
        set { matrix.rates = newValue }
    }
    var h2Streams: String {
        get { matrix.h2Streams }
        set { matrix.h2Streams = newValue }
    }
    var preset: String? {
        get { matrix.preset }
        set { matrix.preset = newValue }
    }
    var trials: Int {
        get { phases.trials }
        set { phases.trials = newValue }
    }
    var duration: String {
        get { phases.duration }
        set { phases.duration = newValue }
    }
    var warmup: String {
        get { phases.warmup }
        set { phases.warmup = newValue }
    }
    var messages: Int? {
        get { phases.messages }
        set { phases.messages = newValue }
    }
    var verify: String {
        get { phases.verify }
        set { phases.verify = newValue }
    }
    var timeout: String {
        get { phases.timeout }
        set { phases.timeout = newValue }
    }
    var noCalibrate: Bool {
        get { phases.noCalibrate }
        set { phases.noCalibrate = newValue }
    }
    var cpu: String? {
        get { transportSettings.cpu }
        set { transportSettings.cpu = newValue }
    }
    var socketBuffer: String? {
        get { transportSettings.socketBuffer }
        set { transportSettings.socketBuffer = newValue }
    }
    var shmRing: String {
        get { transportSettings.shmRing }
        set { transportSettings.shmRing = newValue }
    }
    var shmWait: String {
        get { transportSettings.shmWait }
        set { transportSettings.shmWait = newValue }
    }
    var fileFollow: String {
        get { transportSettings.fileFollow }
        set { transportSettings.fileFollow = newValue }
    }
    var fileFsync: String {
        get { transportSettings.fileFsync }
        set { transportSettings.fileFsync = newValue }
    }
    var fileSegment: String {
        get { transportSettings.fileSegment }
        set { transportSettings.fileSegment = newValue }
    }
    var uringBatch: Int {
        get { transportSettings.uringBatch }
        set { transportSettings.uringBatch = newValue }
    }
    var uringSetup: String {
        get { transportSettings.uringSetup }
        set { transportSettings.uringSetup = newValue }
    }
    var uringBuffers: String {
        get { transportSettings.uringBuffers }
        set { transportSettings.uringBuffers = newValue }
    }
    var via: [String] {
        get { hop.via }
        set { hop.via = newValue }
    }
    var viaTarget: [String] {
        get { hop.viaTarget }
        set { hop.viaTarget = newValue }
    }
    var viaName: [String] {
        get { hop.viaName }
        set { hop.viaName = newValue }
    }
    var viaStats: [String] {
        get { hop.viaStats }
        set { hop.viaStats = newValue }
    }
    var viaWorkloads: [String] {
        get { hop.viaWorkloads }
        set { hop.viaWorkloads = newValue }
    }
    var resultsDir: String {
        get { outputOptions.resultsDir }
        set { outputOptions.resultsDir = newValue }
    }
    var output: String? {
        get { outputOptions.output }
        set { outputOptions.output = newValue }
    }
    var json: Bool {
        get { outputOptions.json }
        set { outputOptions.json = newValue }
    }
    var quiet: Bool {
        get { outputOptions.quiet }
        set { outputOptions.quiet = newValue }
    }
    var injectCorruption: UInt64? {
        get { outputOptions.injectCorruption }
        set { outputOptions.injectCorruption = newValue }
    }
}

/// `What to measure`: a section of the measurement options.
struct MatrixOptions: ParsableArguments {
    @Option(
        name: [.customShort("t"), .long],
        help: ArgumentHelp(
            "Transports, comma-separated: \(TransportKind.allCases.map(\.rawValue).joined(separator: ", ")).",
            discussion:
                "Default: \(MeasurementOptions.defaultTransports) (tcp with --preset; sync-symlink,sync-rename with --preset content-sync)."
        ))
    var transports: String?

    @Option(
        name: [.customShort("w"), .long],
        help: ArgumentHelp(
            "Workloads, comma-separated: pingpong (round-trip latency), stream (one-way throughput), rate (open loop at each --rates), http1 (HTTP/1.1 keep-alive requests, round trip per request), http2 (HTTP/2 h2c, --h2-streams requests outstanding on one connection), http1-rate (HTTP/1.1 open loop at each --rates, latency from each request's intended send time), http2-rate (HTTP/2 open loop at each --rates with up to --h2-streams outstanding).",
            discussion:
                "Default: \(MeasurementOptions.defaultWorkloads) (rate with --preset sidecar-logs; stream,rate with content-sync). http1 and http1-rate run on the stream sockets (tcp, tcp6, uds, uds-abstract, uring-tcp, uring-uds), http2 and http2-rate on tcp, tcp6, uds and uds-abstract; they are skipped on the other transports; docs/http.md."
        ))
    var workloads: String?

    @Option(
        name: [.customShort("s"), .long],
        help: "Message sizes (payload bytes), comma-separated, 1 byte to 4MiB: e.g. 64,1KiB,64KiB,1MiB.")
    var sizes = "64,1KiB,64KiB,1MiB"

    @Option(
        help: ArgumentHelp(
            "Offered rates for the open-loop workloads (rate, http1-rate, http2-rate), messages or requests/s, comma-separated (each a case): e.g. 1k,10k,50k,200k; or auto.",
            discussion:
                "Sends are scheduled on a timeline; latency counts from each message's intended send time. auto searches: from 1k/s up ×4 until the channel breaks (under 95% delivered, or p99 doubled), then three halvings of the gap (at most 13 cases). A rate whose period is more than half of --timeout is refused: the server would stop waiting between two."
        ))
    var rates = "1k,10k,100k"

    @Option(
        name: .customLong("h2-streams"),
        help: ArgumentHelp(
            "Requests outstanding at once on the http2 workload's connection (at most, for http2-rate), comma-separated (each a case): e.g. 1,16.",
            discussion:
                "1 to 128 (the server's SETTINGS_MAX_CONCURRENT_STREAMS). Each request's round trip runs from its HEADERS' send to its answer's last byte; with N streams a request waits behind the others (as h2load -m N)."
        ))
    var h2Streams = "1"

    @Option(
        help: ArgumentHelp(
            "A pod pattern: ambassador (client → relay → server over localhost TCP), adapter (client → relay over uds, relay → server over TCP), sidecar-logs (the app appends records to a file, the relay follows it and ships them over TCP), content-sync (a sidecar publishes versions into the shared volume, the app follows and reads each whole), http-proxy=nginx or http-proxy=haproxy (an HTTP sidecar: the proxy in TCP mode and in HTTP mode between the sides).",
            discussion:
                "Sets --transports tcp (unless given) and --via relay, relay:uds or relay:file (unless --via names a proxy of yours); sidecar-logs also --workloads rate (unless given): one-way latency from each record's intended append time to its arrival at the collector is the shipper's lag. content-sync sets --transports sync-symlink,sync-rename and --workloads stream,rate (unless given) and no hop: publish-to-visible latency. http-proxy=nginx|haproxy sets --transports tcp and --workloads http1 (unless given) and, unless --via names proxies of yours, starts this host's proxy (beside the run, or with --isolation podman as a third container of the pod) in TCP mode and HTTP mode: two hops, nginx-tcp and nginx-http; http1, http1-rate, http2 and http2-rate only (--workloads http1,http2: haproxy passes HTTP/2 on as HTTP/2; nginx takes it on a port of its own and passes it on as HTTP/1.1). See docs/patterns.md and docs/http.md."
        ))
    var preset: String?
}

/// `How long, how often, how carefully`: a section of the measurement options.
struct PhaseOptions: ParsableArguments {

    @Option(name: [.customShort("n"), .long], help: "Measured trials per case; statistics are taken across trials.")
    var trials = 5

    @Option(name: [.customShort("d"), .long], help: "Length of each trial (e.g. 500ms, 2s).")
    var duration = "500ms"

    @Option(help: "Warm-up before each case's trials, thrown away (e.g. 250ms; 0 for none).")
    var warmup = "250ms"

    @Option(help: "End each trial after this many messages instead of after --duration.")
    var messages: Int?

    @Option(
        help: ArgumentHelp(
            "Payload checksums to verify: all, or sample:N (every Nth message).",
            discussion:
                "Lengths and sequence numbers are checked on every message either way. The default, sample:16, verifies the payloads of the 1st, 17th, 33rd, … message of each trial: a corrupted byte in one other message passes unseen. Use all to catch every one; on shm stream of 64 KiB it cost 17-32% of the throughput here (docs/benchmarks.md)."
        ))
    var verify = "sample:16"

    @Option(help: "Give up on a peer that sends nothing for this long (e.g. 10s).")
    var timeout = "10s"

    @Flag(help: "Skip the quick calibration of this machine's limits at the start (no 'vs limit' column).")
    var noCalibrate = false
}

/// `Placement and transport settings`: a section of the measurement options.
struct TransportSettings: ParsableArguments {

    @Option(help: "Pin the measuring threads: client=N,server=M (either part may be left out).")
    var cpu: String?

    @Option(help: "SO_SNDBUF and SO_RCVBUF for socket transports, both sides (e.g. 4MiB); kernel default if unset.")
    var socketBuffer: String?

    @Option(help: "Bytes in each of the two rings of an shm connection, a power of two (4KiB to 1GiB).")
    var shmRing = "1MiB"

    @Option(
        help: ArgumentHelp(
            "How shm and process-vm sides wait for the peer, comma-separated (each a case): spin, futex, spin-futex[:DURATION].",
            discussion:
                "spin never sleeps; futex sleeps at once (process-vm: in poll on its pipe); spin-futex spins 50us (or DURATION), then sleeps."
        ))
    var shmWait = "spin-futex"

    @Option(
        help: ArgumentHelp(
            "How a file reader learns of new records, and a sync-symlink or sync-rename follower of new versions: inotify, or poll[:DURATION] (sleep between empty reads, default 100us); for sync-* also signal (the publisher signals the follower's process after each version, which reads only then: publish-to-reloaded; needs a shared process namespace)."
        ))
    var fileFollow = "inotify"

    @Option(
        help: ArgumentHelp(
            "When file writers fsync, comma-separated (each a case): none, each, every:N (records).",
            discussion: "Use a --shared-dir on a disk to measure durability; on tmpfs fsync costs next to nothing."))
    var fileFsync = "none"

    @Option(help: "Size at which a file writer starts the next segment (rotation); the reader removes finished ones.")
    var fileSegment = "4MiB"

    @Option(help: "Sends an io_uring transport queues before one submission (stream), 1 to 256.")
    var uringBatch = TransportOptions.defaultURingBatch

    @Option(
        help: ArgumentHelp(
            "How io_uring transports set up their ring, comma-separated (each a case): default, defer-taskrun, sqpoll."
        ))
    var uringSetup = "default"

    @Option(
        help: ArgumentHelp(
            "Where io_uring sends come from: copy (plain sends from a staging copy) or registered (zero-copy sends from buffers registered with the ring; TCP only)."
        ))
    var uringBuffers = "copy"
}

/// `A hop between the sides (--via)`: a section of the measurement options.
struct HopOptions: ParsableArguments {

    @Option(
        help: ArgumentHelp(
            "A hop between the sides: ENDPOINT (a proxy you run, forwarding to --via-target; file:DIR, shm:DIR or fifo:DIR for a podbench relay making connections there), or relay[:tcp|tcp6|uds|uds-abstract|file|fifo|shm] (run starts podbench's relay).",
            discussion:
                "Each case whose transport is --via-target's runs direct and then through the hop, back to back; the results key records the hop (hop, hop-in) and the table the hop's cost against the direct case. Give --via several times (each with its --via-target and --via-name, in order) for several proxies, or one proxy in two modes, measured in one run. relay:uds makes the client speak uds to the relay, which forwards over the server's transport, the first of --transports it can reach (the adapter pattern)."
        ))
    var via: [String] = []

    @Option(
        help:
            "With --via: where the server listens and the hop forwards: a socket (tcp:127.0.0.1:9001), or file:DIR, shm:DIR, fifo:DIR, where the server makes each case's connection for the relay to open."
    )
    var viaTarget: [String] = []

    @Option(
        help:
            "With --via: the hop's name in the results (default: relay for podbench's relay, else proxy; one each with several --via)."
    )
    var viaName: [String] = []

    @Option(
        help:
            "With --via: where the hop's own CPU per message comes from: the endpoint a podbench relay serves its stats on (unix:PATH or tcp:HOST:PORT), or pid:PID, a proxy's process as this side sees it (its threads' CPU time and context switches from /proc), or process:NAME, the one process of that name this side sees (a proxy in another container of a pod sharing its process namespace); none for a hop without, with several --via."
    )
    var viaStats: [String] = []

    @Option(
        help:
            "With --via: the workloads the hop carries (a list, or all, the default); the matrix's other workloads run direct only. One for each --via, in order. Two hops may share a --via-name when they carry workloads of their own: nginx in HTTP mode takes HTTP/1.1 on one port and HTTP/2 on another (--via-workloads http1,http1-rate and http2,http2-rate), one hop in the results."
    )
    var viaWorkloads: [String] = []
}

/// `Where the results go`: a section of the measurement options.
struct OutputOptions: ParsableArguments {

    @Option(help: "Directory for results files, named <UTC start>-<host>.json (unless --output names the file).")
    var resultsDir = "results/runs"

    @Option(
        name: [.customShort("o"), .customLong("output")],
        help: ArgumentHelp(
            "Write the results file here instead of into --results-dir; refused if FILE exists.",
            discussion:
                "Its journal of finished cases is FILE.journal.jsonl while the run goes. podbench never overwrites a results file: remove an old one first.",
            valueName: "FILE"))
    var output: String?

    @Flag(help: "Print the results document (JSON) on stdout instead of the table; progress stays on stderr.")
    var json = false

    @Flag(
        name: [.customShort("q"), .long],
        help: "No progress lines on stderr: only errors, warnings and where the results went.")
    var quiet = false

    @Option(help: ArgumentHelp("Test only: corrupt the payload of message N in every phase.", visibility: .private))
    var injectCorruption: UInt64?
}

extension MeasurementOptions {
    /// The options of a command that holds the five groups itself (`run`, `client`): a debug
    /// build of ArgumentParser checks a type's options each time it lists them, nested groups
    /// once per check of their parent, so a group of groups inside a command cost 0.5 s of CPU a
    /// parse (3 s under the thread sanitizer, on every end-to-end test's `run`); one level less
    /// costs a fraction. `validate()` is then the command's to call.
    init(
        matrix: MatrixOptions, phases: PhaseOptions, transportSettings: TransportSettings, hop: HopOptions,
        outputOptions: OutputOptions
    ) {
        self.init()
        self.matrix = matrix
        self.phases = phases
        self.transportSettings = transportSettings
        self.hop = hop
        self.outputOptions = outputOptions
    }
}

/// A command that holds MeasurementOptions' five groups itself (`run`, `client`; see
/// `MeasurementOptions.init(matrix:…)`).
protocol MeasuringCommand {
    var matrix: MatrixOptions { get }
    var phases: PhaseOptions { get }
    var transportSettings: TransportSettings { get }
    var hop: HopOptions { get }
    var outputOptions: OutputOptions { get }
}

extension MeasuringCommand {
    /// What to measure and how, as `MeasurementOptions`.
    var measurement: MeasurementOptions {
        MeasurementOptions(
            matrix: matrix, phases: phases, transportSettings: transportSettings, hop: hop,
            outputOptions: outputOptions)
    }
}
