/// A socket on a port of interest together with the processes holding it.
///
/// `holders` is empty for TIME_WAIT and request sockets (inode 0, no process holds them),
/// for sockets held only by the kernel (e.g. sunrpc's lockd), and for sockets whose holders
/// could not be read without root.
public struct HeldSocket: Hashable, Sendable, CustomStringConvertible {
    public var socket: SocketRecord
    /// By ascending pid.
    public var holders: [Holder]
    /// Whether `holders` can be the whole answer.
    public var attribution: Attribution

    /// How complete the /proc scan behind `holders` was.
    public enum Attribution: String, Hashable, Sendable, Codable {
        /// Every process in /proc could be read: `holders` is the whole answer (empty: no
        /// process holds the socket, e.g. a kernel socket, or it closed during the check).
        case complete
        /// Some processes' fds could not be read (another user's, without root or
        /// CAP_SYS_PTRACE).
        case needsRoot = "needs-root"
        /// /proc is mounted with `hidepid` (invisible or ptraceable): other users' processes
        /// are not even listed.
        case hidepid
        /// The /proc directory itself could not be read.
        case procUnreadable = "proc-unreadable"
    }

    public init(socket: SocketRecord, holders: [Holder], attribution: Attribution = .complete) {
        self.socket = socket
        self.holders = holders
        self.attribution = attribution
    }

    /// `tcp 0.0.0.0:22 LISTEN sshd[812] (ssh.service)`.
    public var description: String {
        ([socket.description] + holders.map(\.description)).joined(separator: " ")
    }
}
