import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore
import PodBenchRing
import Synchronization
import SystemPackage

/// Sets up the `shm` transport: the server creates the ring file in the shared directory, the
/// client maps the same file. The file is removed as soon as both sides have it mapped, so a
/// crash of either side afterwards leaves nothing behind.
public enum SharedMemoryTransport {
    /// The ring file a server created, waiting for its client.
    public final class Listener: DataListener, @unchecked Sendable {
        public let path: String
        public let capacity: Int
        public var endpoint: Endpoint { .ring(path: path) }
        let descriptor: FileDescriptor
        var region: MappedRegion?
        let strategy: RingWaitStrategy
        private var removed = false

        init(
            path: String, capacity: Int, descriptor: FileDescriptor, region: consuming MappedRegion,
            strategy: RingWaitStrategy
        ) {
            self.path = path
            self.capacity = capacity
            self.descriptor = descriptor
            self.region = .some(region)
            self.strategy = strategy
        }

        /// Waits until the client has attached (its state word), then removes the file's name.
        public func accept(timeoutNanoseconds: UInt64) throws -> SharedMemoryChannel {
            guard let mapped = region.take() else {
                throw PodBenchError(.protocolViolation, "the ring file was already handed out")
            }
            let state = (mapped.base + RingLayout.stateOffset).assumingMemoryBound(to: Atomic<UInt32>.self)
            let started = MonotonicClock.now()
            while state.pointee.load(ordering: .acquiring) != RingState.attached.rawValue {
                if MonotonicClock.now() - started > timeoutNanoseconds {
                    removeFile()
                    try? descriptor.close()
                    throw PodBenchError(.timeout, "the client did not attach to the ring file \(path) in time")
                }
                usleep(50)
            }
            removeFile()
            return SharedMemoryChannel(
                descriptor: descriptor, region: mapped, capacity: capacity, role: .server, strategy: strategy,
                timeoutNanoseconds: timeoutNanoseconds)
        }

        /// Removes the file if the case ends before the client attached.
        public func close() {
            removeFile()
            if region != nil {
                region = nil
                try? descriptor.close()
            }
        }

        func removeFile() {
            guard !removed else { return }
            removed = true
            _ = unlink(path)
        }

        deinit { close() }
    }

