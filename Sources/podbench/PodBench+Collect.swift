import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchResults

extension PodBench {
    /// `podbench collect`: results files back out of saved pod logs.
    struct Collect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take the results files out of saved pod logs (`kubectl logs POD -c client > FILE`).",
            discussion: """
                The client of deploy/kubernetes' manifests prints its results file between marker lines \
                (--print-results). This reads any number of saved logs (or - for standard input), checks each \
                document as `compare` and `report` would, and writes one results file per run into --results-dir, \
                named by its start time and node. A log with no results, or with a document cut short, is named \
                with what to do; the others are still written. Exit codes: 0 all written, 2 a log had a problem.
                """)

        @Argument(help: "Saved logs of client containers; - for standard input.")
        var logs: [String] = []

        @Option(help: "Directory to write the results files into (made if missing).")
        var resultsDir = "results/nodes"

        func validate() throws {
            guard !logs.isEmpty else {
                throw ValidationError(
                    "give at least one saved log, e.g. kubectl logs POD -c client > pod.log; podbench collect pod.log")
            }
        }

        func run() async throws {
            do {
                try FileManager.default.createDirectory(atPath: resultsDir, withIntermediateDirectories: true)
            } catch {
                throw PodBenchError(.ioFailure, "cannot create \(resultsDir): \(error.localizedDescription)")
            }
            var problems = 0
            for log in logs {
                let data: Data?
                if log == "-" {
                    data = FileHandle.standardInput.readDataToEndOfFile()
                } else {
                    data = FileManager.default.contents(atPath: log)
                }
                guard let data else {
                    Self.say("podbench collect: cannot read \(log)")
                    problems += 1
                    continue
                }
                let source = log == "-" ? "standard input" : log
                do {
                    let found = try ResultsMarker.extract(from: String(decoding: data, as: UTF8.self), source: source)
                    if found.isEmpty {
                        Self.say(
                            "podbench collect: \(source) holds no podbench results: save the client container's log "
                                + "(kubectl logs POD -c client) of a run with --print-results, after it finished")
                        problems += 1
                    }
                    for document in found {
                        let path = try Self.write(document, into: resultsDir)
                        let e = document.run.environment
                        Self.say(
                            "podbench collect: \(path): node \(e.client.nodeName ?? e.client.hostname), \(document.run.cases.count) cases, \(e.topology)\(document.run.complete ? "" : ", incomplete")"
                        )
                    }
                } catch let error as PodBenchError {
                    Self.say("podbench collect: \(error.message)")
                    problems += 1
                }
            }
            if problems > 0 { throw ExitCode(2) }
        }

        static func say(_ line: String) {
            FileHandle.standardError.write(Data((TextEscaping.terminal(line) + "\n").utf8))
        }

        /// Writes `document` under its own name; an equal file already there is kept, a different
        /// one is not overwritten (the new one gets a suffix).
        static func write(_ document: ResultsMarker.Found, into directory: String) throws -> String {
            let base = (document.name as NSString).deletingPathExtension
            let safe = String(base.map { $0.isLetter || $0.isNumber || "-._".contains($0) ? $0 : "_" })
            var path = "\(directory)/\(safe).json"
            var suffix = 2
            while let existing = FileManager.default.contents(atPath: path) {
                if existing == document.data { return path }
                path = "\(directory)/\(safe)-\(suffix).json"
                suffix += 1
            }
            try ResultsStore.writeAtomically(document.data, to: path)
            return path
        }
    }
}
