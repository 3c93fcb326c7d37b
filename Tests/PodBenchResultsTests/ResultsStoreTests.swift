import Foundation
import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import Testing

@Suite("Results files")
struct ResultsStoreTests {
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "podbench-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func sampleRun() -> RunResult {
        let env = HostEnvironment.probe()
        let pin = CPUPinning.Outcome(asked: nil, allowed: [0, 1], observed: 0)
        var run = RunResult(
            podbench: ToolInfo(version: "0.1.0", commit: "abc", controlProtocol: 1), startedAt: "2026-11-22T00:00:00Z",
            commandLine: ["podbench", "run"],
            settings: RunSettings(
                trials: 2, warmupSeconds: 0.1, trialSeconds: 0.2, trialMessages: nil, verify: "all",
                isolation: "process",
                peerTimeoutSeconds: 10),
            environment: RunEnvironment(
                client: env, server: env, clientPinning: pin, serverPinning: pin, timerOverheadNanoseconds: 20))
        var histogram = EncodedHistogram.makeLatencyHistogram()
        for v in [1000, 2000, 3000] as [UInt64] { histogram.record(v) }
        let side = SideFigures(
            usage: CPUUsage(
                userNanoseconds: 1000, systemNanoseconds: 2000, voluntarySwitches: 3, involuntarySwitches: 0),
            messages: 3, integrity: IntegrityCounts(received: 3, verified: 3))
        let trial = TrialResult(
            index: 0, messages: 3, bytes: 192, elapsedNanoseconds: 6000, latency: EncodedHistogram(histogram),
            latencySummary: nil, client: side, server: side)
        run.cases = [
            CaseResult(
                key: CaseKey(transport: .tcp, workload: .pingpong, messageSize: 64), status: .ok,
                trials: [trial, trial])
        ]
        return run
    }

    @Test("a run survives write and load exactly; the namespaces it shares are derived")
    func roundTrip() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var run = Self.sampleRun()
        #expect(run.environment.sharedNamespaces.contains("net"))
        #expect(run.environment.separateNamespaces.isEmpty)
        let store = try ResultsStore(directory: dir, startedAt: Date(), host: "node/1", header: run)
        #expect(store.path.hasSuffix("-node_1.json"))
        try store.appendToJournal(run.cases[0])
        // The journal has the header and the case, one JSON document per line.
        let journal = try String(contentsOfFile: store.journalPath, encoding: .utf8)
        #expect(journal.split(separator: "\n").count == 2)
        run.complete = true
        try store.finish(run)
        #expect(!FileManager.default.fileExists(atPath: store.journalPath))
        #expect(try ResultsStore.load(store.path) == run)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test("a journal left by a killed run reads as an incomplete run; a cut last line is skipped, saying so")
    func journal() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var header = Self.sampleRun()
        let finished = header.cases[0]
        var second = finished
        second.key.messageSize = 128  // each case once: a run never measures one twice
        header.cases = []
        let store = try ResultsStore(directory: dir, startedAt: Date(), host: "h", header: header)
        try store.appendToJournal(finished)
        try store.appendToJournal(second)
        let whole = try ResultsStore.load(store.journalPath)
        #expect(!whole.complete && whole.cases.count == 2)
        #expect(whole.incompleteReason?.contains("did not finish (2 finished cases)") == true)
        #expect(whole.incompleteReason?.contains("cut") == false)
        // The run was killed mid-line: half of a third case, no newline.
        let third = try ResultsStore.encoder(pretty: false).encode(finished)
        let handle = try #require(FileHandle(forWritingAtPath: store.journalPath))
        handle.seekToEndOfFile()
        handle.write(third.prefix(third.count / 2))
        try handle.close()
        let cut = try ResultsStore.load(store.journalPath)
        #expect(cut.cases.count == 2)
        #expect(cut.incompleteReason?.contains("its last line was cut short and is skipped") == true)
        // A damaged line in the middle is an error naming it, never skipped in silence.
        let lines = try String(contentsOfFile: store.journalPath, encoding: .utf8).split(separator: "\n")
        try (lines[0] + "\n{\"oops\": 1}\n" + lines[1] + "\n").write(
            toFile: store.journalPath, atomically: false, encoding: .utf8)
        #expect {
            try ResultsStore.load(store.journalPath)
        } throws: { ($0 as? PodBenchError)?.message.contains("line 2 is not a finished case") == true }
    }

    @Test("a temporary file planted as a symlink cannot redirect an atomic write")
    func plantedTemporary() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let victim = dir + "/victim"
        try Data("precious".utf8).write(to: URL(fileURLWithPath: victim))
        // The names a process with a known PID would have used, all planted.
        for pid in [getpid(), getpid() + 1] {
            try FileManager.default.createSymbolicLink(atPath: dir + "/x.json.tmp-\(pid)", withDestinationPath: victim)
        }
        try ResultsStore.writeAtomically(Data("results".utf8), to: dir + "/x.json")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        #expect(try String(contentsOfFile: dir + "/x.json", encoding: .utf8) == "results")
    }

    @Test("a journal name planted as a symlink is passed over, never written through")
    func plantedJournal() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let victim = dir + "/victim"
        try Data("precious".utf8).write(to: URL(fileURLWithPath: victim))
        let date = Date()
        let name = ResultsStore.fileName(startedAt: date, host: "h")
        // Both the link that points at a file and one that points nowhere yet.
        try FileManager.default.createSymbolicLink(atPath: dir + "/\(name).journal.jsonl", withDestinationPath: victim)
        try FileManager.default.createSymbolicLink(
            atPath: dir + "/\(name)-2.journal.jsonl", withDestinationPath: dir + "/made-by-link")
        let store = try ResultsStore(directory: dir, startedAt: date, host: "h", header: Self.sampleRun())
        #expect(store.journalPath.hasSuffix("\(name)-3.journal.jsonl"))
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        #expect(!FileManager.default.fileExists(atPath: dir + "/made-by-link"))
    }

    @Test("an atomic write over an existing file replaces it whole")
    func atomicReplace() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/x.json"
        try ResultsStore.writeAtomically(Data("old".utf8), to: path)
        try ResultsStore.writeAtomically(Data("new content".utf8), to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new content")
    }

    @Test("a write into a missing directory fails with a clear error and leaves nothing")
    func unwritable() {
        #expect {
            try ResultsStore.writeAtomically(Data("x".utf8), to: "/nonexistent-podbench-dir/x.json")
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .ioFailure && e!.message.contains("/nonexistent-podbench-dir/x.json")
        }
    }

    @Test(
        "malformed files are refused with a message, never a crash",
        arguments: [
            ("", "is empty"),
            ("not json", "not valid JSON"),
            ("{\"schemaVersion\": 1}", "missing"),
            ("[1,2,3]", "not a podbench results file"),
            ("{\"schemaVersion\": 99}", "schema 99"),
            ("{\"schemaVersion\": \"1\"}", "not a podbench results file"),
        ])
    func malformed(text: String, expected: String) throws {
        #expect {
            try ResultsStore.decode(Data(text.utf8), source: "f.json")
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .incompatibleResults && e!.message.contains(expected)
        }
    }

    @Test("a whole run of another schema is refused as such, though it decodes")
    func otherSchemaWhole() throws {
        var run = Self.sampleRun()
        run.schemaVersion = 99
        #expect {
            try ResultsStore.decode(try JSONEncoder().encode(run), source: "f.json")
        } throws: { ($0 as? PodBenchError)?.message.contains("has results schema 99") == true }
    }

    @Test("many files load in parallel, in their order; of several bad ones the first is named")
    func loadAll() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var paths: [String] = []
        for i in 0..<40 {
            var run = Self.sampleRun()
            run.environment.client.hostname = "node-\(i)"
            let path = dir + "/\(i).json"
            try JSONEncoder().encode(run).write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        let runs = try ResultsStore.loadAll(paths)
        #expect(runs.map(\.environment.client.hostname) == (0..<40).map { "node-\($0)" })
        for bad in [31, 7] { try Data("not json".utf8).write(to: URL(fileURLWithPath: paths[bad])) }
        #expect {
            try ResultsStore.loadAll(paths)
        } throws: { ($0 as? PodBenchError)?.message.contains("/7.json") == true }
    }

    @Test("a truncated real file is refused")
    func truncated() throws {
        let data = try JSONEncoder().encode(Self.sampleRun())
        #expect(throws: PodBenchError.self) { try ResultsStore.decode(data.prefix(data.count / 2), source: "t.json") }
    }

    @Test("medians across trials")
    func medians() {
        #expect(CaseSummary.median([3, 1, 2]) == 2)
        #expect(CaseSummary.median([4, 1, 3, 2]) == 2.5)
        #expect(CaseSummary.median([]) == 0)
        let summary = CaseSummary(Self.sampleRun().cases[0])
        #expect(summary.trials == 2)
        #expect(summary.messagesPerSecond == 500_000)
        #expect(summary.clientCPUPerMessage == 1000)
    }
}

