import CLibbpf
import Glibc
import PortwardCore

/// The cgroup v2 hierarchy: where it is mounted and the ids of its cgroups.
public enum CgroupV2 {
    /// The cgroup v2 mount point as seen by this process (from `/proc/self/mountinfo`), or
    /// nil when no cgroup2 filesystem is mounted. Inside a cgroup namespace whose cgroup2 was
    /// mounted again, this is that mount: its root is the namespace's root cgroup.
    public static func mountPoint(mountinfo path: String = "/proc/self/mountinfo") -> String? {
        guard let text = readSmallFile(path) else { return nil }
        return MountInfoEntry.cgroup2MountPoint(in: MountInfoEntry.parse(text))
    }

    /// The cgroup v2 id of a cgroup directory: its inode number, the value
    /// `bpf_get_current_cgroup_id()` returns for processes in it.
    /// - Throws: `BPFGuardError.failed` when the path cannot be stat'ed or is not on cgroup2.
    public static func id(ofDirectory path: String) throws(BPFGuardError) -> UInt64 {
        var fs = statfs()
        guard statfs(path, &fs) == 0 else { throw .failed(operation: "statfs \(path)", errno: errno) }
        guard UInt64(bitPattern: Int64(fs.f_type)) == UInt64(CGROUP2_SUPER_MAGIC) else {
            throw .failed(operation: "\(path) is not a cgroup v2 directory", errno: ENOTDIR)
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw .failed(operation: "stat \(path)", errno: errno) }
        return UInt64(st.st_ino)
    }

    /// The cgroup v2 directory of a process (from `/proc/<pid>/cgroup`, line `0::<path>`,
    /// joined to `mountPoint()`), e.g. for an `ExecStartPre=` hook that registers the cgroup
    /// it runs in (the unit's). nil when the process is gone or has no v2 cgroup.
    public static func directory(ofProcess pid: pid_t? = nil, mountPoint: String? = CgroupV2.mountPoint()) -> String? {
        guard let mountPoint, let text = readSmallFile(pid.map { "/proc/\($0)/cgroup" } ?? "/proc/self/cgroup") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            let relative = line.dropFirst(3)
            // " (deleted)" or a path outside our cgroup namespace ("/..") cannot be joined.
            guard relative.hasPrefix("/"), !relative.hasPrefix("/..") else { return nil }
            return relative == "/" ? mountPoint : mountPoint + relative
        }
        return nil
    }
}

/// The cookie of a network namespace: a 64-bit id that the kernel never reuses while it runs,
/// the value `bpf_get_netns_cookie()` returns in the guard's programs.
public enum NetnsCookie {
    /// The cookie of this thread's network namespace, from `getsockopt(SO_NETNS_COOKIE)`
    /// on a throwaway socket (kernel 5.14+).
    /// - Throws: `BPFGuardError.unavailable(.kernelTooOld)` when the kernel does not know the
    ///   option (ENOPROTOOPT), `.failed` for other errors.
    public static func current() throws(BPFGuardError) -> UInt64 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .failed(operation: "socket(AF_UNIX)", errno: errno) }
        defer { close(fd) }
        var cookie: UInt64 = 0
        var length = socklen_t(MemoryLayout<UInt64>.size)
        guard getsockopt(fd, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, &cookie, &length) == 0 else {
            let e = errno
            if e == ENOPROTOOPT { throw .unavailable(.kernelTooOld, detail: "SO_NETNS_COOKIE needs Linux 5.14") }
            throw .failed(operation: "getsockopt(SO_NETNS_COOKIE)", errno: e)
        }
        return cookie
    }
}

/// Reads a small text file (procfs) in full; nil on any error.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16384)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
