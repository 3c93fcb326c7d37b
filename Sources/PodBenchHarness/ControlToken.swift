import Glibc
import PodBenchCore
import SystemPackage

/// The shared secret a client presents in its `hello` before `serve` does anything for it.
///
/// It lives in a file both sides can read and nobody else can: a 0600 file on the shared volume
/// (which `serve` creates when it is missing), a Kubernetes Secret mounted with `defaultMode: 0400`,
/// or the private folder `podbench run` makes. A file that others could have written or read is
/// refused: a token planted by another user, or read by one, authenticates nobody.
public struct ControlToken: Sendable, Equatable {
    /// The token's text (printable ASCII, no white space).
    public let text: String

    /// At least this many characters: a guessable token is no token.
    public static let minimumLength = 16
    /// At most this many bytes in a token file.
    public static let maximumFileBytes = 4096

    public init(text: String) throws {
        guard text.utf8.count >= Self.minimumLength, text.utf8.count <= Self.maximumFileBytes,
            text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw PodBenchError(
                .invalidConfiguration,
                "a control token is \(Self.minimumLength) to \(Self.maximumFileBytes) printable characters without spaces"
            )
        }
        self.text = text
    }

    private init(checked text: String) {
        self.text = text
    }

    /// A new random token: 32 bytes from the kernel's random source, as 64 hexadecimal digits.
    public static func random() -> ControlToken {
        var generator = SystemRandomNumberGenerator()
        var text = ""
        for _ in 0..<4 {
            let word = generator.next() as UInt64
            text +=
                String(repeating: "0", count: word.leadingZeroBitCount / 4) + (word == 0 ? "" : String(word, radix: 16))
        }
        // 4 × 16 digits (a word of zero contributes its 16 zeros through the padding above): 64
        // printable characters, which init(text:) would accept.
        return ControlToken(checked: text)
    }

    /// Whether `presented` is this token, in time that does not depend on where they differ.
    public func matches(_ presented: String?) -> Bool {
        guard let presented else { return false }
        let a = Array(text.utf8)
        let b = Array(presented.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<a.count { difference |= a[i] ^ (i < b.count ? b[i] : 0) }
        return difference == 0
    }

    /// The server's token: read from `path`, or made there (0600, `O_EXCL|O_NOFOLLOW`) when no
    /// file is there yet.
    /// - Returns: the token and whether this call created the file.
    /// - Throws: `.invalidConfiguration` for a file others could read or write, that is not a
    ///   regular file, or holds no valid token; `.ioFailure` when it can be neither read nor made.
    public static func loadOrCreate(path: String) throws -> (token: ControlToken, created: Bool) {
        let token = random()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 {
            defer { Glibc.close(fd) }
            let bytes = Array((token.text + "\n").utf8)
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard written == bytes.count else {
                let e = errno
                unlink(path)
                throw PodBenchError.system(
                    "write", Errno(rawValue: e), "cannot write the control token to \(path) (--token-file)")
            }
            return (token, true)
        }
        guard errno == EEXIST else {
            throw PodBenchError.system(
                "open", Errno(rawValue: errno),
                "cannot create the control token file \(path): check that its directory exists and is writable (--token-file)"
            )
        }
        return (try read(path: path), false)
    }

    /// Reads a token file, which must be a regular file of this user or root that nobody else may
    /// write or read (its group may read it: a Secret volume with `fsGroup` is 0440). It may be
    /// reached through a symlink (Secret volumes are links into a folder of their own); its
    /// owner and mode are what decide.
    public static func read(path: String) throws -> ControlToken {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw PodBenchError.system(
                "open", Errno(rawValue: errno),
                "cannot read the control token file \(path): give both sides the same --token-file (serve creates it)")
        }
        defer { Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw PodBenchError.system("fstat", Errno(rawValue: errno), "cannot inspect \(path) (--token-file)")
        }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_size <= maximumFileBytes else {
            throw PodBenchError(
                .invalidConfiguration,
                "the control token file \(path) is not a regular file of at most \(maximumFileBytes) bytes")
        }
        guard info.st_uid == geteuid() || info.st_uid == 0 else {
            throw PodBenchError(
                .invalidConfiguration,
                "the control token file \(path) belongs to uid \(info.st_uid), not to this user (\(geteuid())) or root: another user may have planted it; remove it (serve makes a new one)"
            )
        }
        guard info.st_mode & 0o037 == 0 else {
            throw PodBenchError(
                .invalidConfiguration,
                "the control token file \(path) has mode \(String(info.st_mode & 0o777, radix: 8)): others may read or write it; make it 0600 (a Secret volume: defaultMode 0400)"
            )
        }
        var bytes = [UInt8](repeating: 0, count: maximumFileBytes + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw PodBenchError.system("read", Errno(rawValue: errno), "cannot read \(path) (--token-file)")
            }
            if n == 0 { break }
            count += n
        }
        let text = String(decoding: bytes[0..<min(count, maximumFileBytes)], as: UTF8.self)
        do {
            return try ControlToken(text: text.trimmingWhitespace())
        } catch let error as PodBenchError {
            throw PodBenchError(.invalidConfiguration, "the control token file \(path): \(error.message)")
        }
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        let bytes = Array(utf8)
        var start = 0
        var end = bytes.count
        while start < end && (bytes[start] == 0x20 || (0x09...0x0D).contains(bytes[start])) { start += 1 }
        while end > start && (bytes[end - 1] == 0x20 || (0x09...0x0D).contains(bytes[end - 1])) { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
