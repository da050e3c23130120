/// A process holding a socket: one whose `/proc/PID/fd` has a link to `socket:[INODE]`.
///
/// Several processes can hold the same socket (a forked prefork server, an inherited
/// listener); each is one `Holder`.
public struct Holder: Hashable, Sendable, CustomStringConvertible {
    /// Process id, in the pid namespace of the /proc that was read.
    public var pid: Int32
    /// The process name from `/proc/PID/comm` (at most 15 bytes, as the kernel truncates).
    public var command: String
    /// The executable from `readlink /proc/PID/exe`; nil when unreadable (another user's
    /// process without CAP_SYS_PTRACE, a kernel thread) or gone.
    public var executablePath: String?
    /// The systemd unit (`sd_pid_get_unit`), e.g. `freeradius.service`; nil outside units.
    public var unit: String?
    /// Real uid from the `Uid:` line of `/proc/PID/status`.
    public var uid: UInt32
    /// When the process started, CLOCK_REALTIME seconds (field 22 `starttime` of
    /// `/proc/PID/stat`, clock ticks since boot, plus `btime` of `/proc/stat`; about one
    /// second accurate); nil when unknown.
    public var startedAt: Double?

    public init(pid: Int32, command: String, executablePath: String?, unit: String?,
                uid: UInt32, startedAt: Double? = nil) {
        self.pid = pid
        self.command = command
        self.executablePath = executablePath
        self.unit = unit
        self.uid = uid
        self.startedAt = startedAt
    }

    /// True for the service manager: PID 1 of the pid namespace that was read (systemd).
    /// It holds the listening sockets of socket units (socket activation) and passes them
    /// to their services, so for a `unit:` owner its socket counts as the owner's.
    public var isServiceManager: Bool { pid == 1 }

    /// `sshd[812] (ssh.service)`, control characters escaped (`escapingControlCharacters`).
    public var description: String {
        ("\(command)[\(pid)]" + (unit.map { " (\($0))" } ?? "")).escapingControlCharacters
    }
}
