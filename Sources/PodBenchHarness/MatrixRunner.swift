import PodBenchCore
import PodBenchResults
import PodBenchTransports

/// Runs a list of cases through a connected client, recording each as it finishes.
public struct MatrixRunner {
    public var client: BenchmarkClient
    public var recorder: RunRecorder
    public var progress: @Sendable (String) -> Void

    public init(client: BenchmarkClient, recorder: RunRecorder, progress: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.recorder = recorder
        self.progress = progress
    }

    /// The cases of a matrix in the order they run: transport, then workload, then size.
    public static func cases(
        transports: [TransportKind], workloads: [WorkloadKind], sizes: [Int], options: TransportOptions,
        verifyEvery: Int,
        corruptSequence: UInt64?, shmWaits: [String] = ["spin-futex"], fileFsyncs: [String] = ["none"],
        uringSetups: [String] = ["default"], rates: [Int] = []
    ) -> [CaseSpec] {
        var specs: [CaseSpec] = []
        for transport in transports {
            // Options belong to their transport.
            var base = options
            if [.shm, .file, .fifo, .uringFile].contains(transport) { base.socketBufferBytes = nil }
            if transport != .shm {
                base.ringBytes = nil
                base.wait = nil
            }
            if !transport.isFile {
                base.follow = nil
                base.fsync = nil
                base.segmentBytes = nil
            }
            if !transport.usesIOURing {
                base.uringBatch = nil
                base.uringSetup = nil
                base.uringBuffers = nil
            }
            if transport == .uringFile {
                // Its writes are one record each; batch and buffers belong to the socket channels.
                base.uringBatch = nil
                base.uringBuffers = nil
            }
            // Each shm wait strategy, file fsync mode and io_uring setup is a case of its own.
            let variants: [(wait: String?, fsync: String?, setup: String?)] =
                switch transport {
                case .shm: shmWaits.map { ($0, nil, nil) }
                case .file: fileFsyncs.map { (nil, $0, nil) }
                case .uringTCP, .uringUDS: uringSetups.map { (nil, nil, $0) }
                case .uringFile: fileFsyncs.flatMap { fsync in uringSetups.map { (nil, fsync, $0) } }
                default: [(nil, nil, nil)]
                }
            for (wait, fsync, setup) in variants {
                var variant = base
                if let wait { variant.wait = wait }
                if let fsync { variant.fsync = fsync }
                if let setup { variant.uringSetup = setup }
                for workload in workloads {
                    for size in sizes {
                        // The rate workload is one case per offered rate, lowest first.
                        for rate in workload == .rate ? rates.map(Optional.some) : [nil] {
                            specs.append(
                                CaseSpec(
                                    transport: transport, workload: workload, messageSize: size, options: variant,
                                    verifyEvery: verifyEvery, corruptSequence: corruptSequence, messagesPerSecond: rate)
                            )
                        }
                    }
                }
            }
        }
        return specs
    }

    /// Runs every case. Returns nil when all ran, or the error that ended the session early.
    public func run(_ specs: [CaseSpec]) throws -> PodBenchError? {
        for (number, spec) in specs.enumerated() {
            progress("[\(number + 1)/\(specs.count)] \(spec.key) ...")
            let result: CaseResult
            do {
                result = try client.runCase(spec)
            } catch let error as BenchmarkClient.SessionError {
                var failed = CaseResult(
                    key: spec.key, status: .failed, error: error.error.description, errorCode: error.error.code.rawValue
                )
                failed.endpoint = nil
                try recorder.record(failed)
                progress("[\(number + 1)/\(specs.count)] \(spec.key): FAILED, the server is gone: \(error.error)")
                return error.error
            }
            try recorder.record(result)
            progress("[\(number + 1)/\(specs.count)] \(spec.key): \(Self.oneLine(result))")
        }
        return nil
    }

    static func oneLine(_ result: CaseResult) -> String {
        switch result.status {
        case .unavailable: return "unavailable: \(result.error ?? "")"
        case .failed: return "FAILED: \(result.error ?? "")"
        case .ok:
            let s = CaseSummary(result)
            var parts: [String] = []
            if let p50 = s.p50 { parts.append("p50 \(Format.nanoseconds(p50))") }
            if let p99 = s.p99 { parts.append("p99 \(Format.nanoseconds(p99))") }
            parts.append("\(Format.rate(s.messagesPerSecond)) msg/s")
            parts.append("\(Format.decimal(s.bytesPerSecond / 1e6)) MB/s")
            return parts.joined(separator: ", ")
        }
    }
}
