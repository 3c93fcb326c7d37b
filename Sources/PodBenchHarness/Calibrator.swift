import CPodBenchLinux
import Foundation
import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchTransports
import Synchronization
import SystemPackage

/// `podbench calibrate`: measures this machine's limits with the same trial method as any case
/// (R trials, each a value; the median across them), so that every transport can be shown as a
/// ratio to the floor or ceiling that applies to it.
public struct Calibrator {
    public struct Configuration: Sendable {
        public var trials: Int
        public var trialNanoseconds: UInt64
        /// The CPUs for the two processes of the cross-core figures; nil picks two allowed CPUs.
        public var firstCPU: Int?
        public var secondCPU: Int?
        /// Where the shared page lives (memory-backed).
        public var directory: String
        /// The podbench binary, to start the peer process.
        public var executable: String

        public init(
            trials: Int, trialNanoseconds: UInt64, firstCPU: Int?, secondCPU: Int?, directory: String,
            executable: String
        ) {
            self.trials = trials
            self.trialNanoseconds = trialNanoseconds
            self.firstCPU = firstCPU
            self.secondCPU = secondCPU
            self.directory = directory
            self.executable = executable
        }
    }

    public let configuration: Configuration
    let progress: @Sendable (String) -> Void

    public init(configuration: Configuration, progress: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.progress = progress
    }

    /// Runs every measurement. The calling thread is pinned while it measures and given its CPUs
    /// back afterwards.
    public func run() throws -> Calibration {
        let allowed = CPUPinning.allowedCPUs()
        defer { try? CPUPinning.allow(allowed) }
        let first = configuration.firstCPU ?? allowed.first ?? 0
        let second = configuration.secondCPU ?? allowed.first(where: { $0 != first }) ?? first
        var measurements: [CalibrationMeasurement] = []
        func add(_ m: CalibrationMeasurement) {
            measurements.append(m)
            progress("calibrate: \(m.id): \(Self.format(m))")
        }
        add(timerRead())
        add(timerResolution())
        add(nullSyscall())
        add(
            memcpy(
                bytes: 64 << 10, id: CalibrationMeasurement.memcpyCached,
                summary: "copy of a 64 KiB block (cache-resident), one core"))
        let large = Self.largeBlockBytes()
        add(
            memcpy(
                bytes: large, id: CalibrationMeasurement.memcpyLarge,
                summary: "copy of a \(large >> 20) MiB block (4 × the last-level cache), one core"))
        add(try harnessPingPong())
        _ = try CPUPinning.pinCurrentThread(to: first)
        if second != first {
            add(
                try roundTrip(
                    mode: .spin, peerCPU: second, id: CalibrationMeasurement.cachelineCrossCore,
                    summary: "cache-line round trip between two processes spinning on CPUs \(first) and \(second)"))
        }
        add(
            try roundTrip(
                mode: .yield, peerCPU: first, id: CalibrationMeasurement.cachelineSameCore,
                summary: "cache-line round trip between two processes yielding on CPU \(first)"))
        if second != first {
            add(
                try roundTrip(
                    mode: .futex, peerCPU: second, id: CalibrationMeasurement.futexCrossCore,
                    summary: "futex wake round trip between two processes on CPUs \(first) and \(second)"))
        }
        add(
            try roundTrip(
                mode: .futex, peerCPU: first, id: CalibrationMeasurement.futexSameCore,
                summary: "futex wake round trip between two processes on CPU \(first)"))
        return Calibration(
            firstCPU: first, secondCPU: second, trialSeconds: Double(configuration.trialNanoseconds) / 1e9,
            measurements: measurements)
    }

    /// `12.3 ns`, `13.4 GB/s`.
    public static func format(_ m: CalibrationMeasurement) -> String {
        m.unit == "bytes/s" ? Format.decimal(m.median / 1e9) + " GB/s" : Format.nanoseconds(m.median)
    }

    /// Runs `body` repeatedly for one trial's duration; returns the mean time per operation, in
    /// nanoseconds, where `body` does `batch` operations per call.
    func timed(batch: Int, _ body: () -> Void) -> Double {
        var operations = 0
        let started = MonotonicClock.now()
        var now = started
        repeat {
            body()
            operations += batch
            now = MonotonicClock.now()
        } while now - started < configuration.trialNanoseconds
        return Double(now - started) / Double(operations)
    }

    func trials(_ one: () throws -> Double) rethrows -> [Double] {
        _ = try one()  // a warm-up trial, thrown away
        return try (0..<configuration.trials).map { _ in try one() }
    }

