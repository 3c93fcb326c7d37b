import CPodBenchLinux
import Glibc
import PodBenchCore
import Synchronization
import SystemPackage

/// The shared page of a calibration: one word per 128 bytes, each written by one side.
///
/// ```
/// +0    ping        UInt64  the calibrating process: the round trip's number
/// +128  pong        UInt64  the peer: the number it answered
/// +256  stop        UInt32  the calibrating process: 1 = the peer exits
/// +384  ready       UInt32  the peer: 1 = mapped, pinned, waiting
/// +512  pingWord    UInt32  futex word for the futex round trip (calibrating process)
/// +640  pongWord    UInt32  futex word for the futex round trip (peer)
/// ```
public struct CalibrationPage: @unchecked Sendable {
    public static let size = 4096
    public let ping: UnsafeMutablePointer<Atomic<UInt64>>
    public let pong: UnsafeMutablePointer<Atomic<UInt64>>
    public let stop: UnsafeMutablePointer<Atomic<UInt32>>
    public let ready: UnsafeMutablePointer<Atomic<UInt32>>
    public let pingWord: UnsafeMutablePointer<Atomic<UInt32>>
    public let pongWord: UnsafeMutablePointer<Atomic<UInt32>>

    public init(_ base: UnsafeMutableRawPointer) {
        ping = (base + 0).assumingMemoryBound(to: Atomic<UInt64>.self)
        pong = (base + 128).assumingMemoryBound(to: Atomic<UInt64>.self)
        stop = (base + 256).assumingMemoryBound(to: Atomic<UInt32>.self)
        ready = (base + 384).assumingMemoryBound(to: Atomic<UInt32>.self)
        pingWord = (base + 512).assumingMemoryBound(to: Atomic<UInt32>.self)
        pongWord = (base + 640).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    static func futex(_ p: UnsafeMutablePointer<Atomic<UInt32>>) -> UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: UInt32.self)
    }
}

/// The other process of a calibration (`podbench calibrate-peer`): answers round trips on the
/// shared page until told to stop.
public enum CalibrationPeer {
    /// How the peer waits for the next round trip.
    public enum Mode: String, Sendable, CaseIterable {
        /// Spin on the ping word with the pause hint.
        case spin
        /// Spin, yielding the CPU between looks (both processes on one core).
        case yield
        /// Sleep on the ping futex; wake the calibrating process with the pong futex.
        case futex
    }

    /// Maps `path`, pins to `cpu`, answers until `stop`.
    public static func run(path: String, mode: Mode, cpu: Int?) throws {
        _ = try CPUPinning.pinCurrentThread(to: cpu)
        let fd = try FileDescriptor.open(FilePath(path), .readWrite, options: .closeOnExec)
        defer { try? fd.close() }
        let region = try MappedRegion(descriptor: fd, count: CalibrationPage.size)
        let page = CalibrationPage(region.base)
        page.ready.pointee.store(1, ordering: .releasing)
        var last: UInt64 = page.ping.pointee.load(ordering: .acquiring)
        var lastWord: UInt32 = page.pingWord.pointee.load(ordering: .acquiring)
        while page.stop.pointee.load(ordering: .relaxed) == 0 {
            switch mode {
            case .spin, .yield:
                let now = page.ping.pointee.load(ordering: .acquiring)
                if now != last {
                    last = now
                    page.pong.pointee.store(now, ordering: .releasing)
                } else if mode == .spin {
                    CPodBenchLinux_cpu_relax()
                } else {
                    sched_yield()
                }
            case .futex:
                let now = page.pingWord.pointee.load(ordering: .acquiring)
                if now != lastWord {
                    lastWord = now
                    page.pongWord.pointee.store(now, ordering: .releasing)
                    _ = CPodBenchLinux_futex_wake(CalibrationPage.futex(page.pongWord), 1)
                } else {
                    _ = CPodBenchLinux_futex_wait(CalibrationPage.futex(page.pingWord), now, 100_000_000)
                }
            }
        }
    }
}
