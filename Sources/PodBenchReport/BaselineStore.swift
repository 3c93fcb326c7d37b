import Foundation
import PodBenchCore
import PodBenchResults

/// Named baselines: results files kept (and committed) under `results/baselines/NAME.json`.
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

    public func path(of name: String) -> String { directory + "/" + name + ".json" }

    /// The names of the stored baselines, sorted.
    public func names() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// Copies a run into the store as `name`, after checking that it reads as a results file.
    public func save(name: String, run path: String, overwrite: Bool) throws -> String {
        try Self.validate(name: name)
        // Read once and keep exactly what was checked (a file swapped after the check is never
        // stored); a journal is stored as the results file it reads as.
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
        let target = self.path(of: name)
        if FileManager.default.fileExists(atPath: target) && !overwrite {
            throw PodBenchError(
                .invalidConfiguration, "a baseline named \(name) exists (\(target)): pass --force to replace it")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PodBenchError(.ioFailure, "cannot create \(directory): \(error.localizedDescription)")
        }
        // Linked into place unless replacing: of two saves of one name at once, one wins and
        // the other is told, rather than both succeeding with one of them lost.
        do {
            try ResultsStore.writeAtomically(data, to: target, replace: overwrite)
        } catch let error as PodBenchError where error.code == .invalidConfiguration {
            throw PodBenchError(
                .invalidConfiguration, "a baseline named \(name) exists (\(target)): pass --force to replace it")
        }
        return target
    }

    /// Loads `reference`: a results file's path, or the name of a stored baseline.
    /// - Throws: `.incompatibleResults` naming the file and the problem, or listing the baselines.
    public func load(_ reference: String) throws -> (name: String, run: RunResult) {
        if FileManager.default.fileExists(atPath: reference) {
            return (reference, try ResultsStore.load(reference))
        }
        if (try? Self.validate(name: reference)) != nil, FileManager.default.fileExists(atPath: path(of: reference)) {
            return (reference, try ResultsStore.load(path(of: reference)))
        }
        let known = names()
        throw PodBenchError(
            .incompatibleResults,
            "'\(reference)' is neither a results file nor a baseline in \(directory)"
                + (known.isEmpty
                    ? " (there are none yet: podbench baseline save NAME RUN)"
                    : " (baselines: \(known.joined(separator: ", ")))"))
    }
}
