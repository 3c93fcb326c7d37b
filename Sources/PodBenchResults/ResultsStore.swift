import Foundation
import PodBenchCore
import SystemPackage

/// Writes and reads results files. A run's file is written atomically (temporary file, fsync,
/// rename, fsync of the directory), so a reader never sees half a file; while the run goes, each
/// finished case is appended to a journal next to it (`NAME.journal.jsonl`, fsync'ed per case),
/// so that even a run killed outright keeps every finished case. The journal is removed once the
/// results file is in place.
public final class ResultsStore: @unchecked Sendable {
    /// The results file this run will write.
    public let path: String
    /// The journal of finished cases.
    public let journalPath: String
    private var journal: FileDescriptor?
    /// Named by the user (`--output`): never written over, even by a file made during the run.
    private var named = false

    /// Prepares `directory/<UTC>-<host>.json` and opens its journal with the run's header line.
    /// - Throws: `.ioFailure` when the directory cannot be created or written.
    public init(directory: String, startedAt: Date, host: String, header: RunResult) throws {
        let name = Self.fileName(startedAt: startedAt, host: host)
        try Self.makeDirectory(directory)
        // Two runs in one second on one host get `NAME.json` and `NAME-2.json`: the journal,
        // created exclusively, reserves a name, and a finished run's file is never overwritten.
        var attempt = 1
        while true {
            let base = directory + "/" + name + (attempt == 1 ? "" : "-\(attempt)")
            let candidate = base + ".json"
            let candidateJournal = base + ".journal.jsonl"
            if !FileManager.default.fileExists(atPath: candidate) {
                do {
                    journal = try FileDescriptor.open(
                        FilePath(candidateJournal), .writeOnly,
                        options: [.create, .exclusiveCreate, .noFollow, .append, .closeOnExec],
                        permissions: [.ownerReadWrite, .groupRead, .otherRead])
                    path = candidate
                    journalPath = candidateJournal
                    break
                } catch Errno.fileExists {
                    // Another run holds this name; try the next.
                } catch let e as Errno {
                    throw PodBenchError(
                        .ioFailure, "cannot create \(candidateJournal): \(e); check that \(directory) is writable",
                        cause: .init(call: "open", errno: e))
                }
            }
            attempt += 1
            guard attempt < 1000 else {
                throw PodBenchError(.ioFailure, "cannot find a free results file name for \(name) in \(directory)")
            }
        }
        try appendLine(Self.encoder(pretty: false).encode(header))
    }

