import Glibc
import SystemPackage

/// A shared mapping of a whole file (`mmap(2)` with MAP_SHARED), unmapped when released.
/// `~Copyable`: a copy would unmap twice.
public struct MappedRegion: ~Copyable {
    public let base: UnsafeMutableRawPointer
    public let count: Int

    /// Maps `count` bytes of `fd` from offset 0, readable and writable, shared with every other
    /// process that maps the same file.
    public init(descriptor fd: FileDescriptor, count: Int) throws {
        let p = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_SHARED, fd.rawValue, 0)
        guard let p, p != MAP_FAILED else {
            throw PodBenchError.system("mmap", Errno(rawValue: errno), "cannot map \(count) bytes of the ring file")
        }
        base = p
        self.count = count
    }

    deinit { munmap(base, count) }
}
