/// A successful bind to a declared port, as the guard's post_bind programs report it
/// (docs/events.md): who bound (pid, uid, cgroup, command, unit, executable), when the daemon
/// read it. The process may be gone by then: `command` then comes from the kernel (with
/// CAP_PERFMON) or is nil, `unit` and `executablePath` are nil.
/// Times are CLOCK_REALTIME seconds since the Unix epoch.
public struct BindEvent: Codable, Hashable, Sendable {
    public var port: UInt16
    public var transport: TransportProtocol
    public var pid: UInt32
    public var uid: UInt32
    /// The cgroup v2 id of the process (the inode of its cgroup directory).
    public var cgroupID: UInt64
    public var command: String?
    public var unit: String?
    public var executablePath: String?
    public var at: Double

    public init(port: UInt16, transport: TransportProtocol, pid: UInt32, uid: UInt32, cgroupID: UInt64,
                command: String?, unit: String?, executablePath: String? = nil, at: Double) {
        self.port = port
        self.transport = transport
        self.pid = pid
        self.uid = uid
        self.cgroupID = cgroupID
        self.command = command
        self.unit = unit
        self.executablePath = executablePath
        self.at = at
    }

    /// Whether the bind was the declared `owner`'s, with the classifier's vocabulary:
    /// `.expected` (the owner, or no owner declared), `.wrongOwner`, or `.unattributed`
    /// (the owner cannot be told from what is left: a `unit:` or `exe:` owner and a process
    /// already gone, or a `user:` name that does not resolve).
    /// - Parameter ownerCgroups: the cgroup id each `unit:` owner binds from, when known
    ///   (`OwnerRegistry`): a bind from there is the owner's even when the process is gone.
    public func verdict(owner: Owner, userIDs: [String: UInt32], ownerCgroups: [String: UInt64] = [:]) -> SocketFinding.Verdict {
        switch owner {
        case .any:
            return .expected
        case .user(let user):
            let uid: UInt32? = switch user {
            case .uid(let value): value
            case .name(let name): userIDs[name]
            }
            guard let uid else { return .unattributed }
            return self.uid == uid ? .expected : .wrongOwner
        case .unit(let name):
            if unit == name || (ownerCgroups[name].map { $0 != 0 && $0 == cgroupID } ?? false) { return .expected }
            return unit == nil ? .unattributed : .wrongOwner
        case .exe(let path):
            guard let executablePath else { return .unattributed }
            let stripped = executablePath.hasSuffix(" (deleted)") ? String(executablePath.dropLast(10)) : executablePath
            return stripped == path ? .expected : .wrongOwner
        }
    }

    /// "rsync.service (rsync[812])", "rsync[812] uid 1000", "pid 812 uid 1000".
    public var holderDescription: String {
        let shown = pid == 0 ? "?" : String(pid)   // 0: not in the daemon's pid namespace
        let process = command.map { "\($0.escapingControlCharacters)[\(shown)]" } ?? "pid \(shown)"
        if let unit { return "\(unit.escapingControlCharacters) (\(process))" }
        return "\(process) uid \(uid)"
    }
}

/// The most recent bind by an entry's owner the events showed, for `status` ("bound by
/// rsync.service (rsync[812]) at ...").
public struct OwnerBind: Codable, Hashable, Sendable {
    public var entry: String
    public var bind: BindEvent

    public init(entry: String, bind: BindEvent) {
        self.entry = entry
        self.bind = bind
    }
}
