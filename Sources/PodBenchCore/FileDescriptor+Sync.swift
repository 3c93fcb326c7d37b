import Glibc
import SystemPackage

extension FileDescriptor {
    /// Flushes the file's data and metadata to its device (`fsync(2)`), retrying EINTR.
    /// - Throws: the `Errno` fsync left (ENOSPC, EIO, ...).
    public func synchronize() throws {
        while fsync(rawValue) != 0 {
            let e = Errno(rawValue: errno)
            if e != .interrupted { throw e }
        }
    }
}
