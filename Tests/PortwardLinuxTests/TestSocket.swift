import Glibc

/// Loopback sockets for the sock_diag and /proc tests, closed on deinit. Binding to
/// 127.0.0.1:0 / [::1]:0 changes no setting and reaches nothing outside the host.
final class TestSocket {
    let fd: Int32
    private var isOpen = true

    init(fd: Int32) {
        precondition(fd >= 0, "socket: errno \(errno)")
        self.fd = fd
    }

    deinit { closeNow() }

    /// Closes the socket now (once; deinit then does nothing).
    func closeNow() {
        if isOpen { close(fd) }
        isOpen = false
    }

    /// A TCP or UDP socket bound to an ephemeral port on 127.0.0.1 (or ::1).
    static func bound(tcp: Bool, ipv6: Bool = false) -> TestSocket {
        let type = Int32((tcp ? SOCK_STREAM : SOCK_DGRAM).rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let socket = TestSocket(fd: Glibc.socket(ipv6 ? AF_INET6 : AF_INET, type, 0))
        let rc: Int32
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_addr = in6addr_loopback
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        precondition(rc == 0, "bind: errno \(errno)")
        return socket
    }

    /// A TCP listener on 127.0.0.1 (or ::1), ephemeral port.
    static func listener(ipv6: Bool = false) -> TestSocket {
        let socket = bound(tcp: true, ipv6: ipv6)
        precondition(listen(socket.fd, 8) == 0, "listen: errno \(errno)")
        return socket
    }

    /// A TCP client connected to `listener` (IPv4), and the accepted server side.
    static func connection(to listener: TestSocket) -> (client: TestSocket, server: TestSocket) {
        let client = TestSocket(fd: Glibc.socket(AF_INET,
                                                 Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = listener.port.bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(client.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        precondition(rc == 0, "connect: errno \(errno)")
        let server = TestSocket(fd: accept(listener.fd, nil, nil))
        _ = fcntl(server.fd, F_SETFD, FD_CLOEXEC)
        return (client, server)
    }

    /// Local port, host byte order (getsockname).
    var port: UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(fd, $0, &length)
            }
        }
        precondition(rc == 0, "getsockname: errno \(errno)")
        // sin_port and sin6_port are both at offset 2.
        return withUnsafeBytes(of: storage) {
            UInt16(bigEndian: $0.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        }
    }

    /// The socket's inode (fstat st_ino), as in `socket:[INODE]`.
    var inode: UInt64 {
        var info = stat()
        precondition(fstat(fd, &info) == 0, "fstat: errno \(errno)")
        return UInt64(info.st_ino)
    }
}