@Suite("Results file names")
struct ResultsFileNameTests {
    @Test("two runs started in the same second never share a file")
    func sameSecond() throws {
        let dir = try ResultsStoreTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let date = Date()
        let run = ResultsStoreTests.sampleRun()
        let first = try ResultsStore(directory: dir, startedAt: date, host: "h", header: run)
        let second = try ResultsStore(directory: dir, startedAt: date, host: "h", header: run)
        #expect(first.path != second.path)
        try first.finish(run)
        let third = try ResultsStore(directory: dir, startedAt: date, host: "h", header: run)
        #expect(third.path != first.path && third.path != second.path)
        try second.finish(run)
        try third.finish(run)
        #expect(try resultsCount(dir) == 3)
    }

    func resultsCount(_ dir: String) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".json") }.count
    }
}

@Suite("Hostile results files")
struct HostileResultsTests {
    /// The sample run as a JSON object to doctor.
    static func sampleObject() throws -> [String: Any] {
        let data = try JSONEncoder().encode(ResultsStoreTests.sampleRun())
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func decode(_ object: [String: Any]) throws -> RunResult {
        try ResultsStore.decode(try JSONSerialization.data(withJSONObject: object), source: "doctored.json")
    }

    /// Changes the first trial of the first case.
    static func withTrial(_ change: (inout [String: Any]) -> Void) throws -> [String: Any] {
        var object = try sampleObject()
        var cases = object["cases"] as! [[String: Any]]
        var trials = cases[0]["trials"] as! [[String: Any]]
        change(&trials[0])
        cases[0]["trials"] = trials
        object["cases"] = cases
        return object
    }

    @Test("NaN, infinite and negative figures are refused, naming the case and the figure")
    func badFigures() throws {
        for value: Any in ["nan", "inf", -5.0] {
            let object = try Self.withTrial { $0["messagesPerSecond"] = value }
            #expect {
                try Self.decode(object)
            } throws: { error in
                let e = error as? PodBenchError
                return e?.code == .incompatibleResults && e!.message.contains("case 1")
                    && e!.message.contains("messagesPerSecond")
            }
        }
    }

