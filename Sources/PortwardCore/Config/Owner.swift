/// Who is expected to hold a declared port: the OWNER column.
///
/// `unit:NAME` matches a process whose systemd unit (sd_pid_get_unit) is NAME;
/// `exe:PATH` matches a process whose /proc/PID/exe is PATH; `user:NAME` or `user:UID`
/// matches a socket owned by that user. `.any` (`-` or an omitted column) accepts any
/// listener.
public enum Owner: Hashable, Sendable, CustomStringConvertible {
    case any
    case unit(String)
    case exe(String)
    case user(UserReference)

    /// A user given by name (resolved through NSS at check time) or by numeric uid.
    public enum UserReference: Hashable, Sendable, CustomStringConvertible {
        case name(String)
        case uid(UInt32)
        public var description: String {
            switch self {
            case .name(let n): n
            case .uid(let u): String(u)
            }
        }
    }

    /// The configuration syntax: `unit:freeradius.service`, `exe:/usr/bin/rsync`,
    /// `user:keystone`, or `-`.
    public var description: String {
        switch self {
        case .any: "-"
        case .unit(let n): "unit:\(n)"
        case .exe(let p): "exe:\(p)"
        case .user(let u): "user:\(u)"
        }
    }
}
