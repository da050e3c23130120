import PortwardCore

/// Where one guard entry applies: a port of one transport protocol in one network namespace.
/// The key of the `guard_owners` BPF map (`struct guard_key` in guard.bpf.c, 16 bytes:
/// u64 netns cookie, u16 port, u8 IP protocol number, 5 zero bytes; host byte order).
/// Entries the pinned `guard_owners` map holds at most (`max_entries` in guard.bpf.c).
public let guardOwnersCapacity = 65_536

public struct GuardKey: Hashable, Sendable, CustomStringConvertible {
    /// The network namespace's cookie (`SO_NETNS_COOKIE`, see `NetnsCookie.current()`).
    public var netnsCookie: UInt64
    public var transport: TransportProtocol
    /// 1...65535 (port 0 is never guarded: the kernel picks the port).
    public var port: UInt16

    public init(netnsCookie: UInt64, transport: TransportProtocol, port: UInt16) {
        self.netnsCookie = netnsCookie
        self.transport = transport
        self.port = port
    }

    public var description: String { "\(port)/\(transport.rawValue) netns \(netnsCookie)" }

    static let size = 16

    var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        store(netnsCookie, into: &out, at: 0)
        store(port, into: &out, at: 8)
        out[10] = transport.ipProtocolNumber
        return out
    }

    init?(bytes: [UInt8]) {
        guard bytes.count == Self.size, let transport = TransportProtocol(ipProtocolNumber: bytes[10]) else { return nil }
        self.init(netnsCookie: load(UInt64.self, from: bytes, at: 0), transport: transport,
                  port: load(UInt16.self, from: bytes, at: 8))
    }
}

/// Who may bind a guarded port: the value of the `guard_owners` BPF map
/// (`struct guard_owner`, 16 bytes: u64 cgroup id, u32 uid, u32 flags).
///
/// A bind is allowed when the caller's cgroup, or one of its ancestors, is `cgroupID` (so
/// the owner unit's cgroup with all its sub-cgroups), or when the caller's uid (real uid, as
/// seen from the initial user namespace) is `uid`. With neither set, the entry allows
/// everyone (fail open). `reportOnly` allows the bind but still reports it.
public struct GuardOwner: Hashable, Sendable, CustomStringConvertible {
    /// A cgroup v2 id: the inode number of the cgroup's directory (`CgroupV2.id(ofDirectory:)`).
    public var cgroupID: UInt64?
    public var uid: UInt32?
    public var reportOnly: Bool

    public init(cgroupID: UInt64? = nil, uid: UInt32? = nil, reportOnly: Bool = false) {
        self.cgroupID = cgroupID
        self.uid = uid
        self.reportOnly = reportOnly
    }

    public var description: String {
        var parts: [String] = []
        if let cgroupID { parts.append("cgroup \(cgroupID)") }
        if let uid { parts.append("uid \(uid)") }
        if parts.isEmpty { parts.append("anyone") }
        if reportOnly { parts.append("report-only") }
        return parts.joined(separator: " ")
    }

    static let size = 16
    static let flagCgroup: UInt32 = 0x1
    static let flagUID: UInt32 = 0x2
    static let flagReportOnly: UInt32 = 0x4

    var flags: UInt32 {
        (cgroupID != nil ? Self.flagCgroup : 0) | (uid != nil ? Self.flagUID : 0) | (reportOnly ? Self.flagReportOnly : 0)
    }

    var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        store(cgroupID ?? 0, into: &out, at: 0)
        store(uid ?? 0, into: &out, at: 8)
        store(flags, into: &out, at: 12)
        return out
    }

    init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        let flags = load(UInt32.self, from: bytes, at: 12)
        self.init(cgroupID: flags & Self.flagCgroup != 0 ? load(UInt64.self, from: bytes, at: 0) : nil,
                  uid: flags & Self.flagUID != 0 ? load(UInt32.self, from: bytes, at: 8) : nil,
                  reportOnly: flags & Self.flagReportOnly != 0)
    }
}

