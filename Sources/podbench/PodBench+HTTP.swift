import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchHarness
import PodBenchResults

extension PodBench {
    /// `podbench http-load`: podbench's HTTP/1.1 client against any server, as `wrk -t1 -c1`.
    struct HTTPLoad: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "http-load",
            abstract:
                "GET one path over one keep-alive HTTP/1.1 connection, as fast as answers come (wrk -t1 -c1) or at a rate (as wrk2 -t1 -c1 -R).",
            discussion: """
                The http1 workload's client against a server nobody here wrote: nginx serving a file, a sidecar, \
                `podbench http-serve`. One request outstanding; each round trip from just before its send to the \
                response's last byte. Every response must be 200 with a Content-Length and the first response's \
                body (by checksum): a fixed resource. A connection the server closes between requests is opened \
                again (counted). With --rate, the open loop: request k is due at k/rate and timed from then, as \
                wrk2 times it, so a slow answer counts in every request that waited behind it; it is written when \
                due and, with --pipeline 1 (the default), once the one before it is answered; --pipeline N writes \
                up to N before their answers (HTTP/1.1 pipelining). Requests due in the phase that could not be \
                queued before it ended are counted as missed; --timeout then bounds how long the server may \
                neither answer nor read while requests wait. \
                Prints requests/s, latency percentiles and this side's CPU per request; --json for a script. \
                docs/http.md compares it with wrk.
                """)

        @OptionGroup var load: HTTPLoadOptions

        @Option(
            help:
                "Open loop: this many requests a second, each timed from its scheduled time (as wrk2 -R); default: closed loop."
        )
        var rate: Double?

        @Option(
            help:
                "With --rate: the most requests written before their answers come, 1 to 1024 (1: one at a time, as wrk2 on one connection; more: HTTP/1.1 pipelining)."
        )
        var pipeline = 1

        func plan() throws -> HTTP1Load.Plan {
            let options = try load.parsed(largestBody: 1 << 30)
            guard rate != nil || pipeline == 1 else {
                throw ValidationError("--pipeline goes with --rate (the closed loop has one request outstanding)")
            }
            do {
                return try HTTP1Load.Plan(
                    target: options.target, path: load.path, host: load.host,
                    durationNanoseconds: options.durationNanoseconds, warmupNanoseconds: options.warmupNanoseconds,
                    expectedBodyLength: options.expectedBodyLength, maximumBodyLength: options.maximumBodyLength,
                    timeoutNanoseconds: options.timeoutNanoseconds, requestsPerSecond: rate, pipelineDepth: pipeline)
            } catch let error as PodBenchError {
                throw ValidationError(error.message)
            }
        }

        func validate() throws { _ = try plan() }

        func run() async throws {
            let plan = try plan()
            if let cpu = load.cpu { _ = try CPUPinning.pinCurrentThread(to: cpu) }
            let result = try HTTP1Load.run(plan)
            let open = plan.requestsPerSecond != nil
            let summary = LatencySummary(result.latency)
            if load.json {
                let report = HTTPLoadReport(
                    target: plan.target.description, path: plan.path, seconds: Double(result.elapsedNanoseconds) / 1e9,
                    requests: result.requests, requestsPerSecond: result.requestsPerSecond, latency: summary,
                    bodyLength: result.bodyLength, headLength: result.headLength, reconnects: result.reconnects,
                    cpuNanosecondsPerRequest: result.requests == 0
                        ? 0
                        : Double(result.cpu.userNanoseconds + result.cpu.systemNanoseconds) / Double(result.requests),
                    rate: plan.requestsPerSecond, missed: open ? result.missed : nil,
                    peakOutstanding: open ? result.peakOutstanding : nil, pipeline: open ? plan.pipelineDepth : nil)
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
                    "GET \(plan.path) from \(plan.target), one connection, \(plan.requestsPerSecond.map { "open loop at \(String(format: "%.0f", $0))/s, \(plan.pipelineDepth == 1 ? "one request at a time" : "pipelined up to \(plan.pipelineDepth)")" } ?? "closed loop"), \(load.duration) after \(load.warmup) of warm-up"
                ))
            print(
                "  requests   \(result.requests) (\(String(format: "%.1f", result.requestsPerSecond))/s), \(result.bodyLength)-byte bodies, heads of \(result.headLength) bytes, \(result.reconnects) reconnects"
            )
            print(
                "  latency    p50 \(µs(summary.p50))  p90 \(µs(summary.p90))  p99 \(µs(summary.p99))  p99.9 \(µs(summary.p999))  max \(µs(summary.max))"
            )
            if let asked = plan.requestsPerSecond {
                if plan.pipelineDepth > 1 {
                    print(
                        "  pipeline   \(result.peakOutstanding) requests outstanding at most (--pipeline \(plan.pipelineDepth))"
                    )
                }
                if result.missed > 0 {
                    print(
                        "  behind     \(String(format: "%.0f", result.requestsPerSecond))/s answered of the \(String(format: "%.0f", asked))/s asked: requests waited for the ones before them (their latency counts the wait), \(result.missed) due in the phase could not be queued before it ended, the pipeline full (their latency is not seen)"
                    )
                }
            }
            print(
                "  CPU        \(String(format: "%.2f", per(cpu.userNanoseconds + cpu.systemNanoseconds))) µs a request (user \(String(format: "%.2f", per(cpu.userNanoseconds))), system \(String(format: "%.2f", per(cpu.systemNanoseconds))))"
            )
        }
    }

    /// What `http-load --json` prints.
    struct HTTPLoadReport: Codable {
        var target: String
        var path: String
        var seconds: Double
        var requests: UInt64
        var requestsPerSecond: Double
        /// Nanoseconds.
        var latency: LatencySummary
        var bodyLength: Int
        var headLength: Int
        var reconnects: UInt64
        var cpuNanosecondsPerRequest: Double
        /// The open loop's rate asked for (absent: closed loop).
        var rate: Double?
        /// Open loop: requests due within the phase that could not be queued before it ended (the
        /// pipeline was full of requests not yet answered).
        var missed: UInt64?
        /// Open loop: the most requests queued or written and unanswered at once.
        var peakOutstanding: Int?
        /// Open loop: --pipeline.
        var pipeline: Int?
    }

    /// `podbench http-serve`: the http1 workload's server on its own, for wrk and other peers.
    struct HTTPServe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "http-serve",
            abstract: "Answer HTTP/1.1 requests as the http1 workload's server does, for wrk, h2load or curl.",
            discussion: """
                Answers GET of any path with 200 OK and a fixed body of --body-size bytes (the same every time), and \
                POST /podbench/echo as in an http1 case (docs/http.md); anything else, a malformed head, or a head \
                over 16 KiB closes that connection with the reason on stderr. Keep-alive; HTTP/1.0 and \
                `Connection: close` are answered and closed. A thread per connection, at most --max-connections. \
                Prints the address it listens on, then runs until killed.
                """)

        @Option(help: "Where to listen: tcp:HOST:PORT (port 0: any free one), unix:PATH or unix:@NAME.")
        var listen = "tcp:127.0.0.1:8080"

        @Option(help: "The body of every answer, in bytes (e.g. 64, 16KiB).")
        var bodySize = "64"

        @Option(
            help:
                "http1, or h2c: HTTP/2 over cleartext with prior knowledge (h2load's http://), every request answered 200 with the body."
        )
        var `protocol` = "http1"

        @Option(help: "Connections served at once; more are closed when they arrive.")
        var maxConnections = 64

        @Option(help: "Close a connection that sends nothing for this long.")
        var idleTimeout = "60s"

        @Option(help: "Pin the server's threads to this CPU.")
        var cpu: Int?

        @Flag(help: "Print nothing but errors (not the reasons connections were closed).")
        var quiet = false

        func configuration() throws -> HTTP1Server.Configuration {
            do {
                let idle = try DurationText.parse(idleTimeout, option: "--idle-timeout")
                guard idle >= 1_000_000 else { throw ValidationError("--idle-timeout: at least 1ms") }
                guard let wire = HTTP1Server.Wire(rawValue: self.protocol) else {
                    throw ValidationError("--protocol: http1 or h2c, not \(TextEscaping.terminal(self.protocol))")
                }
                return try HTTP1Server.Configuration(
                    listen: try SocketAddress(parsing: listen),
                    bodyLength: try ByteSize.parse(bodySize, maximum: 1 << 30),
                    maximumConnections: maxConnections, idleTimeoutNanoseconds: idle, wire: wire)
            } catch let error as PodBenchError {
                throw ValidationError(error.message)
            }
        }

        func validate() throws {
            _ = try configuration()
        }

        func run() async throws {
            let configuration = try configuration()
            if let cpu { _ = try CPUPinning.pinCurrentThread(to: cpu) }
            let quiet = quiet
            let server = try HTTP1Server(configuration) { line in
                if !quiet { FileHandle.standardError.write(Data((TextEscaping.terminal(line) + "\n").utf8)) }
            }
            // Written at once (not through print's buffer): a script waits for this line to connect.
            FileHandle.standardOutput.write(
                Data(
                    "podbench http-serve: listening on \(server.address)\(configuration.wire == .h2c ? " (h2c)" : ""): GET answered with a \(configuration.bodyLength)-byte body\(configuration.wire == .h2c ? "; POST /podbench/echo: podbench's pattern, at most as long, echoed" : "")\n"
                        .utf8))
            try server.run()
        }
    }
}
