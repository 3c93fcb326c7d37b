import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchLaunch
import PodBenchResults

extension PodBench {
    /// `podbench collect`: results files back out of saved pod logs.
    struct Collect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Take the results files out of pod logs: saved ones (`kubectl logs POD -c client > FILE`), or --kubectl.",
            discussion: """
                The client of deploy/kubernetes' manifests prints its results file between marker lines \
                (--print-results). This reads any number of saved logs (or - for standard input), or with --kubectl \
                the client container's log of every pod matching --selector (kubectl get pods, then kubectl logs), \
                checks each document as `compare` and `report` would, and writes one results file per run into \
                --results-dir, named by its start time and node. A log with no results, a document cut short, or a \
                pod still running is named with what to do; the others are still written. Exit codes: 0 all \
                written, 2 a log or pod had a problem (or kubectl failed).
                """)

        @Argument(help: "Saved logs of client containers; - for standard input.")
        var logs: [String] = []

        @Option(help: "Directory to write the results files into (made if missing).")
        var resultsDir = "results/nodes"

        @Flag(help: "Read the logs from the cluster with kubectl: every pod matching --selector in --namespace.")
        var kubectl = false

        @Option(name: [.customShort("n"), .long], help: "With --kubectl: the namespace (default: kubectl's current).")
        var namespace: String?

        @Option(name: [.customShort("l"), .long], help: "With --kubectl: the pods' label selector.")
        var selector = "app.kubernetes.io/name=podbench"

        @Option(help: "With --kubectl: the container whose log holds the results.")
        var container = "client"

        @Option(
            help: ArgumentHelp("With --kubectl: the kubectl to run (default: kubectl on PATH).", visibility: .hidden))
        var kubectlCommand: String?

        func validate() throws {
            if kubectl && !logs.isEmpty {
                throw ValidationError("give saved logs or --kubectl, not both")
            }
            guard kubectl || !logs.isEmpty else {
                throw ValidationError(
                    "give at least one saved log, e.g. kubectl logs POD -c client > pod.log; podbench collect pod.log (or podbench collect --kubectl -l SELECTOR)"
                )
            }
            if !kubectl && (namespace != nil || kubectlCommand != nil) {
                throw ValidationError("--namespace and --kubectl-command go with --kubectl")
            }
        }

        /// Pod logs read through kubectl: (source, log) per finished pod; a pod not finished, or a
        /// log kubectl cannot give, is said and counted in `problems`.
        func clusterLogs(problems: inout Int) async throws -> [(source: String, data: Data)] {
            guard let executable = kubectlCommand ?? Podman.which("kubectl") else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "kubectl is not on PATH: install it, or save the logs (kubectl logs POD -c \(container) > POD.log) and give them to podbench collect"
                )
            }
            let scope = namespace.map { ["-n", $0] } ?? []
            let listing = try await ChildProcess.runCapturing(
                executable: executable, arguments: ["get", "pods", "-l", selector] + scope + ["-o", "json"],
                environment: ProcessInfo.processInfo.environment)
            guard listing.status == 0 else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "kubectl get pods -l \(selector) failed (exit \(listing.status)): \(listing.standardError.suffix(400))"
                )
            }
            let pods = try Self.pods(fromListing: listing.standardOutput)
            if pods.isEmpty {
                throw PodBenchError(
                    .invalidConfiguration,
                    "no pod matches -l \(selector)\(namespace.map { " in namespace \($0)" } ?? ""): give the Job's label (kubectl get pods --show-labels) with -l, and its namespace with -n"
                )
            }
            var found: [(source: String, data: Data)] = []
            for listed in pods {
                let (pod, phase, reason) = (listed.name, listed.phase, listed.reason)
                let node = listed.node.isEmpty ? "" : " on node \(listed.node)"
                // A pod evicted, preempted or drained away fails, and the Job's podFailurePolicy
                // (Ignore on DisruptionTarget) gives its index a new pod: that one is the index's
                // run, and the old one is no problem of the fleet's. Of the same Job only: an
                // earlier Job's pods of the same index may still be there (ttlSecondsAfterFinished).
                if phase == "Failed", let index = listed.index, let job = listed.job,
                    let successor = pods.first(where: {
                        $0.name != pod && $0.job == job && $0.index == index && $0.phase != "Failed"
                    })
                {
                    Self.say(
                        "podbench collect: pod \(pod)\(node) (index \(index)) failed\(reason.isEmpty ? "" : " (\(reason))") and its index has a new pod, \(successor.name): skipped"
                    )
                    continue
                }
                guard phase == "Succeeded" || phase == "Failed" else {
                    Self.say(
                        "podbench collect: pod \(pod)\(node) is \(phase.isEmpty ? "in no phase" : phase), not finished: collect again once the Job has ended (kubectl get job JOB: COMPLETIONS, or the Failed condition)"
                    )
                    problems += 1
                    continue
                }
                let log = try await ChildProcess.runCapturing(
                    executable: executable, arguments: ["logs", pod, "-c", container] + scope,
                    environment: ProcessInfo.processInfo.environment)
                guard log.status == 0 else {
                    Self.say(
                        "podbench collect: kubectl logs \(pod) -c \(container) failed (exit \(log.status)): \(log.standardError.suffix(300))"
                    )
                    problems += 1
                    continue
                }
                found.append(("pod \(pod)\(node) (\(phase))", Data(log.standardOutput.utf8)))
            }
            return found
        }

        func run() async throws {
            do {
                try FileManager.default.createDirectory(atPath: resultsDir, withIntermediateDirectories: true)
            } catch {
                throw PodBenchError(.ioFailure, "cannot create \(resultsDir): \(error.localizedDescription)")
            }
            var problems = 0
            var sources: [(source: String, data: Data?)] = []
            if kubectl {
                sources = try await clusterLogs(problems: &problems).map { ($0.source, $0.data) }
            } else {
                for log in logs {
                    if log == "-" {
                        sources.append(("standard input", FileHandle.standardInput.readDataToEndOfFile()))
                    } else {
                        sources.append((log, FileManager.default.contents(atPath: log)))
                    }
                }
            }
            for (source, data) in sources {
                guard let data else {
                    Self.say("podbench collect: cannot read \(source)")
                    problems += 1
                    continue
                }
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

        /// A pod as `kubectl get pods -o json` lists it: what collect needs of it.
        struct ListedPod {
            var name: String
            var phase: String
            var node: String
            var reason: String
            /// The Job's completion index (digits only), and the Job's uid (its owner reference).
            var index: String?
            var job: String?
        }

        /// The pods of a `kubectl get pods -o json` listing. Its strings are anyone's who can
        /// label a pod: names that are no pod names (DNS-1123: they become `kubectl logs`
        /// arguments) are refused, other fields cut to 253 characters, an index that is not digits
        /// dropped.
        static func pods(fromListing text: String) throws -> [ListedPod] {
            guard let list = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                let items = list["items"] as? [[String: Any]]
            else {
                throw PodBenchError(
                    .invalidConfiguration, "kubectl get pods -o json printed no pod list: \(text.prefix(200))")
            }
            func cut(_ value: Any?) -> String { String(((value as? String) ?? "").prefix(253)) }
            return try items.map { item in
                let metadata = item["metadata"] as? [String: Any] ?? [:]
                let status = item["status"] as? [String: Any] ?? [:]
                let spec = item["spec"] as? [String: Any] ?? [:]
                let name = (metadata["name"] as? String) ?? ""
                let dns = name.utf8.allSatisfy {
                    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                        || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
                }
                guard !name.isEmpty, name.count <= 253, dns, name.first != "-" else {
                    throw PodBenchError(
                        .invalidConfiguration,
                        "kubectl listed a pod named \(String(name.prefix(80)).debugDescription), which is no pod name")
                }
                let annotations = metadata["annotations"] as? [String: Any] ?? [:]
                let index = cut(annotations["batch.kubernetes.io/job-completion-index"])
                let owner = (metadata["ownerReferences"] as? [[String: Any]])?.first { $0["kind"] as? String == "Job" }
                let job = cut(owner?["uid"])
                return ListedPod(
                    name: name, phase: cut(status["phase"]), node: cut(spec["nodeName"]), reason: cut(status["reason"]),
                    index: !index.isEmpty && index.allSatisfy(\.isASCII) && index.allSatisfy(\.isNumber) ? index : nil,
                    job: job.isEmpty ? nil : job)
            }
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