    /// Creates a ring file of two `capacity`-byte rings in `directory`.
    /// - Throws: `.unavailable` when the directory lacks the space (a small /dev/shm), with the
    ///   figures; `.ioFailure` for other failures.
    public static func listen(
        directory: String, name: String, capacity: Int, strategy: RingWaitStrategy
    ) throws -> Listener {
        try RingLayout.validate(capacity: capacity)
        let size = RingLayout.fileSize(capacity: capacity)
        var fs = statvfs()
        if statvfs(directory, &fs) == 0 {
            let free = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
            if free < UInt64(size) {
                throw PodBenchError(
                    .unavailable,
                    "a ring file of \(size >> 10) KiB does not fit in \(directory) (\(free >> 10) KiB free): give the pod a larger /dev/shm (emptyDir medium Memory sizeLimit, --shm-size) or pick a smaller --shm-ring"
                )
            }
        } else {
            throw PodBenchError.system(
                "statvfs", Errno(rawValue: errno),
                "the shared-memory directory \(directory) is not there: pass --shm-dir")
        }
        let path = directory + "/" + name + ".ring"
        // Made under a hidden name, locked, then renamed: a server cleaning up stale ring files
        // never sees this one unlocked.
        let creating = directory + "/." + name + ".ring.creating"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(
                FilePath(creating), .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
                permissions: [.ownerReadWrite, .groupReadWrite, .otherReadWrite])
        } catch let e as Errno {
            throw PodBenchError(
                .ioFailure, "cannot create the ring file \(path): \(e)", cause: .init(call: "open", errno: e))
        }
        do {
            guard CPodBenchLinux_lock_byte(fd.rawValue, RingLayout.serverLockByte) == 0 else {
                throw PodBenchError.system("fcntl", Errno(rawValue: errno), "cannot lock the ring file \(path)")
            }
            // Allocate now: on a full tmpfs a write to a sparse mapping is a SIGBUS, not an error.
            let rc = posix_fallocate(fd.rawValue, 0, off_t(size))
            guard rc == 0 else {
                let e = Errno(rawValue: rc)
                throw PodBenchError(
                    e == .noSpace ? .unavailable : .ioFailure,
                    "cannot allocate \(size >> 10) KiB for the ring file in \(directory): \(e)",
                    cause: .init(call: "posix_fallocate", errno: e))
            }
            let region = try MappedRegion(descriptor: fd, count: size)
            let base = region.base
            base.storeBytes(of: RingLayout.magic.littleEndian, toByteOffset: RingLayout.magicOffset, as: UInt64.self)
            base.storeBytes(
                of: RingLayout.version.littleEndian, toByteOffset: RingLayout.versionOffset, as: UInt32.self)
            base.storeBytes(of: UInt64(capacity).littleEndian, toByteOffset: RingLayout.capacityOffset, as: UInt64.self)
            let recorded = strategy.headerCode
            base.storeBytes(of: recorded.code.littleEndian, toByteOffset: RingLayout.strategyOffset, as: UInt32.self)
            base.storeBytes(
                of: recorded.spinNanoseconds.littleEndian, toByteOffset: RingLayout.spinNanosecondsOffset,
                as: UInt64.self)
            for index in 0..<2 {
                RingPointers(block: base + RingLayout.ringOffset(index, capacity: capacity), capacity: capacity).reset()
            }
            let state = (base + RingLayout.stateOffset).assumingMemoryBound(to: Atomic<UInt32>.self)
            state.pointee.store(RingState.ready.rawValue, ordering: .releasing)
            guard rename(creating, path) == 0 else {
                throw PodBenchError.system("rename", Errno(rawValue: errno), "cannot name the ring file \(path)")
            }
            return Listener(path: path, capacity: capacity, descriptor: fd, region: region, strategy: strategy)
        } catch {
            _ = unlink(creating)
            try? fd.close()
            throw error
        }
    }

    /// Removes ring files in `directory` that no live server holds (left by a server killed before
    /// its client attached): a file whose server lock byte nobody holds is stale.
    /// - Returns: the paths removed.
    @discardableResult
    public static func removeStaleRingFiles(in directory: String, prefix: String = "podbench-") -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for name in names {
            let finished = name.hasPrefix(prefix) && name.hasSuffix(".ring")
            // A file still being made is locked a moment after it appears: count it stale only
            // when it is a minute old.
            let creating = name.hasPrefix("." + prefix) && name.hasSuffix(".ring.creating")
            guard finished || creating else { continue }
            let path = directory + "/" + name
            if creating {
                var st = stat()
                guard stat(path, &st) == 0, time(nil) - st.st_mtim.tv_sec > 60 else { continue }
            }
            guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else {
                continue
            }
            let held = CPodBenchLinux_byte_locked(fd.rawValue, RingLayout.serverLockByte)
            try? fd.close()
            if held == 0, unlink(path) == 0 { removed.append(path) }
        }
        return removed
    }

    /// Maps the ring file a server created and attaches to it.
    /// - Parameter strategy: how this side waits; nil adopts the server's (a relay forwarding to a
    ///   ring, a client of a relay's ring). Both sides must agree on whether they may sleep.
    /// - Throws: `.protocolViolation` for a file that is not a podbench ring of this layout version,
    ///   `.invalidConfiguration` for a strategy that does not match the server's on sleeping,
    ///   `.unavailable` when the file is not visible here.
    public static func connect(
        path: String, strategy: RingWaitStrategy?, timeoutNanoseconds: UInt64
    ) throws -> SharedMemoryChannel {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.closeOnExec])
        } catch let e as Errno {
            throw PodBenchError(
                e == .noSuchFileOrDirectory ? .unavailable : .ioFailure,
                "cannot open the ring file \(path): \(e); both sides must see the same shared directory (a volume mounted at the same path, or /dev/shm with a shared IPC namespace)",
                cause: .init(call: "open", errno: e))
        }
        do {
            var st = stat()
            guard fstat(fd.rawValue, &st) == 0 else {
                throw PodBenchError.system("fstat", Errno(rawValue: errno), "cannot read the ring file \(path)")
            }
            let size = Int(st.st_size)
            guard size >= RingLayout.headerSize else {
                throw PodBenchError(.protocolViolation, "\(path) is not a podbench ring file (only \(size) bytes)")
            }
            let region = try MappedRegion(descriptor: fd, count: size)
            let base = region.base
            let magic = UInt64(littleEndian: base.load(fromByteOffset: RingLayout.magicOffset, as: UInt64.self))
            guard magic == RingLayout.magic else {
                throw PodBenchError(.protocolViolation, "\(path) is not a podbench ring file (wrong magic)")
            }
            let version = UInt32(littleEndian: base.load(fromByteOffset: RingLayout.versionOffset, as: UInt32.self))
            guard version == RingLayout.version else {
                throw PodBenchError(
                    .protocolViolation,
                    "\(path) has ring layout version \(version); this podbench speaks \(RingLayout.version): run the same podbench version on both sides"
                )
            }
            let capacity = Int(
                UInt64(littleEndian: base.load(fromByteOffset: RingLayout.capacityOffset, as: UInt64.self)))
            guard (try? RingLayout.validate(capacity: capacity)) != nil, RingLayout.fileSize(capacity: capacity) == size
            else {
                throw PodBenchError(
                    .protocolViolation,
                    "\(path) says its rings hold \(capacity) bytes, which does not match its size \(size)")
            }
            let code = UInt32(littleEndian: base.load(fromByteOffset: RingLayout.strategyOffset, as: UInt32.self))
            let spin = UInt64(
                littleEndian: base.load(fromByteOffset: RingLayout.spinNanosecondsOffset, as: UInt64.self))
            guard let servers = RingWaitStrategy(headerCode: code, spinNanoseconds: spin) else {
                throw PodBenchError(.protocolViolation, "\(path) records an unknown wait strategy (\(code))")
            }
            let strategy = strategy ?? servers
            guard strategy.sleeps == servers.sleeps else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "the ring \(path) waits with \(servers) and this side with \(strategy): a side that sleeps needs a peer that wakes it, so give both the same --wait (or both futex/spin-futex)"
                )
            }
            let state = (base + RingLayout.stateOffset).assumingMemoryBound(to: Atomic<UInt32>.self)
            guard state.pointee.load(ordering: .acquiring) == RingState.ready.rawValue else {
                throw PodBenchError(
                    .protocolViolation, "\(path) is not waiting for a client (already attached or closed)")
            }
            guard CPodBenchLinux_byte_locked(fd.rawValue, RingLayout.serverLockByte) != 0 else {
                throw PodBenchError(.peerClosed, "\(path) was left by a server that is gone (nobody holds its lock)")
            }
            guard CPodBenchLinux_lock_byte(fd.rawValue, RingLayout.clientLockByte) == 0 else {
                throw PodBenchError.system("fcntl", Errno(rawValue: errno), "cannot lock the ring file \(path)")
            }
            state.pointee.store(RingState.attached.rawValue, ordering: .releasing)
            return SharedMemoryChannel(
                descriptor: fd, region: region, capacity: capacity, role: .client, strategy: strategy,
                timeoutNanoseconds: timeoutNanoseconds)
        } catch {
            try? fd.close()
            throw error
        }
    }
}

