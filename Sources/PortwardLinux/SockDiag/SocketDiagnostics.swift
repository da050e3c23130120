import PortwardCore
import SystemPackage

/// The sock_diag seam: the sockets of a network namespace whose local port is in a set.
/// `SockDiag` is the real one (netlink); tests pass a fake list.
public protocol SocketDiagnostics: AnyObject {
    /// The sockets of `protocols` and `families` whose local port is in `sourcePorts`, in
    /// dump order (protocol, family, kernel order). Throws the `Errno` of the dump.
    func sockets(protocols: ProtocolSet, families: [SocketRecord.Family], sourcePorts: PortSet) throws(Errno) -> [SocketRecord]
}

extension SockDiag: SocketDiagnostics {}
