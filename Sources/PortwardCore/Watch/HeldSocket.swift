/// A socket on a port of interest together with the processes holding it.
///
/// `holders` is empty for TIME_WAIT and request sockets (inode 0, no process holds them),
/// for sockets held only by the kernel (e.g. sunrpc's lockd), and for sockets whose holders
/// could not be read without root.
public struct HeldSocket: Hashable, Sendable, CustomStringConvertible {
    public var socket: SocketRecord
    /// By ascending pid.
    public var holders: [Holder]

    public init(socket: SocketRecord, holders: [Holder]) {
        self.socket = socket
        self.holders = holders
    }

    /// `tcp 0.0.0.0:22 LISTEN sshd[812] (ssh.service)`.
    public var description: String {
        ([socket.description] + holders.map(\.description)).joined(separator: " ")
    }
}
