/// One socket as reported by the kernel's sock_diag interface (`struct inet_diag_msg`,
/// linux/inet_diag.h), in the network namespace (netns) of the netlink socket that asked.
///
/// A pure value: addresses are kept as text (formatted by the Linux adapter with
/// `inet_ntop`), ports are in host byte order (the kernel sends them in network byte order;
/// the adapter converts). sock_diag gives no pid: who holds the socket is found separately
/// through `inode` (see `Holder`).
public struct SocketRecord: Hashable, Sendable, CustomStringConvertible {
    /// The address family of the socket. A dual-stack IPv6 socket (`::` without
    /// IPV6_V6ONLY) is reported once, as `.ipv6`.
    public enum Family: Hashable, Sendable, CustomStringConvertible {
        case ipv4, ipv6
        public var description: String {
            switch self {
            case .ipv4: "ipv4"
            case .ipv6: "ipv6"
            }
        }
    }

    /// The raw kernel socket state (`idiag_state`: the TCP state numbers of
    /// include/net/tcp_states.h, which UDP and SCTP sockets reuse).
    ///
    /// Unconnected UDP sockets are `close` (7), connected ones `established` (1); SCTP
    /// listening endpoints are `listen` (10).
    public struct State: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let established = State(rawValue: 1)
        public static let synSent = State(rawValue: 2)
        public static let synReceived = State(rawValue: 3)
        public static let finWait1 = State(rawValue: 4)
        public static let finWait2 = State(rawValue: 5)
        public static let timeWait = State(rawValue: 6)
        public static let close = State(rawValue: 7)
        public static let closeWait = State(rawValue: 8)
        public static let lastAck = State(rawValue: 9)
        public static let listen = State(rawValue: 10)
        public static let closing = State(rawValue: 11)
        public static let newSynReceived = State(rawValue: 12)
        public static let boundInactive = State(rawValue: 13)

        /// The kernel's name (`ESTABLISHED`, `TIME_WAIT`, `LISTEN`...), or `STATE_<n>`.
        public var description: String {
            let names = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
                         "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
                         "NEW_SYN_RECV", "BOUND_INACTIVE"]
            let i = Int(rawValue)
            return i > 0 && i < names.count ? names[i] : "STATE_\(rawValue)"
        }
    }

    public var transport: TransportProtocol
    public var family: Family
    /// Local address as text: `127.0.0.1`, `0.0.0.0`, `::`, `::ffff:10.0.0.1`.
    public var localAddress: String
    /// Local (source) port, host byte order.
    public var localPort: UInt16
    /// Remote address as text (`0.0.0.0` / `::` when unconnected).
    public var remoteAddress: String
    /// Remote (destination) port, host byte order; 0 when unconnected.
    public var remotePort: UInt16
    public var state: State
    /// Owner uid of the socket (`idiag_uid`), in the initial user namespace's numbering.
    public var uid: UInt32
    /// Socket inode (`idiag_inode`), the number in `/proc/PID/fd/N -> socket:[INODE]`.
    /// 0 for sockets no process holds: TIME_WAIT and request (NEW_SYN_RECV) sockets.
    public var inode: UInt64
    /// IPV6_V6ONLY of an IPv6 socket (the `INET_DIAG_SKV6ONLY` attribute); false for IPv4
    /// sockets and when the kernel did not say.
    public var v6Only: Bool

    public init(transport: TransportProtocol, family: Family, localAddress: String,
                localPort: UInt16, remoteAddress: String, remotePort: UInt16, state: State,
                uid: UInt32, inode: UInt64, v6Only: Bool = false) {
        self.transport = transport
        self.family = family
        self.localAddress = localAddress
        self.localPort = localPort
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.state = state
        self.uid = uid
        self.inode = inode
        self.v6Only = v6Only
    }

    /// The address families whose clients reach this socket: `[.ipv4]` for an IPv4 socket
    /// or an IPv4-mapped address (`::ffff:a.b.c.d`), `[.ipv6]` for a v6-only or a specific
    /// IPv6 address, both for a dual-stack `::` socket.
    public var servedFamilies: [Family] {
        switch family {
        case .ipv4: return [.ipv4]
        case .ipv6:
            if localAddress.lowercased().hasPrefix("::ffff:") && localAddress.contains(".") { return [.ipv4] }
            return localAddress == "::" && !v6Only ? [.ipv4, .ipv6] : [.ipv6]
        }
    }

    /// True for a socket serving its local port: TCP in LISTEN; UDP or SCTP without a peer
    /// (remote port 0), or SCTP in LISTEN.
    public var isListening: Bool {
        switch transport {
        case .tcp: state == .listen
        case .udp: remotePort == 0
        case .sctp: state == .listen || remotePort == 0
        }
    }

    /// True for a socket with a peer that is not listening: an outbound or accepted TCP
    /// connection in any state from SYN_SENT to TIME_WAIT, or a connected UDP socket. Such
    /// a socket still occupies its local port (a client that took a declared port is one).
    public var isConnected: Bool { remotePort != 0 && !isListening }

    /// `tcp 127.0.0.1:8080 LISTEN`, `udp [::]:53 CLOSE`, `tcp 10.0.0.1:40000->10.0.0.2:80 ESTABLISHED`.
    public var description: String {
        func endpoint(_ address: String, _ port: UInt16) -> String {
            family == .ipv6 ? "[\(address)]:\(port)" : "\(address):\(port)"
        }
        var text = "\(transport.rawValue) \(endpoint(localAddress, localPort))"
        if remotePort != 0 { text += "->\(endpoint(remoteAddress, remotePort))" }
        return text + " \(state)"
    }
}
