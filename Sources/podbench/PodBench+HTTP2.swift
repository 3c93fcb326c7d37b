import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchHarness
import PodBenchResults

extension PodBench {
    /// `podbench http2-load`: podbench's HTTP/2 client against any h2c server, as `h2load -c1 -m N`.
    struct HTTP2LoadCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "http2-load",
            abstract:
                "GET (or POST) one path over one HTTP/2 connection with N streams outstanding (h2load -c1 -t1 -m N).",
            discussion: """
                HTTP/2 over cleartext with prior knowledge (h2c: nginx's `listen PORT http2;`, h2load's default for \
                http:// URIs). One connection; --streams requests outstanding, a new one sent as each ends; each \
                round trip from its HEADERS' send to its last byte. Every response must be :status 200 with the \
                first response's body (by checksum; content-length, when sent, must match it). A GOAWAY without error \
                (nginx's keepalive_requests) ends the connection after its last stream and a new one is opened \
                (counted). Prints requests/s, latency percentiles and this side's CPU per request; --json for a \
                script. docs/http.md compares it with h2load.
                """)

        @OptionGroup var load: HTTPLoadOptions

        @Option(help: "Requests outstanding at once on the connection (h2load's -m).")
        var streams = 1

        @Option(
            help:
                "Open loop: send this many requests a second, each timed from its scheduled send, waiting for a free stream on the clock (as wrk2); default: closed loop."
        )
        var rate: Double?

        @Option(
            name: .customLong("request-body"),
            help:
                "POST a body of this size with each request (podbench's pattern; `http-serve --protocol h2c` checks and echoes it at --path /podbench/echo); default: GET."
        )
        var requestBody: String?

        func plan() throws -> HTTP2Load.Plan {
            let options = try load.parsed(largestBody: 256 << 20)
            do {
                let bodyLength = try requestBody.map { try ByteSize.parse($0, maximum: 256 << 20) } ?? 0
                return try HTTP2Load.Plan(
                    target: options.target, path: load.path, authority: load.host, streams: streams,
                    durationNanoseconds: options.durationNanoseconds, warmupNanoseconds: options.warmupNanoseconds,
                    expectedBodyLength: options.expectedBodyLength, maximumBodyLength: options.maximumBodyLength,
                    timeoutNanoseconds: options.timeoutNanoseconds, requestsPerSecond: rate,
                    requestBodyLength: bodyLength)
            } catch let error as PodBenchError {
                throw ValidationError(error.message)
            }
        }

        func validate() throws { _ = try plan() }

        func run() async throws {
            let plan = try plan()
            if let cpu = load.cpu { _ = try CPUPinning.pinCurrentThread(to: cpu) }
            let result = try HTTP2Load.run(plan)
            let summary = LatencySummary(result.latency)
            let cpuPerRequest =
                result.requests == 0
                ? 0 : Double(result.cpu.userNanoseconds + result.cpu.systemNanoseconds) / Double(result.requests)
            if load.json {
                let report = HTTP2LoadReport(
                    target: plan.target.description, path: plan.session.path, streams: result.streams,
                    seconds: Double(result.elapsedNanoseconds) / 1e9, requests: result.requests,
                    requestsPerSecond: result.requestsPerSecond, latency: summary, bodyLength: result.bodyLength,
                    headBlockLength: result.headBlockLength, reconnects: result.reconnects,
                    unprocessed: result.unprocessed, cpuNanosecondsPerRequest: cpuPerRequest,
                    rate: plan.requestsPerSecond, missed: plan.requestsPerSecond == nil ? nil : result.missed)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            func µs(_ ns: UInt64) -> String { String(format: "%.1f µs", Double(ns) / 1000) }
            let cpu = result.cpu
            let per = { (ns: UInt64) in result.requests == 0 ? 0 : Double(ns) / Double(result.requests) / 1000 }
            print(
                TextEscaping.terminal(
                    "\(plan.session.requestBodyLength > 0 ? "POST (\(plan.session.requestBodyLength)-byte request bodies)" : "GET") \(plan.session.path) from \(plan.target) over HTTP/2, one connection, \(result.streams) streams, \(plan.requestsPerSecond.map { "open loop at \(String(format: "%.0f", $0))/s" } ?? "closed loop"), \(load.duration) after \(load.warmup) of warm-up"
                ))
            print(
                "  requests   \(result.requests) (\(String(format: "%.1f", result.requestsPerSecond))/s), \(result.bodyLength)-byte bodies, header blocks of \(result.headBlockLength) bytes, \(result.reconnects) reconnects"
            )
            print(
                "  latency    p50 \(µs(summary.p50))  p90 \(µs(summary.p90))  p99 \(µs(summary.p99))  p99.9 \(µs(summary.p999))  max \(µs(summary.max))"
            )
            if let asked = plan.requestsPerSecond, result.requestsPerSecond < 0.95 * asked || result.missed > 0 {
                print(
                    "  behind     \(String(format: "%.0f", result.requestsPerSecond))/s answered of the \(String(format: "%.0f", asked))/s asked: requests waited for a stream (their latency counts the wait), \(result.missed) due in the phase were never sent (their latency is not seen)"
                )
            }
            print(
                "  CPU        \(String(format: "%.2f", cpuPerRequest / 1000)) µs a request (user \(String(format: "%.2f", per(cpu.userNanoseconds))), system \(String(format: "%.2f", per(cpu.systemNanoseconds))))"
            )
        }
    }

    /// What `http2-load --json` prints.
    struct HTTP2LoadReport: Codable {
        var target: String
        var path: String
        var streams: Int
        var seconds: Double
        var requests: UInt64
        var requestsPerSecond: Double
        /// Nanoseconds.
        var latency: LatencySummary
        var bodyLength: Int
        var headBlockLength: Int
        var reconnects: UInt64
        var unprocessed: UInt64
        var cpuNanosecondsPerRequest: Double
        /// The open loop's rate asked for (absent: closed loop).
        var rate: Double?
        /// Open loop: requests due within the phase and never sent (no stream free before its end).
        var missed: UInt64?
    }
}
