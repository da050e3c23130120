import Glibc
import PortwardCore
import PortwardLinux
import SystemPackage

/// The hold fallback's sockets as the daemon uses them: a seam, `PortHold` in production
/// (`SystemPortHolder`), a fake in tests.
public protocol PortHolder: AnyObject {
    /// Binds `port` of `transport` on every local address (PortHold.bind); returns a token
    /// (the descriptor) to release it with. Throws the errno (EADDRINUSE: someone else has it).
    func hold(_ transport: TransportProtocol, port: UInt16) throws(Errno) -> Int32
    /// Closes the socket `token` names: the port is free when this returns.
    func release(_ token: Int32)
    /// The socket inode of `token` (as sock_diag reports it), so the daemon does not take
    /// its own held sockets for conflicts; nil when unknown.
    func inode(of token: Int32) -> UInt64?
    /// How many sockets this process may hold at most (from its RLIMIT_NOFILE, raised to
    /// its hard limit first), leaving room for its other descriptors.
    func capacity() -> Int
}

/// `PortHold` and close(2).
public final class SystemPortHolder: PortHolder {
    /// Descriptors kept for everything else the daemon opens (netlink, /proc, the journal,
    /// BPF maps, inotify).
    static let reserve = 512

    public init() {}

    public func hold(_ transport: TransportProtocol, port: UInt16) throws(Errno) -> Int32 {
        try PortHold.bind(transport, port: port).descriptor
    }

    public func release(_ token: Int32) { close(token) }

    public func inode(of token: Int32) -> UInt64? {
        var st = stat()
        return fstat(token, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    public func capacity() -> Int {
        max(0, Int(min(PortHold.raiseDescriptorLimit(), UInt64(Int32.max))) - Self.reserve)
    }
}
