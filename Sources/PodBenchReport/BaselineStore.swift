import Foundation
import PodBenchCore
import PodBenchResults

/// Named baselines under `results/baselines/`: `NAME/run-01.json`, `run-02.json`, … (one results
/// file per run, each readable on its own), or, as saved before baselines held several runs,
/// `NAME.json` (one run). Committed and reviewed like code.
public struct BaselineStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// Checks a baseline name: letters, digits, `.`, `_`, `-`.
    public static func validate(name: String) throws {
        let allowed = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
        guard !name.isEmpty, allowed, !name.hasPrefix("."), !name.hasSuffix(".json") else {
            throw PodBenchError(
                .invalidConfiguration,
                "'\(name)' is not a baseline name: use letters, digits, '.', '_' and '-' (not ending in .json)")
        }
    }

    /// A one-run baseline saved before baselines held several runs.
    public func path(of name: String) -> String { directory + "/" + name + ".json" }

    /// The folder of a baseline of runs.
    public func folder(of name: String) -> String { directory + "/" + name }

    /// The results files of a baseline, in order; empty when there is no such baseline.
    /// Symbolic links are not followed: a link planted in a shared checkout (a baseline folder
    /// or run that points elsewhere) is not a baseline.
    public func files(of name: String) -> [String] {
        let folder = folder(of: name)
        if SystemFiles.isSymbolicLink(folder) { return [] }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) {
            return entries.compactMap { entry -> (Int, String)? in
                guard let index = Self.runIndex(entry), !SystemFiles.isSymbolicLink(folder + "/" + entry) else {
                    return nil
                }
                return (index, folder + "/" + entry)
            }.sorted { $0.0 < $1.0 }.map(\.1)
        }
        let single = path(of: name)
        return FileManager.default.fileExists(atPath: single) && !SystemFiles.isSymbolicLink(single) ? [single] : []
    }

    /// NN of a `run-NN.json` name; nil for any other name.
    static func runIndex(_ entry: String) -> Int? {
        guard entry.hasPrefix("run-"), entry.hasSuffix(".json") else { return nil }
        let digits = entry.dropFirst(4).dropLast(5)
        guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return nil
        }
        return Int(digits)
    }

    /// The names of the stored baselines, sorted.
    public func names() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var names = Set<String>()
        for entry in entries where !entry.hasPrefix(".") {
            if entry.hasSuffix(".json") {
                names.insert(String(entry.dropLast(5)))
            } else if (try? Self.validate(name: entry)) != nil, !files(of: entry).isEmpty {
                names.insert(entry)
            }
        }
        return names.sorted()
    }

    /// Reads a run to be kept: once, checked, and returned as the very bytes checked (a file
    /// swapped after the check is never stored); a journal is stored as the results file it
    /// reads as.
    static func read(_ path: String) throws -> (data: Data, identity: String) {
        let run: RunResult
        let data: Data
        if path.hasSuffix(ResultsStore.journalSuffix) {
            run = try ResultsStore.load(path)
            data = try ResultsStore.encoder(pretty: true).encode(run)
        } else {
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw PodBenchError(.incompatibleResults, "cannot read \(path): \(error.localizedDescription)")
            }
            run = try ResultsStore.decode(data, source: path)
        }
        guard !run.cases.isEmpty else {
            throw PodBenchError(.incompatibleResults, "\(path) has no cases: a baseline needs measured cases")
        }
        return (data, identity(run))
    }

    /// What tells two runs apart: when and where each started. A run kept twice would add a degree
    /// of freedom and no spread, and make the runs' interval falsely narrow.
    static func identity(_ run: RunResult) -> String { "\(run.startedAt) on \(run.environment.client.hostname)" }

    /// Refuses a run given twice, or one the baseline holds already.
    static func refuseDuplicates(_ identities: [String], besides held: [String], name: String) throws {
        var seen = Set(held)
        for identity in identities where !seen.insert(identity).inserted {
            throw PodBenchError(
                .invalidConfiguration,
                "the run started \(identity) is given twice or is in baseline \(name) already: a baseline's runs must be separate runs (the same run twice would make its spread look smaller than it is)"
            )
        }
    }

    static func runName(_ index: Int) -> String { "run-" + (index < 10 ? "0" : "") + "\(index).json" }

    func createStore() throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PodBenchError(.ioFailure, "cannot create \(directory): \(error.localizedDescription)")
        }
    }

    func exists(_ name: String) -> PodBenchError {
        PodBenchError(
            .invalidConfiguration,
            "a baseline named \(name) exists (\(directory)/\(name)): pass --force to replace it, or podbench baseline add \(name) RUN to add runs"
        )
    }

    /// Keeps `runs` (results files) as the baseline `name`: a folder built aside and renamed into
    /// place in one step, so of two saves of one name at once one wins and the other is told.
    /// - Returns: the baseline's folder.
    @discardableResult
    public func save(name: String, runs paths: [String], overwrite: Bool) throws -> String {
        try Self.validate(name: name)
        guard !paths.isEmpty else {
            throw PodBenchError(.invalidConfiguration, "name at least one results file to keep")
        }
        let read = try paths.map(Self.read)
        try Self.refuseDuplicates(read.map(\.identity), besides: [], name: name)
        if SystemFiles.isSymbolicLink(folder(of: name)) || SystemFiles.isSymbolicLink(path(of: name)) {
            throw PodBenchError(
                .invalidConfiguration, "\(folder(of: name)) is a symbolic link: a baseline is a folder of its own")
        }
        if !overwrite && !files(of: name).isEmpty { throw exists(name) }
        let target = try install(name: name, read.map(\.data), overwrite: overwrite)
        // A one-run baseline saved by an earlier version is replaced too.
        if overwrite { try? FileManager.default.removeItem(atPath: path(of: name)) }
        return target
    }

    /// Builds the folder of `name` aside and renames it into place (replacing the old one when
    /// `overwrite`); fails with `exists` when the folder is there.
    func install(name: String, _ contents: [Data], overwrite: Bool) throws -> String {
        try createStore()
        let aside = directory + "/.\(name).saving-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: aside) }
        do {
            try FileManager.default.createDirectory(atPath: aside, withIntermediateDirectories: false)
            for (index, data) in contents.enumerated() {
                try ResultsStore.writeAtomically(data, to: aside + "/" + Self.runName(index + 1), replace: false)
            }
        } catch let error as PodBenchError {
            throw error
        } catch {
            throw PodBenchError(.ioFailure, "cannot write into \(directory): \(error.localizedDescription)")
        }
        let target = folder(of: name)
        var replaced: String?
        if overwrite && FileManager.default.fileExists(atPath: target) {
            // One step: the new folder and the old swap names, so the baseline never goes missing
            // and a save racing this one cannot slip in; the old runs leave with `aside`.
            let swapped = SystemFiles.exchange(aside, target)
            if swapped == 0 { return target }
            guard swapped == EINVAL || swapped == ENOSYS else {
                throw PodBenchError(.ioFailure, "cannot replace \(target): \(String(cString: strerror(swapped)))")
            }
            // A filesystem without the exchange: the old folder moves aside first.
            let old = directory + "/.\(name).replaced-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            guard rename(target, old) == 0 else {
                throw PodBenchError(.ioFailure, "cannot replace \(target): \(String(cString: strerror(errno)))")
            }
            replaced = old
        }
        // rename(2) of a folder onto a folder that holds files fails: the lost race is told.
        guard rename(aside, target) == 0 else {
            let error = errno
            if let replaced, rename(replaced, target) != 0 {
                throw PodBenchError(
                    .ioFailure,
                    "cannot replace \(target) (\(String(cString: strerror(error)))), nor put the old baseline back: its runs are in \(replaced)"
                )
            }
            if error == EEXIST || error == ENOTEMPTY { throw exists(name) }
            throw PodBenchError(.ioFailure, "cannot create \(target): \(String(cString: strerror(error)))")
        }
        if let replaced { try? FileManager.default.removeItem(atPath: replaced) }
        return target
    }

    /// Adds `runs` to the baseline `name`, each under the next free `run-NN.json` (taken with an
    /// exclusive link, so two adds at once both land). A one-run `NAME.json` becomes a folder.
    /// - Returns: the paths written.
    @discardableResult
    public func add(name: String, runs paths: [String]) throws -> [String] {
        try Self.validate(name: name)
        guard !paths.isEmpty else {
            throw PodBenchError(.invalidConfiguration, "name at least one results file to add")
        }
        let read = try paths.map(Self.read)
        let target = folder(of: name)
        if SystemFiles.isSymbolicLink(target) {
            throw PodBenchError(
                .invalidConfiguration, "\(target) is a symbolic link: a baseline is a folder of its own")
        }
        if !FileManager.default.fileExists(atPath: target) {
            guard FileManager.default.fileExists(atPath: path(of: name)), !SystemFiles.isSymbolicLink(path(of: name))
            else {
                throw PodBenchError(
                    .incompatibleResults,
                    "no baseline named \(name) in \(directory): podbench baseline save \(name) RUN... first")
            }
            // The old single file becomes run 1 of a folder, then goes. Another add may convert it
            // at the same moment: whichever finds the folder made carries on with it.
            do {
                _ = try install(name: name, [try Self.read(path(of: name)).data], overwrite: false)
            } catch let error as PodBenchError where FileManager.default.fileExists(atPath: target) {
                _ = error
            }
            try? FileManager.default.removeItem(atPath: path(of: name))
        }
        let held = try files(of: name).map { Self.identity(try ResultsStore.load($0)) }
        try Self.refuseDuplicates(read.map(\.identity), besides: held, name: name)
        let contents = read.map(\.data)
        var written: [String] = []
        var index = 1
        for data in contents {
            while true {
                let file = target + "/" + Self.runName(index)
                index += 1
                do {
                    try ResultsStore.writeAtomically(data, to: file, replace: false)
                    written.append(file)
                    break
                } catch let error as PodBenchError where error.code == .invalidConfiguration {
                    // Taken (by an earlier run, or by another add at this moment): the next one.
                    _ = error
                    if index > 10_000 { throw error }
                }
            }
        }
        return written
    }

    /// Loads `reference`: a results file's path, or the name of a stored baseline (all its runs).
    /// - Throws: `.incompatibleResults` naming the file and the problem, or listing the baselines.
    public func load(_ reference: String) throws -> (name: String, runs: [RunResult]) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: reference, isDirectory: &isFolder), !isFolder.boolValue {
            return (reference, [try ResultsStore.load(reference)])
        }
        if (try? Self.validate(name: reference)) != nil {
            let files = files(of: reference)
            if !files.isEmpty { return (reference, try files.map { try ResultsStore.load($0) }) }
        }
        let known = names()
        throw PodBenchError(
            .incompatibleResults,
            "'\(reference)' is neither a results file nor a baseline in \(directory)"
                + (known.isEmpty
                    ? " (there are none yet: podbench baseline save NAME RUN...)"
                    : " (baselines: \(known.joined(separator: ", ")))"))
    }
}
