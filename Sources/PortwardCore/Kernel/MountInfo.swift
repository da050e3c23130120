/// One line of `/proc/<pid>/mountinfo` (proc(5)): the fields portward needs.
public struct MountInfoEntry: Hashable, Sendable {
    /// Field 4: the path of the mounted directory inside its filesystem (`/` for a whole one).
    public var root: String
    /// Field 5: where it is mounted, with the kernel's octal escapes (`\040` for a space)
    /// decoded.
    public var mountPoint: String
    /// The first field after ` - `: the filesystem type (`cgroup2`, `bpf`, `ext4`, ...).
    public var filesystemType: String

    public init(root: String, mountPoint: String, filesystemType: String) {
        self.root = root
        self.mountPoint = mountPoint
        self.filesystemType = filesystemType
    }

    /// Parses `/proc/<pid>/mountinfo` text. Lines that do not have the documented shape are
    /// skipped (the kernel writes none; nothing is guessed).
    public static func parse(_ text: String) -> [MountInfoEntry] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 10, let dash = fields.firstIndex(of: "-"), dash >= 6,
                  dash + 1 < fields.count else { return nil }
            return MountInfoEntry(root: unescape(fields[3]), mountPoint: unescape(fields[4]),
                                  filesystemType: String(fields[dash + 1]))
        }
    }

    /// The mount point of the cgroup v2 hierarchy (`/sys/fs/cgroup` on a pure-v2 host,
    /// `/sys/fs/cgroup/unified` on a hybrid one), or nil when none is mounted. The last
    /// cgroup2 mount whose root is `/` wins, as it hides earlier ones at the same place.
    public static func cgroup2MountPoint(in entries: [MountInfoEntry]) -> String? {
        let cgroup2 = entries.filter { $0.filesystemType == "cgroup2" }
        return (cgroup2.last { $0.root == "/" } ?? cgroup2.last)?.mountPoint
    }

    /// Decodes the `\ooo` octal escapes the kernel writes for space, tab, newline and
    /// backslash in paths.
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count {
                let digits = utf8[(i + 1)...(i + 3)]
                if digits.allSatisfy({ (0x30...0x37).contains($0) }) {
                    let value = digits.reduce(0) { $0 * 8 + Int($1 - 0x30) }
                    if value <= 255 {
                        bytes.append(UInt8(value))
                        i += 4
                        continue
                    }
                }
            }
            bytes.append(utf8[i])
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
