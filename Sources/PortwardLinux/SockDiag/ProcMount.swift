import Glibc

/// How a proc mount hides processes: the `hidepid=` option of the mount at `procRoot`, read
/// from `PROCROOT/self/mountinfo` (proc(5)). Since Linux 5.8 every proc mount has its own
/// options, so `mount -t proc -o hidepid=2 proc DIR` hides for DIR only.
public enum ProcMount {
    /// True when the proc mounted at `procRoot` hides processes the caller may not ptrace
    /// (`hidepid=2`/`invisible` or `hidepid=4`/`ptraceable`), and the caller is not root
    /// (root has CAP_SYS_PTRACE and sees all). A `gid=` exemption is not checked: a member
    /// of that group is still told the answer may be incomplete. False when the mount is
    /// not found (a fake tree in tests) or mountinfo cannot be read.
    public static func hidesOtherProcesses(procRoot: String) -> Bool {
        guard geteuid() != 0,
              let bytes = try? FileContents.read(procRoot + "/self/mountinfo") else { return false }
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let mountPoint = realpath(procRoot, &resolved) != nil
            ? String(decoding: resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            : procRoot
        return hidepid(mountinfo: String(decoding: bytes, as: UTF8.self), mountPoint: mountPoint)
    }

    /// Whether the last proc mount on `mountPoint` in a mountinfo text has `hidepid` set to
    /// a value that makes processes invisible (`2`, `invisible`, `4`, `ptraceable`).
    /// `1`/`noaccess` leaves them listed (their fd directories are then unreadable, which
    /// the fd scan notices by itself).
    static func hidepid(mountinfo: String, mountPoint: String) -> Bool {
        var hides: Bool?
        for line in mountinfo.split(separator: "\n") {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5, unescape(fields[4]) == mountPoint,
                  let dash = fields.firstIndex(of: "-"), dash + 3 < fields.count,
                  fields[dash + 1] == "proc" else { continue }
            let options = fields[dash + 3].split(separator: ",")
            hides = options.contains { ["hidepid=2", "hidepid=invisible", "hidepid=4", "hidepid=ptraceable"].contains(String($0)) }
        }
        return hides ?? false
    }

    /// mountinfo escapes space, tab, newline and backslash as `\ooo`.
    private static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        let raw = Array(field.utf8)
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), i + 3 < raw.count,
               let value = UInt8(String(decoding: raw[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(raw[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
