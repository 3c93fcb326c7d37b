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
        guard !name.isEmpty, allowed, !name.hasPrefix(".") else {
            throw PodBenchError(
                .invalidConfiguration, "'\(name)' is not a baseline name: use letters, digits, '.', '_' and '-'")
        }
    }

    /// A one-run baseline saved before baselines held several runs.
    public func path(of name: String) -> String { directory + "/" + name + ".json" }

    /// The folder of a baseline of runs.
    public func folder(of name: String) -> String { directory + "/" + name }

    /// The results files of a baseline, in order; empty when there is no such baseline.
    public func files(of name: String) -> [String] {
        if let runs = try? FileManager.default.contentsOfDirectory(atPath: folder(of: name)) {
            return runs.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().map {
                folder(of: name) + "/" + $0
            }
        }
        return FileManager.default.fileExists(atPath: path(of: name)) ? [path(of: name)] : []
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
    static func read(_ path: String) throws -> Data {
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
        return data
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
        let contents = try paths.map(Self.read)
        if !overwrite && !files(of: name).isEmpty { throw exists(name) }
        let target = try install(name: name, contents, overwrite: overwrite)
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
            let old = directory + "/.\(name).replaced-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            guard rename(target, old) == 0 else {
                throw PodBenchError(.ioFailure, "cannot replace \(target): \(String(cString: strerror(errno)))")
            }
            replaced = old
        }
        // rename(2) of a folder onto a folder that holds files fails: the lost race is told.
        guard rename(aside, target) == 0 else {
            let error = errno
            if let replaced { _ = rename(replaced, target) }
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
        let contents = try paths.map(Self.read)
        let target = folder(of: name)
        if !FileManager.default.fileExists(atPath: target) {
            guard FileManager.default.fileExists(atPath: path(of: name)) else {
                throw PodBenchError(
                    .incompatibleResults,
                    "no baseline named \(name) in \(directory): podbench baseline save \(name) RUN... first")
            }
            // The old single file becomes run 1 of a folder, then goes.
            do {
                _ = try install(name: name, [try Self.read(path(of: name))], overwrite: false)
            } catch let error as PodBenchError where error.code == .invalidConfiguration {
                // Another add converted it first: carry on with its folder.
                _ = error
            }
            try? FileManager.default.removeItem(atPath: path(of: name))
        }
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