    @Test("huge numbers are refused, not wrapped")
    func hugeNumbers() throws {
        var text = String(decoding: try JSONEncoder().encode(ResultsStoreTests.sampleRun()), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"messages\":3", with: "\"messages\":123456789012345678901234567890")
        #expect(text.contains("123456789012345678901234567890"))
        #expect(throws: PodBenchError.self) { try ResultsStore.decode(Data(text.utf8), source: "huge.json") }
    }

    @Test("a histogram that does not decode is refused, naming the case and the trial")
    func badHistogram() throws {
        let object = try Self.withTrial { trial in
            var latency = trial["latency"] as! [String: Any]
            latency["data"] = "AAAA"
            trial["latency"] = latency
        }
        #expect {
            try Self.decode(object)
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .incompatibleResults && e!.message.contains("trial 0")
        }
    }

    @Test("an out-of-range message size is refused")
    func badSize() throws {
        var object = try Self.sampleObject()
        var cases = object["cases"] as! [[String: Any]]
        var key = cases[0]["key"] as! [String: Any]
        key["messageSize"] = 0
        cases[0]["key"] = key
        object["cases"] = cases
        #expect(throws: PodBenchError.self) { try Self.decode(object) }
    }

    static func expectRefused(_ data: Data, saying expected: String, sourceLocation: SourceLocation = #_sourceLocation)
    {
        #expect(sourceLocation: sourceLocation) {
            try ResultsStore.decode(data, source: "doctored.json")
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .incompatibleResults && e!.message.contains(expected)
        }
    }

    @Test("a key named twice in one object is refused, escaped spellings included, with its path")
    func duplicateJSONKeys() throws {
        let text = String(
            decoding: try ResultsStore.encoder(pretty: false).encode(ResultsStoreTests.sampleRun()), as: UTF8.self)
        // The first case's transport given twice: Foundation would read one, jq the other.
        let twice = text.replacingOccurrences(
            of: "\"transport\":\"tcp\"", with: "\"transport\":\"tcp\",\"transport\":\"uds\"")
        #expect(twice != text)
        Self.expectRefused(Data(twice.utf8), saying: "cases[0].key.transport twice")
        let escaped = text.replacingOccurrences(
            of: "\"transport\":\"tcp\"", with: "\"transport\":\"tcp\",\"\\u0074ransport\":\"uds\"")
        Self.expectRefused(Data(escaped.utf8), saying: "transport twice")
        // The same name in two different objects is fine.
        #expect(DuplicateKeys.first(in: Data(#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#.utf8)) == nil)
        #expect(DuplicateKeys.first(in: Data(#"{"a":1,"b":{"c":"}\",","c":2}}"#.utf8)) == "b.c")
        #expect(DuplicateKeys.first(in: Data(#"[{"x":1},{"x":1,"y":[1,{"x":2,"x":3}]}]"#.utf8)) == "[1].y[1].x")
        // Garbage never traps.
        for garbage in ["{", "\"", "{\"a\\", "}}]]", "{\"a\":\"\\u12", "{\"\\ud800\":1,\"\\ud800\":2}"] {
            _ = DuplicateKeys.first(in: Data(garbage.utf8))
        }
    }

    static var sampleCaseObject: [String: Any] {
        get throws { (try sampleObject()["cases"] as! [[String: Any]])[0] }
    }

    @Test("the same case twice, and an ok case without trials, are refused")
    func duplicateCases() throws {
        var object = try Self.sampleObject()
        object["cases"] = [try Self.sampleCaseObject, try Self.sampleCaseObject]
        Self.expectRefused(try JSONSerialization.data(withJSONObject: object), saying: "the same case as case 1")
        var empty = try Self.sampleCaseObject
        empty["trials"] = [Any]()
        object["cases"] = [empty]
        Self.expectRefused(try JSONSerialization.data(withJSONObject: object), saying: "holds no trials")
    }

    @Test("a latency summary that contradicts its histogram, or has none, is refused")
    func summaryContradicts() throws {
        var run = ResultsStoreTests.sampleRun()
        let histogram = try run.cases[0].trials[0].latency!.decode()
        for i in run.cases[0].trials.indices { run.cases[0].trials[i].latencySummary = LatencySummary(histogram) }
        let good = try ResultsStore.encoder(pretty: false).encode(run)
        #expect(try ResultsStore.decode(good, source: "good.json") == run)
        var forged = run
        forged.cases[0].trials[1].latencySummary?.p50 = 1
        Self.expectRefused(try ResultsStore.encoder(pretty: false).encode(forged), saying: "contradicts its histogram")
        var bare = run
        bare.cases[0].trials[0].latency = nil
        Self.expectRefused(
            try ResultsStore.encoder(pretty: false).encode(bare), saying: "without the latency histogram")
    }

    @Test("figures beyond any machine, vanishing ones, and names podbench never writes are refused")
    func implausible() throws {
        for value in [1e13, 1e-12, 5e-324] {
            let object = try Self.withTrial { $0["messagesPerSecond"] = value }
            Self.expectRefused(try JSONSerialization.data(withJSONObject: object), saying: "messagesPerSecond")
        }
        for (field, value, saying) in [
            (
                "transport", "::error::forged" as Any,
                "transport name \"::error::forged\" is not one this podbench knows"
            ),
            ("workload", "ping\u{1B}[2Jpong", "workload name \"ping?[2Jpong\" is not one"),
            ("options", ["rate": "nan"], "offered rate \"nan\""),
            ("options", ["rate": "0"], "offered rate \"0\""),
            ("options", ["rate": "2000000000000"], "offered rate 2000000000000"),
            ("options", ["hop": "relay\u{1B}[2J", "hop-in": "uds"], "control characters"),
            ("options", ["hop": "relay", "hop-in": "carrier-pigeon"], "hop-in transport name"),
            ("options", ["hop": "", "hop-in": "uds"], "hop's name"),
            ("options", ["hop": "relay"], "a hop needs both"),
            ("options", ["::error::x": "1"], "option name"),
        ] {
            var object = try Self.sampleObject()
            var cases = object["cases"] as! [[String: Any]]
            var key = cases[0]["key"] as! [String: Any]
            key[field] = value
            cases[0]["key"] = key
            object["cases"] = cases
            Self.expectRefused(try JSONSerialization.data(withJSONObject: object), saying: saying)
        }
        var run = ResultsStoreTests.sampleRun()
        run.settings.trialSeconds = .infinity
        Self.expectRefused(try ResultsStore.encoder(pretty: false).encode(run), saying: "trialSeconds")
        run = ResultsStoreTests.sampleRun()
        run.environment.client.allowedCPUs = [0, Int.max]
        Self.expectRefused(try ResultsStore.encoder(pretty: false).encode(run), saying: "CPU numbers")
        // UTF-16: Foundation would decode it, the duplicate-key scan and jq would not read it alike.
        let utf16 = String(
            decoding: try ResultsStore.encoder(pretty: false).encode(ResultsStoreTests.sampleRun()), as: UTF8.self
        )
        .data(using: .utf16LittleEndian)!
        Self.expectRefused(utf16, saying: "not UTF-8")
        // A histogram wider than podbench records (a value of 68.7 s or more once trapped report).
        run = ResultsStoreTests.sampleRun()
        var wide = Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: 1 << 40, numberOfSignificantValueDigits: .three)
        wide.record(1 << 36)
        run.cases[0].trials[0].latency = EncodedHistogram(wide)
        Self.expectRefused(try ResultsStore.encoder(pretty: false).encode(run), saying: "out of bounds")
    }

    @Test("the untouched sample still loads")
    func control() throws {
        #expect(try Self.decode(try Self.sampleObject()) == ResultsStoreTests.sampleRun())
    }
}