    /// Prepares the results file `path` (`--output`), which must not exist, and opens its journal
    /// `path.journal.jsonl` with the run's header line; the folder is made if missing.
    /// - Throws: `.invalidConfiguration` when `path` or its journal exists, `.ioFailure` when the
    ///   folder cannot be made or written.
    public init(path: String, header: RunResult) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try Self.makeDirectory(directory.isEmpty ? "." : directory)
        guard !FileManager.default.fileExists(atPath: path) else {
            throw PodBenchError(
                .invalidConfiguration,
                "\(path) exists; podbench never overwrites a results file: give a new name or remove it first")
        }
        self.path = path
        journalPath = path + ".journal.jsonl"
        named = true
        do {
            journal = try FileDescriptor.open(
                FilePath(journalPath), .writeOnly,
                options: [.create, .exclusiveCreate, .noFollow, .append, .closeOnExec],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch Errno.fileExists {
            throw PodBenchError(
                .invalidConfiguration,
                "\(journalPath) exists: another run is writing \(path), or one was killed (its finished cases are in that journal); give a new name"
            )
        } catch let e as Errno {
            throw PodBenchError(
                .ioFailure, "cannot create \(journalPath): \(e); check that \(directory) is writable",
                cause: .init(call: "open", errno: e))
        }
        try appendLine(Self.encoder(pretty: false).encode(header))
    }

    deinit { try? journal?.close() }

    /// `20261122T003000Z-node1`: sorts by time, names the host.
    public static func fileName(startedAt: Date, host: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let safeHost = String(host.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
        return formatter.string(from: startedAt) + "-" + (safeHost.isEmpty ? "host" : safeHost)
    }

    /// Appends a finished case to the journal and flushes it to disk.
    public func appendToJournal(_ result: CaseResult) throws {
        try appendLine(Self.encoder(pretty: false).encode(result))
    }

    private func appendLine(_ data: Data) throws {
        guard let journal else { return }
        var line = data
        line.append(0x0A)
        // Where this line starts: a write that fails part-way (a full disk) is cut back to here,
        // so the journal only ever holds whole lines.
        let start = lseek(journal.rawValue, 0, SEEK_END)
        do {
            try line.withUnsafeBytes { _ = try journal.writeAll($0) }
            try journal.synchronize()
        } catch let e as Errno {
            if start >= 0 { _ = ftruncate(journal.rawValue, start) }
            throw PodBenchError(
                .ioFailure,
                "cannot append to \(journalPath): \(e)\(e == .noSpace ? " (the disk is full; free space and run again)" : "")",
                cause: .init(call: "write", errno: e))
        }
    }

    /// Writes the run's results file atomically and removes the journal.
    public func finish(_ run: RunResult) throws {
        try Self.writeAtomically(Self.encoder(pretty: true).encode(run), to: path, replace: !named)
        try? journal?.close()
        journal = nil
        _ = unlink(journalPath)
    }

    /// Writes `data` to `path` so that `path` holds either its old content or all of `data`.
    /// With `replace: false` the file is linked into place, which fails when `path` exists, so of
    /// two writers of one name exactly one succeeds; the other gets `.invalidConfiguration`.
    public static func writeAtomically(_ data: Data, to path: String, replace: Bool = true) throws {
        let directory = (path as NSString).deletingLastPathComponent
        // A name nobody can guess, created exclusively and never through a symlink: a results
        // folder may be shared, and a planted link must not make this write land elsewhere.
        var temporary = ""
        do {
            var made: FileDescriptor?
            for _ in 0..<16 where made == nil {
                temporary = path + ".tmp-" + String(UInt64.random(in: 0..<UInt64.max), radix: 36)
                do {
                    made = try FileDescriptor.open(
                        FilePath(temporary), .writeOnly, options: [.create, .exclusiveCreate, .noFollow, .closeOnExec],
                        permissions: [.ownerReadWrite, .groupRead, .otherRead])
                } catch Errno.fileExists {
                    continue
                }
            }
            guard let fd = made else { throw Errno.fileExists }
            do {
                try data.withUnsafeBytes { _ = try fd.writeAll($0) }
                try fd.synchronize()
                try fd.close()
            } catch {
                try? fd.close()
                throw error
            }
            if replace {
                guard rename(temporary, path) == 0 else { throw Errno(rawValue: errno) }
            } else {
                let linked = link(temporary, path)
                let linkError = errno
                _ = unlink(temporary)
                if linked != 0 && linkError == EEXIST {
                    throw PodBenchError(.invalidConfiguration, "\(path) exists")
                }
                if linked != 0 && [EPERM, EOPNOTSUPP, EXDEV, EMLINK].contains(linkError) {
                    // A file system without hard links: created exclusively and written in place
                    // (still one winner; a reader may see it part-written for a moment).
                    let fd: FileDescriptor
                    do {
                        fd = try FileDescriptor.open(
                            FilePath(path), .writeOnly, options: [.create, .exclusiveCreate, .noFollow, .closeOnExec],
                            permissions: [.ownerReadWrite, .groupRead, .otherRead])
                    } catch Errno.fileExists {
                        throw PodBenchError(.invalidConfiguration, "\(path) exists")
                    }
                    defer { try? fd.close() }
                    try data.withUnsafeBytes { _ = try fd.writeAll($0) }
                    try fd.synchronize()
                } else if linked != 0 {
                    throw Errno(rawValue: linkError)
                }
            }
            if let dir = try? FileDescriptor.open(FilePath(directory.isEmpty ? "." : directory), .readOnly) {
                try? dir.synchronize()
                try? dir.close()
            }
        } catch let e as Errno {
            _ = unlink(temporary)
            let advice =
                e == .noSpace ? "the disk is full; free space and run again" : "check that the directory is writable"
            throw PodBenchError(
                .ioFailure, "cannot write \(path): \(e); \(advice)", cause: .init(call: "write", errno: e))
        }
    }

    /// The journal's name ends so: `NAME.journal.jsonl`.
    public static let journalSuffix = ".journal.jsonl"

    /// Reads a results file, or the journal a run left when it was killed (`NAME.journal.jsonl`:
    /// the run's header, then one finished case per line), which reads as an incomplete run.
    /// - Throws: `.incompatibleResults` saying what is wrong and where.
    public static func load(_ path: String) throws -> RunResult {
        if path.hasSuffix(journalSuffix) { return try loadJournal(path) }
        // An empty file is answered before reading it (Foundation's read of an empty file also
        // leaks its buffer, which the address sanitizer reports).
        var st = stat()
        if stat(path, &st) == 0, st.st_size == 0, (st.st_mode & S_IFMT) == S_IFREG {
            throw PodBenchError(.incompatibleResults, "\(path) is empty")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PodBenchError(.incompatibleResults, "cannot read \(path): \(error.localizedDescription)")
        }
        return try decode(data, source: path)
    }

    /// Reads results files (as `load`) on every core: a fleet's 1,000 files are decoded and checked
    /// in parallel. The runs come back in the order of `paths`; when files fail, the error of the
    /// first of them in that order is thrown, the same whatever the timing.
    public static func loadAll(_ paths: [String]) throws -> [RunResult] {
        guard paths.count > 1 else { return try paths.map(load) }
        let slots = UnsafeMutableBufferPointer<Result<RunResult, any Error>?>.allocate(capacity: paths.count)
        _ = slots.initialize(from: repeatElement(nil, count: paths.count))
        defer {
            _ = slots.deinitialize()
            slots.deallocate()
        }
        // Each iteration writes its own slot only, and all are done when concurrentPerform returns.
        nonisolated(unsafe) let shared = slots
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            shared[i] = Result { try load(paths[i]) }
        }
        return try slots.map { try $0!.get() }
    }

    /// Reads a journal as an incomplete run. A last line without its newline is a write that did
    /// not finish (the run was killed, or the disk filled, mid-line): it is skipped, and the run's
    /// `incompleteReason` says so. Any other line that does not decode is an error naming it.
    public static func loadJournal(_ path: String) throws -> RunResult {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PodBenchError(.incompatibleResults, "cannot read \(path): \(error.localizedDescription)")
        }
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Data($0) }
        var cut = false
        if let last = lines.last {
            if last.isEmpty { lines.removeLast() } else { cut = true }
        }
        if cut { lines.removeLast() }
        guard let header = lines.first else {
            throw PodBenchError(
                .incompatibleResults, "\(path) holds no whole line: the run was killed before its first case")
        }
        var run = try decode(header, source: "\(path) line 1")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        for (index, line) in lines.enumerated().dropFirst() {
            do {
                run.cases.append(try decoder.decode(CaseResult.self, from: line))
            } catch {
                throw Self.refusal(error, source: "\(path) line \(index + 1)", what: "a finished case")
            }
            try refuseDuplicateKeys(line, source: "\(path) line \(index + 1)")
        }
        run.complete = false
        run.incompleteReason =
            "read from the journal of a run that did not finish (\(run.cases.count) finished cases)"
            + (cut ? "; its last line was cut short and is skipped" : "")
        try run.validate(source: path)
        return run
    }

    /// Decodes a results document.
    public static func decode(_ data: Data, source: String) throws -> RunResult {
        guard !data.isEmpty else { throw PodBenchError(.incompatibleResults, "\(source) is empty") }
        // UTF-8 only: Foundation also decodes UTF-16 and UTF-32, which the duplicate-key scan
        // (and jq) would read differently. Text in those has NUL bytes; UTF-8 JSON never does.
        // memchr over the bytes: Data's own `contains` walks its iterator byte by byte.
        let holdsNUL = data.withUnsafeBytes { raw in
            raw.baseAddress.map { memchr($0, 0, raw.count) != nil } ?? false
        }
        guard !holdsNUL else {
            throw PodBenchError(
                .incompatibleResults, "\(source) is not UTF-8 JSON (it holds NUL bytes: UTF-16 or UTF-32, or binary)")
        }
        // Another schema is named as such, whether the document decodes or not: the probe reads
        // the whole text again, so only when there is something to explain.
        func otherSchema() -> PodBenchError? {
            struct VersionProbe: Decodable { var schemaVersion: Int }
            guard let probe = try? JSONDecoder().decode(VersionProbe.self, from: data),
                probe.schemaVersion != PodBenchVersion.resultsSchema
            else { return nil }
            return PodBenchError(
                .incompatibleResults,
                "\(source) has results schema \(probe.schemaVersion); this podbench reads \(PodBenchVersion.resultsSchema): use a matching podbench"
            )
        }
        let run: RunResult
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            run = try decoder.decode(RunResult.self, from: data)
        } catch {
            throw otherSchema() ?? Self.refusal(error, source: source, what: "a podbench results file")
        }
        if run.schemaVersion != PodBenchVersion.resultsSchema, let error = otherSchema() { throw error }
        try refuseDuplicateKeys(data, source: source)
        try run.validate(source: source)
        return run
    }

    /// What a decoding error says about `source`, which should have been `what`: where and why,
    /// never Foundation's dump of the error.
    static func refusal(_ error: any Error, source: String, what: String) -> PodBenchError {
        let message: String
        switch error {
        case DecodingError.dataCorrupted(let context):
            // At the top level the JSON itself is broken; deeper, a value podbench does not write.
            message =
                context.codingPath.isEmpty
                ? "\(source) is not valid JSON: \(context.debugDescription)"
                : "\(source): at \(path(context)): \(context.debugDescription)"
        case DecodingError.keyNotFound(let key, let context):
            message = "\(source) is not \(what): '\(key.stringValue)' missing at \(path(context))"
        case DecodingError.typeMismatch(_, let context):
            message = "\(source) is not \(what): wrong type at \(path(context))"
        case DecodingError.valueNotFound(_, let context):
            message = "\(source) is not \(what): null at \(path(context))"
        default:
            message = "\(source) cannot be read: \(error)"
        }
        return PodBenchError(.incompatibleResults, message)
    }

    /// Refuses a document that names a key twice in one object (see `DuplicateKeys`).
    static func refuseDuplicateKeys(_ data: Data, source: String) throws {
        if let key = DuplicateKeys.first(in: data) {
            throw PodBenchError(
                .incompatibleResults,
                "\(source) names the key \(key) twice: readers disagree about which one counts (podbench would read the first, jq the last), so the file is refused; write it again"
            )
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
        return p.isEmpty ? "the top level" : p
    }

    public static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    static func makeDirectory(_ directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PodBenchError(
                .ioFailure,
                "cannot create the results directory \(directory): \(error.localizedDescription); pass a writable --results-dir"
            )
        }
    }
}