    func timerRead() -> CalibrationMeasurement {
        let values = trials {
            timed(batch: 1000) {
                var sink: UInt64 = 0
                for _ in 0..<1000 { sink &+= MonotonicClock.now() }
                blackHoleValue(sink)
            }
        }
        return CalibrationMeasurement(
            id: CalibrationMeasurement.timerRead, summary: "one clock_gettime(CLOCK_MONOTONIC), back to back",
            unit: "ns",
            trials: values)
    }

    func timerResolution() -> CalibrationMeasurement {
        let values = trials {
            // The smallest step the clock shows between two readings.
            var smallest = UInt64.max
            let started = MonotonicClock.now()
            while MonotonicClock.now() - started < configuration.trialNanoseconds / 4 {
                let a = MonotonicClock.now()
                var b = MonotonicClock.now()
                while b == a { b = MonotonicClock.now() }
                smallest = min(smallest, b - a)
            }
            return Double(smallest)
        }
        return CalibrationMeasurement(
            id: CalibrationMeasurement.timerResolution, summary: "smallest step between two clock readings", unit: "ns",
            trials: values)
    }

    func nullSyscall() -> CalibrationMeasurement {
        let values = trials {
            timed(batch: 100) {
                for _ in 0..<100 { _ = CPodBenchLinux_null_syscall() }
            }
        }
        return CalibrationMeasurement(
            id: CalibrationMeasurement.nullSyscall, summary: "a system call that does nothing (getppid)", unit: "ns",
            trials: values)
    }

    func memcpy(bytes: Int, id: String, summary: String) -> CalibrationMeasurement {
        let source = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        let target = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        defer {
            source.deallocate()
            target.deallocate()
        }
        source.initializeMemory(as: UInt8.self, repeating: 0x5A, count: bytes)
        target.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        let values = trials {
            let nanosecondsPerCopy = timed(batch: 1) { target.copyMemory(from: source, byteCount: bytes) }
            return Double(bytes) / nanosecondsPerCopy * 1e9
        }
        return CalibrationMeasurement(id: id, summary: summary, unit: "bytes/s", trials: values)
    }

    /// 4 × the largest CPU cache the kernel reports, between 64 MiB and 256 MiB.
    static func largeBlockBytes() -> Int {
        var largest = 0
        for index in 0..<8 {
            guard let text = SystemFiles.firstLine("/sys/devices/system/cpu/cpu0/cache/index\(index)/size") else {
                continue
            }
            var value = Int(text.filter(\.isNumber)) ?? 0
            if text.hasSuffix("K") { value <<= 10 } else if text.hasSuffix("M") { value <<= 20 }
            largest = max(largest, value)
        }
        return min(max(4 * largest, 64 << 20), 256 << 20)
    }

    /// The harness's own cost: pingpong over an in-process loopback channel (no peer, no kernel).
    func harnessPingPong() throws -> CalibrationMeasurement {
        let channel = LoopbackChannel(capacity: 1 << 16)
        defer { channel.deallocate() }
        var reader = FrameReader(channel: channel, maximumPayload: 64)
        let writer = FrameWriter(payloadLength: 64, seed: 1)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        defer {
            reader.deallocate()
            writer.deallocate()
        }
        let values = try trials {
            histogram.reset()
            var checker = IntegrityChecker(payloadLength: 64, verifyEvery: 16)
            let plan = PhasePlan(durationNanoseconds: configuration.trialNanoseconds, messageLimit: nil)
            let outcome = try PingPongWorkload.client(
                reader: &reader, writer: writer, checker: &checker, histogram: &histogram, plan: plan)
            return Double(outcome.elapsed) / Double(max(outcome.messages, 1))
        }
        return CalibrationMeasurement(
            id: CalibrationMeasurement.harnessPingPong,
            summary: "a 64 B pingpong round trip over an in-process loopback: the harness alone", unit: "ns",
            trials: values)
    }