extension SharedMemoryTransport: Transport {
    public static let kind = TransportKind.shm
    public static let needs =
        "a memory-backed shared directory (/dev/shm with a shared IPC namespace, or an emptyDir of medium Memory)"
    public static let optionGroups: TransportOptions.Groups = [.ring, .wait]

    /// Each wait strategy a case of its own.
    public static func variants(of options: TransportOptions, lists: VariantLists) -> [TransportOptions] {
        options.waitVariants(lists)
    }

    public static func validate(_ options: TransportOptions) throws {
        try RingLayout.validate(capacity: options.ringBytes ?? TransportOptions.defaultRingBytes)
        _ = try options.waitStrategy()
    }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        [
            "ring": String(options.ringBytes ?? TransportOptions.defaultRingBytes),
            "wait": try options.waitStrategy().description,
        ]
    }

    /// The ring file in `--shm-dir` (or the hop's `shm:DIR`).
    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> Listener {
        try listen(
            directory: try place.directory(for: kind, otherwise: place.sharedMemoryDirectory), name: place.name,
            capacity: options.ringBytes ?? TransportOptions.defaultRingBytes, strategy: try options.waitStrategy())
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> SharedMemoryChannel
    {
        guard case .ring(let path) = endpoint else { throw endpoint.refused(for: kind) }
        // No wait given: adopt the ring's maker's (a relay's ring; a server's has the same default).
        let strategy = options.wait == nil ? nil : try options.waitStrategy()
        return try connect(path: path, strategy: strategy, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// The ring files in `directory` (`shm:DIR`), newest name first.
    public static func waitingEndpoints(in directory: String) -> [Endpoint] {
        let rings = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            $0.hasSuffix(".ring") && !$0.hasPrefix(".")
        }
        return rings.sorted(by: >).map { .ring(path: directory + "/" + $0) }
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        TransportProbe.probeSharedMemory(sharedMemoryDirectory: places.sharedMemoryDirectory)
    }
}
