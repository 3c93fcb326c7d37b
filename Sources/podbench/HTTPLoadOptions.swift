import ArgumentParser
import PodBenchCore

/// What `http-load` and `http2-load` both take: the server, the request, the phases, the checks on the
/// answers, pinning and the output's form.
struct HTTPLoadOptions: ParsableArguments {
    @Option(help: "The server: tcp:HOST:PORT (numeric host), unix:PATH or unix:@NAME.")
    var target: String

    @Option(help: "The request target (origin form).")
    var path = "/"

    @Option(help: "The Host field, or HTTP/2's :authority (default: the target's HOST:PORT, as wrk and h2load send).")
    var host: String?

    @Option(help: "How long to measure (e.g. 10s).")
    var duration = "10s"

    @Option(help: "How long to send requests before measuring (checked, not counted).")
    var warmup = "1s"

    @Option(help: "The body length every response must have (default: the first response's).")
    var expectLength: String?

    @Option(help: "The largest body taken; a longer one fails the run.")
    var maxBody = "4MiB"

    @Option(help: "How long one request may take before the run fails.")
    var timeout = "10s"

    @Option(help: "Pin this process to this CPU.")
    var cpu: Int?

    @Flag(help: "Print one JSON object instead of the text.")
    var json = false

    /// The options in numbers; `--max-body` at most `largestBody` (each protocol's own bound).
    struct Parsed {
        var target: SocketAddress
        var durationNanoseconds: UInt64
        var warmupNanoseconds: UInt64
        var expectedBodyLength: Int?
        var maximumBodyLength: Int
        var timeoutNanoseconds: UInt64
    }

    func parsed(largestBody: Int) throws -> Parsed {
        do {
            let maximum = try ByteSize.parse(maxBody, maximum: largestBody)
            let parsed = Parsed(
                target: try SocketAddress(parsing: target),
                durationNanoseconds: try DurationText.parse(duration, option: "--duration"),
                warmupNanoseconds: try DurationText.parse(warmup, option: "--warmup"),
                expectedBodyLength: try expectLength.map { try ByteSize.parse($0, maximum: maximum) },
                maximumBodyLength: maximum,
                timeoutNanoseconds: try DurationText.parse(timeout, option: "--timeout"))
            guard parsed.durationNanoseconds > 0 else { throw ValidationError("--duration: more than 0") }
            guard parsed.timeoutNanoseconds >= 1_000_000 else { throw ValidationError("--timeout: at least 1ms") }
            return parsed
        } catch let error as PodBenchError {
            throw ValidationError(error.message)
        }
    }
}