    /// A round trip between this process and a peer process through a shared page.
    func roundTrip(mode: CalibrationPeer.Mode, peerCPU: Int, id: String, summary: String) throws
        -> CalibrationMeasurement
    {
        // /dev/shm is world-writable: an unguessable name, created exclusively, never through a link.
        let path =
            configuration.directory + "/podbench-calibrate-\(id)-"
            + String(UInt64.random(in: 0..<UInt64.max), radix: 36)
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(
                FilePath(path), .readWrite, options: [.create, .exclusiveCreate, .noFollow, .closeOnExec],
                permissions: [.ownerReadWrite])
        } catch let e as Errno {
            throw PodBenchError(
                .ioFailure, "cannot create the calibration page \(path): \(e)", cause: .init(call: "open", errno: e))
        }
        defer {
            try? fd.close()
            unlink(path)
        }
        guard ftruncate(fd.rawValue, off_t(CalibrationPage.size)) == 0 else {
            throw PodBenchError.system("ftruncate", Errno(rawValue: errno), "cannot size the calibration page \(path)")
        }
        let region = try MappedRegion(descriptor: fd, count: CalibrationPage.size)
        let page = CalibrationPage(region.base)
        let peer = Process()
        peer.executableURL = URL(fileURLWithPath: configuration.executable)
        peer.arguments = ["calibrate-peer", "--file", path, "--mode", mode.rawValue, "--cpu", String(peerCPU)]
        try peer.run()
        defer {
            page.stop.pointee.store(1, ordering: .releasing)
            page.pingWord.pointee.wrappingAdd(1, ordering: .releasing)
            _ = CPodBenchLinux_futex_wake(CalibrationPage.futex(page.pingWord), 1)
            let deadline = MonotonicClock.now() + 2_000_000_000
            while peer.isRunning && MonotonicClock.now() < deadline { usleep(1000) }
            if peer.isRunning { kill(peer.processIdentifier, SIGKILL) }
            peer.waitUntilExit()
        }
        let deadline = MonotonicClock.now() + 10_000_000_000
        while page.ready.pointee.load(ordering: .acquiring) == 0 {
            guard peer.isRunning, MonotonicClock.now() < deadline else {
                throw PodBenchError(.unavailable, "the calibration peer process did not start")
            }
            usleep(1000)
        }
        var sequence: UInt64 = 0
        var word: UInt32 = 0
        let values = trials {
            switch mode {
            case .spin, .yield:
                return timed(batch: 100) {
                    for _ in 0..<100 {
                        sequence &+= 1
                        page.ping.pointee.store(sequence, ordering: .releasing)
                        while page.pong.pointee.load(ordering: .acquiring) != sequence {
                            if mode == .spin { CPodBenchLinux_cpu_relax() } else { sched_yield() }
                        }
                    }
                }
            case .futex:
                return timed(batch: 10) {
                    for _ in 0..<10 {
                        word &+= 1
                        page.pingWord.pointee.store(word, ordering: .releasing)
                        _ = CPodBenchLinux_futex_wake(CalibrationPage.futex(page.pingWord), 1)
                        while true {
                            let seen = page.pongWord.pointee.load(ordering: .acquiring)
                            if seen == word { break }
                            _ = CPodBenchLinux_futex_wait(CalibrationPage.futex(page.pongWord), seen, 100_000_000)
                        }
                    }
                }
            }
        }
        return CalibrationMeasurement(id: id, summary: summary, unit: "ns", trials: values)
    }
}

/// Keeps a value alive so that the optimiser cannot drop the loop that made it.
@inline(never)
func blackHoleValue<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// An in-process channel that hands back what was sent: the harness with no transport at all.
/// Its read and write offsets live behind a pointer, as the `shm` channel's do: a class's `var`
/// would cost a run-time exclusivity check on every use, which is Swift's, not the harness's.
final class LoopbackChannel: DataChannel, @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    let offsets: UnsafeMutablePointer<(start: Int, end: Int)>

    var start: Int {
        @inline(__always) get { offsets.pointee.start }
        @inline(__always) set { offsets.pointee.start = newValue }
    }
    var end: Int {
        @inline(__always) get { offsets.pointee.end }
        @inline(__always) set { offsets.pointee.end = newValue }
    }

    init(capacity: Int) {
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
        offsets = .allocate(capacity: 1)
        offsets.initialize(to: (0, 0))
    }

    func deallocate() {
        buffer.deallocate()
        offsets.deallocate()
    }

    func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        if end + bytes.count > buffer.count {
            buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start)
            end -= start
            start = 0
        }
        guard end + bytes.count <= buffer.count else {
            throw PodBenchError(.ioFailure, "loopback buffer overflow")
        }
        (buffer.baseAddress! + end).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        end += bytes.count
        // An end-of-trial frame is answered with its acknowledgement, as a server would.
        if bytes.count == FrameHeader.size, let header = FrameHeader.read(from: bytes.baseAddress!),
            header.kind == .endOfTrial
        {
            let ackAt = buffer.baseAddress! + end - FrameHeader.size
            FrameHeader(payloadLength: 0, kind: .endAcknowledged, sequence: header.sequence, checksum: 0, timestamp: 0)
                .write(to: ackAt)
        }
    }

    func receiveSome(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(target.count, end - start)
        guard n > 0 else { throw PodBenchError(.peerClosed, "loopback is empty") }
        target.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n)
        start += n
        if start == end {
            start = 0
            end = 0
        }
        return n
    }

    func shutdown() {}
    func close() {}
}
