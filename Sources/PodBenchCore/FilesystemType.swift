import CPodBenchLinux

/// The kind of filesystem a path lives on (statfs(2) `f_type`), by the name users know: what
/// decides whether a shared volume is memory (tmpfs) or a disk (ext4, xfs, overlay).
public enum FilesystemType {
    /// Known `f_type` magics (linux/magic.h).
    static let names: [Int: String] = [
        0x0102_1994: "tmpfs",
        0x8584_58F6: "ramfs",
        0xEF53: "ext4",
        0x5846_5342: "xfs",
        0x9123_683E: "btrfs",
        0x794C_7630: "overlay",
        0x6969: "nfs",
        0xFF53_4D42: "cifs",
        0x0102_1997: "9p",
        0x6573_5546: "fuse",
        0x2FC1_2FC1: "zfs",
        0x5346_544E: "ntfs",
        0xF15F: "ecryptfs",
    ]

    /// The name of the filesystem holding `path` ("tmpfs", "ext4", ...), its magic in hex when
    /// unknown, nil when `path` cannot be examined.
    public static func name(of path: String) -> String? {
        var type = 0
        guard CPodBenchLinux_filesystem_type(path, &type) == 0 else { return nil }
        let magic = type & 0xFFFF_FFFF
        return names[magic] ?? "0x" + String(magic, radix: 16)
    }

    /// Whether `path` is on a filesystem kept in memory (tmpfs, ramfs).
    public static func isMemoryBacked(_ path: String) -> Bool {
        let kind = name(of: path)
        return kind == "tmpfs" || kind == "ramfs"
    }
}