/// One bind the guard refused (or, for a report-only entry, let through), as sent by the BPF
/// program through the `guard_events` ring buffer (`struct guard_event`, 48 bytes).
public struct GuardDenial: Hashable, Sendable, CustomStringConvertible {
    public var key: GuardKey
    /// 4 (bind4: AF_INET socket) or 6 (bind6: AF_INET6 socket, also for v4-mapped addresses).
    public var family: UInt8
    /// The process (thread group id), its uid (initial user namespace) and cgroup v2 id.
    public var pid: UInt32
    public var uid: UInt32
    public var cgroupID: UInt64
    /// The process's command name (at most 15 bytes, not escaped: may hold any byte): from
    /// the program when the loader had CAP_PERFMON (bpf_get_current_comm() needs it there),
    /// else `/proc/<pid>/comm` when the event was read; nil when the process was already gone.
    public var command: String?
    /// True when the entry was report-only: the bind went through.
    public var allowed: Bool

    public init(key: GuardKey, family: UInt8, pid: UInt32, uid: UInt32, cgroupID: UInt64, command: String?, allowed: Bool) {
        self.key = key
        self.family = family
        self.pid = pid
        self.uid = uid
        self.cgroupID = cgroupID
        self.command = command
        self.allowed = allowed
    }

    public var description: String {
        "\(allowed ? "reported" : "denied") bind to \(key.port)/\(key.transport.rawValue) (IPv\(family)) by pid \(pid) (\(command ?? "?")) uid \(uid) cgroup \(cgroupID)"
    }

    static let size = 48

    init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size,
              let transport = TransportProtocol(ipProtocolNumber: bytes[26]) else { return nil }
        let raw = Array(bytes.prefix(Self.size))
        key = GuardKey(netnsCookie: load(UInt64.self, from: raw, at: 0), transport: transport,
                       port: load(UInt16.self, from: raw, at: 24))
        cgroupID = load(UInt64.self, from: raw, at: 8)
        pid = load(UInt32.self, from: raw, at: 16)
        uid = load(UInt32.self, from: raw, at: 20)
        family = raw[27]
        allowed = load(UInt32.self, from: raw, at: 28) & GuardOwner.flagReportOnly != 0
        let comm = raw[32..<48].prefix { $0 != 0 }
        command = comm.isEmpty ? nil : String(decoding: comm, as: UTF8.self)
    }
}

/// The guard's counters (`guard_stats`, a per-CPU array summed over CPUs), since the maps
/// were created (they survive daemon restarts while pinned).
public struct GuardCounters: Hashable, Sendable {
    /// Binds refused with EADDRINUSE.
    public var denied: UInt64
    /// Binds to report-only entries by others (allowed).
    public var reported: UInt64
    /// Events not sent because the ring buffer was full (the counters still count them),
    /// from any of the programs (denials, binds, sysctl writes).
    public var eventsDropped: UInt64
    /// Successful binds to declared ports the post_bind programs saw (sent or dropped).
    public var bound: UInt64 = 0
}

/// Which ports are declared in one network namespace for one protocol: the key of the
/// `guard_declared` BPF map (`struct declared_key`, 16 bytes: u64 netns cookie, u8 IP
/// protocol number, 7 zero bytes). Its value is a 65,536-bit bitmap (8 KiB, bit `port % 64`
/// of the little-endian u64 word `port / 64`). The post_bind programs report binds to the
/// ports set there.
public struct DeclaredPortsKey: Hashable, Sendable {
    public var netnsCookie: UInt64
    public var transport: TransportProtocol

    public init(netnsCookie: UInt64, transport: TransportProtocol) {
        self.netnsCookie = netnsCookie
        self.transport = transport
    }

    static let size = 16
    static let valueSize = 8192

    var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        store(netnsCookie, into: &out, at: 0)
        out[8] = transport.ipProtocolNumber
        return out
    }

    init?(bytes: [UInt8]) {
        guard bytes.count == Self.size, let transport = TransportProtocol(ipProtocolNumber: bytes[8]) else { return nil }
        self.init(netnsCookie: load(UInt64.self, from: bytes, at: 0), transport: transport)
    }

    /// The map value for `ports` (port 0 is never set).
    static func value(_ ports: PortSet) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: valueSize)
        for port in ports where port != 0 { out[Int(port) >> 3] |= 1 << (port & 7) }
        return out
    }
}

/// A write of `net.ipv4.ip_local_reserved_ports` or `ip_local_port_range` reported by the
/// cgroup/sysctl program, before the kernel stored the value (the reader re-reads the key).
public struct SysctlWrite: Hashable, Sendable, CustomStringConvertible {
    public enum Key: UInt16, Sendable {
        case reservedPorts = 1
        case portRange = 2

