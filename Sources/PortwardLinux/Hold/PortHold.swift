import Glibc
import PortwardCore
import SystemPackage

/// The hold fallback's sockets (docs/guard.md, "Hold fallback"): a port bound by portward
/// itself, so that no one else can bind it while its owner is not running.
///
/// One socket per port and protocol: TCP (and SCTP) a bound socket that never listens (it
/// accepts nothing, yet its bind conflicts with every other bind of the port), UDP a bound
/// datagram socket. Neither SO_REUSEADDR nor SO_REUSEPORT, so another bind (even one that
/// sets them) gets EADDRINUSE. IPv6 dual-stack (`[::]`, IPV6_V6ONLY=0) covers IPv4 and
/// IPv6 at once; when IPv6 is off (no AF_INET6, `ipv6.disable=1`, or `[::]` not bindable)
/// the socket is IPv4 (`0.0.0.0`) only. Close-on-exec, and the smallest receive buffer the
/// kernel allows (SO_RCVBUF 1: a held UDP port may get datagrams; they are dropped).
public enum PortHold {
    /// How a held socket covers the port.
    public enum Family: String, Sendable {
        /// `[::]` with IPV6_V6ONLY=0: IPv6 and IPv4 (v4-mapped).
        case dualStack = "dual-stack"
        /// `0.0.0.0` only (IPv6 is off on this host or in this namespace).
        case ipv4
    }

    /// Binds `port` of `transport` on every local address. Returns the descriptor (the
    /// caller closes it to release the port) and how it covers the port. Throws the errno:
    /// EADDRINUSE when someone else holds the port (on either family), EACCES for a port
    /// below net.ipv4.ip_unprivileged_port_start without CAP_NET_BIND_SERVICE,
    /// EPROTONOSUPPORT for SCTP without the sctp module.
    public static func bind(_ transport: TransportProtocol, port: UInt16) throws(Errno) -> (descriptor: Int32, family: Family) {
        do {
            return (try open(transport, port: port, ipv6: true), .dualStack)
        } catch {
            switch error {
            // No IPv6 here: IPv4 only. Any other error (EADDRINUSE...) is the answer.
            case .addressFamilyNotSupported, .addressNotAvailable:
                return (try open(transport, port: port, ipv6: false), .ipv4)
            default:
                throw error
            }
        }
    }

    private static func open(_ transport: TransportProtocol, port: UInt16, ipv6: Bool) throws(Errno) -> Int32 {
        let type: Int32, proto: Int32
        switch transport {
        case .tcp: (type, proto) = (Int32(SOCK_STREAM.rawValue), Int32(IPPROTO_TCP))
        case .udp: (type, proto) = (Int32(SOCK_DGRAM.rawValue), Int32(IPPROTO_UDP))
        case .sctp: (type, proto) = (Int32(SOCK_STREAM.rawValue), 132)  // IPPROTO_SCTP
        }
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), proto)
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        var one: Int32 = 1, zero: Int32 = 0
        // The kernel doubles the value and raises it to its minimum (SOCK_MIN_RCVBUF).
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc: Int32
        if ipv6 {
            guard setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                let error = Errno(rawValue: errno)
                close(fd)
                throw error
            }
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = in6addr_any
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = 0
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard rc == 0 else {
            let error = Errno(rawValue: errno)
            close(fd)
            throw error
        }
        return fd
    }

    /// Raises this process's soft RLIMIT_NOFILE to its hard limit (when a seccomp filter
    /// refuses setrlimit, nothing changes). Returns the soft limit now in force.
    @discardableResult
    public static func raiseDescriptorLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }

    private static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
