import CPodBenchLinux
import Glibc
import SystemPackage

/// Small reads of /proc, /sys and friends, for the environment probe (never in a measured loop).
public enum SystemFiles {
    /// The whole text of a small file, or nil when it cannot be read.
    public static func read(_ path: String, limit: Int = 1 << 20) -> String? {
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec) else { return nil }
        defer { try? fd.close() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while bytes.count < limit {
            let n = (try? chunk.withUnsafeMutableBytes { try fd.read(into: $0) }) ?? 0
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The first line of a file, trimmed, or nil.
    public static func firstLine(_ path: String) -> String? {
        guard let text = read(path, limit: 65536) else { return nil }
        return text.split(separator: "\n", omittingEmptySubsequences: false).first.map {
            String($0).trimmingSpaces()
        }
    }

    /// The value of `key:` in a `key: value` file such as /proc/self/status.
    public static func field(_ key: String, in text: String) -> String? {
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters() == key {
                return String(line[line.index(after: colon)...]).trimmingSpaces()
            }
        }
        return nil
    }

    /// Whether a path exists.
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Whether `path` is a symbolic link itself (lstat: the link, not what it names).
    public static func isSymbolicLink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }

    /// Swaps the names `a` and `b`, both existing, in one step (renameat2 with RENAME_EXCHANGE):
    /// 0, or the errno (EINVAL where the filesystem cannot, ENOSYS on an old kernel).
    public static func exchange(_ a: String, _ b: String) -> Int32 {
        CPodBenchLinux_rename_exchange(a, b) == 0 ? 0 : errno
    }

    /// Removes `path` only if it is a Unix socket file itself (not a link to one, not anything
    /// else): a stale socket may go, whatever else was put at that name stays.
    /// - Returns: whether a socket file was there and is gone.
    @discardableResult
    public static func removeSocketFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK && unlink(path) == 0
    }

    /// The inode of a path (stat), e.g. of /proc/self/ns/net: equal inodes mean one namespace.
    public static func inode(_ path: String) -> UInt64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }
}

extension Substring {
    func trimmingCharacters() -> String { String(self).trimmingSpaces() }
}