        /// The /proc/sys path below net/ipv4.
        public var name: String { self == .reservedPorts ? "ip_local_reserved_ports" : "ip_local_port_range" }
    }

    public var key: Key
    /// The writer (thread group id), its uid (initial user namespace) and cgroup v2 id.
    public var pid: UInt32
    public var uid: UInt32
    public var cgroupID: UInt64
    /// The writer's command name: from the program (with CAP_PERFMON), else `/proc/PID/comm`
    /// when the event was read; nil when neither had it.
    public var command: String?
    /// The inode of the writer's network namespace (`/proc/PID/ns/net` when the event was
    /// read), nil when the process was already gone. (The program has no netns helper.)
    public var netnsInode: UInt64?
    /// The writer's systemd unit (`sd_pid_get_unit` when the event was read), nil when it
    /// has none or was already gone.
    public var unit: String?

    public init(key: Key, pid: UInt32, uid: UInt32, cgroupID: UInt64, command: String?, netnsInode: UInt64?, unit: String? = nil) {
        self.unit = unit
        self.key = key
        self.pid = pid
        self.uid = uid
        self.cgroupID = cgroupID
        self.command = command
        self.netnsInode = netnsInode
    }

    public var description: String {
        "write of \(key.name) by pid \(pid) (\(command ?? "?")) uid \(uid) cgroup \(cgroupID) netns \(netnsInode.map(String.init) ?? "?")"
    }
}

/// One record of the `guard_events` ring buffer, by the program that sent it.
public enum GuardEvent: Hashable, Sendable {
    /// bind4/bind6: a bind refused (or let through for a report-only map entry).
    case denial(GuardDenial)
    /// post_bind4/post_bind6: a successful bind to a declared port (`allowed` is true),
    /// by anyone, owner or not.
    case bound(GuardDenial)
    /// cgroup/sysctl: a write of one of the keys.
    case sysctlWrite(SysctlWrite)

    static let flagBound: UInt32 = 0x100
    static let flagSysctl: UInt32 = 0x200

    init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= GuardDenial.size else { return nil }
        let raw = Array(bytes.prefix(GuardDenial.size))
        let flags = load(UInt32.self, from: raw, at: 28)
        if flags & Self.flagSysctl != 0 {
            guard let key = SysctlWrite.Key(rawValue: load(UInt16.self, from: raw, at: 24)) else { return nil }
            let comm = raw[32..<48].prefix { $0 != 0 }
            self = .sysctlWrite(SysctlWrite(key: key, pid: load(UInt32.self, from: raw, at: 16),
                                            uid: load(UInt32.self, from: raw, at: 20),
                                            cgroupID: load(UInt64.self, from: raw, at: 8),
                                            command: comm.isEmpty ? nil : String(decoding: comm, as: UTF8.self),
                                            netnsInode: nil))
        } else {
            guard var record = GuardDenial(bytes: bytes) else { return nil }
            if flags & Self.flagBound != 0 {
                record.allowed = true
                self = .bound(record)
            } else {
                self = .denial(record)
            }
        }
    }
}

extension TransportProtocol {
    /// IPPROTO_TCP (6), IPPROTO_UDP (17), IPPROTO_SCTP (132).
    public var ipProtocolNumber: UInt8 {
        switch self {
        case .tcp: 6
        case .udp: 17
        case .sctp: 132
        }
    }

    public init?(ipProtocolNumber: UInt8) {
        switch ipProtocolNumber {
        case 6: self = .tcp
        case 17: self = .udp
        case 132: self = .sctp
        default: return nil
        }
    }
}

private func store<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
    withUnsafeBytes(of: value) { raw in
        // Host byte order, as the BPF program reads it.
        for (i, byte) in raw.enumerated() { bytes[offset + i] = byte }
    }
}

private func load<T: FixedWidthInteger>(_ type: T.Type, from bytes: [UInt8], at offset: Int) -> T {
    var value: T = 0
    withUnsafeMutableBytes(of: &value) { raw in
        for i in 0..<MemoryLayout<T>.size { raw[i] = bytes[offset + i] }
    }
    return value
}
