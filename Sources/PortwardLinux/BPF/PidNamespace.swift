import CLibbpf
import Glibc

/// The pid namespace the guard's programs report pids in: this process's own
/// (`/proc/self/ns/pid`), so that an event's pid names the process this daemon finds under
/// that pid. Mirrors `struct pid_namespace_config` in guard.bpf.c (section `.rodata.pidns`),
/// which the loader sets before the programs load (guard.bpf.c explains the rules).
public struct PidNamespace: Equatable, Sendable {
    /// `st_dev` and `st_ino` of `/proc/self/ns/pid`.
    public var device: UInt64
    public var inode: UInt64
    /// The kernel has bpf_get_ns_current_pid_tgid() in cgroup programs (Linux 6.10+).
    public var helperAvailable: Bool

    /// The initial pid namespace's inode (`PROC_PID_INIT_INO` in include/linux/proc_ns.h).
    public static let initialInode: UInt64 = 0xEFFF_FFFC

    /// True in the host's pid namespace: other namespaces' processes can still be reported by
    /// their pid here.
    public var isInitial: Bool { inode == Self.initialInode }

    public init(device: UInt64, inode: UInt64, helperAvailable: Bool) {
        self.device = device
        self.inode = inode
        self.helperAvailable = helperAvailable
    }

    /// This process's pid namespace, with the helper probed for the three program types
    /// that report pids; nil when /proc/self/ns/pid cannot be read (the programs then keep
    /// their default: pids of the initial namespace).
    public static func current() -> PidNamespace? {
        var st = stat()
        guard stat("/proc/self/ns/pid", &st) == 0 else { return nil }
        let types = [BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_PROG_TYPE_CGROUP_SOCK, BPF_PROG_TYPE_CGROUP_SYSCTL]
        let available = types.allSatisfy { libbpf_probe_bpf_helper($0, BPF_FUNC_get_ns_current_pid_tgid, nil) == 1 }
        return PidNamespace(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), helperAvailable: available)
    }

    /// The bytes of `struct pid_namespace_config` (24 bytes, host byte order).
    var configBytes: [UInt8] {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: device) { bytes += $0 }
        withUnsafeBytes(of: inode) { bytes += $0 }
        withUnsafeBytes(of: UInt32(helperAvailable ? 1 : 0)) { bytes += $0 }
        withUnsafeBytes(of: UInt32(isInitial ? 1 : 0)) { bytes += $0 }
        return bytes
    }

    /// The id of `object`'s `.rodata.pidns` map once loaded; nil before, or without one.
    static func mapID(in object: OpaquePointer) -> UInt32? {
        guard let map = bpf_object__find_map_by_name(object, ".rodata.pidns") else { return nil }
        let fd = bpf_map__fd(map)
        guard fd >= 0 else { return nil }
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return nil }
        return info.id
    }

    /// Sets the programs' pid namespace in `object` (opened, not loaded yet).
    /// - Throws: `.failed` when the object has no `.rodata.pidns` map of the right size.
    func configure(_ object: OpaquePointer) throws(BPFGuardError) {
        guard let map = bpf_object__find_map_by_name(object, ".rodata.pidns") else {
            throw .failed(operation: "map .rodata.pidns missing from the object", errno: ENOENT)
        }
        let bytes = configBytes
        let result = bytes.withUnsafeBytes { bpf_map__set_initial_value(map, $0.baseAddress, $0.count) }
        if result != 0 { throw .failed(operation: "bpf_map__set_initial_value .rodata.pidns", errno: -result) }
    }
}
