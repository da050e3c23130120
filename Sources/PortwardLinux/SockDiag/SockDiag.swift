import CLinux
import Glibc
import PortwardCore
import SystemPackage

/// A NETLINK_SOCK_DIAG client that dumps the TCP, UDP and SCTP sockets of a network
/// namespace (netns): the one the process is in when the `SockDiag` is created, since a
/// netlink socket belongs to the netns it was opened in.
///
/// Each dump is one `SOCK_DIAG_BY_FAMILY` request (`NLM_F_REQUEST|NLM_F_DUMP`) with a
/// `struct inet_diag_req_v2` (linux/inet_diag.h) per protocol and address family, asking
/// for every state (`idiag_states` all bits), so LISTEN, ESTABLISHED, TIME_WAIT and
/// unconnected UDP (CLOSE) sockets are all seen. An optional `InetDiagFilter` travels as the
/// `INET_DIAG_REQ_BYTECODE` attribute and is run by the kernel, so only matching sockets
/// cross into user space. Works unprivileged. The kernel reports no pid: use the `inode` of
/// each `SocketRecord` with `ProcFdScanner` to find holders.
///
/// One netlink socket is kept open and reused by every dump (the daemon dumps every poll);
/// after a failed dump it is closed and reopened by the next one, since the kernel refuses a
/// new dump (EBUSY) on a socket with an unfinished one. Not thread-safe: use one instance per
/// thread or actor.
public final class SockDiag {
    private var fd: Int32 = -1
    private var sequence: UInt32 = 0
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    /// Opens the netlink socket.
    ///
    /// - Throws: `Errno` from socket(2) (e.g. EAFNOSUPPORT without netlink, EMFILE).
    public init() throws(Errno) {
        try open()
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Dumps the sockets of `protocols` and `families` whose local port is in `sourcePorts`.
    ///
    /// Equivalent to `sockets(protocols:families:filter:)` with
    /// `InetDiagFilter(sourcePorts:)`. The result is exact even when the filter had to be
    /// coalesced (extra sockets are dropped here). An empty `sourcePorts` returns `[]`
    /// without asking the kernel.
    ///
    /// - Throws: `Errno`, see `sockets(protocols:families:filter:)`.
    public func sockets(protocols: ProtocolSet = .all,
                        families: [SocketRecord.Family] = [.ipv4, .ipv6],
                        sourcePorts: PortSet) throws(Errno) -> [SocketRecord] {
        if sourcePorts.isEmpty { return [] }
        let filter = InetDiagFilter(sourcePorts: sourcePorts)
        let records = try sockets(protocols: protocols, families: families, filter: filter)
        return filter.isExact ? records : records.filter { sourcePorts.contains($0.localPort) }
    }

    /// Dumps the sockets of `protocols` and `families`, all states, optionally filtered in
    /// the kernel by `filter`.
    ///
    /// Order: by protocol (tcp, udp, sctp), then family (as given), then as the kernel
    /// dumps them. SCTP gives `[]` when the kernel has no SCTP sock_diag support (the request
    /// fails with ENOENT, EINVAL, EPROTONOSUPPORT or EOPNOTSUPP).
    ///
    /// - Throws: `Errno`: from send(2)/recv(2) (EAGAIN after 5 s without a reply); the
    ///   kernel's error from an `NLMSG_ERROR` or `NLMSG_DONE` reply (e.g. EINVAL for a
    ///   program the validator refused, ENOENT when a protocol's diag module is missing);
    ///   EBADMSG for a malformed or truncated reply; EMSGSIZE for a datagram larger than
    ///   the 64 KiB receive buffer.
    public func sockets(protocols: ProtocolSet = .all,
                        families: [SocketRecord.Family] = [.ipv4, .ipv6],
                        filter: InetDiagFilter? = nil) throws(Errno) -> [SocketRecord] {
        var records: [SocketRecord] = []
        for transport in protocols.members {
            for family in families {
                do {
                    try dump(transport, family, filter, into: &records)
                } catch let error where transport == .sctp && Self.meansUnsupported(error) {
                    continue
                }
            }
        }
        return records
    }

    private static func meansUnsupported(_ error: Errno) -> Bool {
        [.noSuchFileOrDirectory, .invalidArgument, .protocolNotSupported,
         .notSupportedOnSocket].contains(error)
    }

    // MARK: - Socket

    private func open() throws(Errno) {
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let s = socket(AF_NETLINK, type, NETLINK_SOCK_DIAG)
        if s < 0 { throw Errno(rawValue: errno) }
        // A stuck dump must not hang the daemon's poll loop forever.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout,
                       socklen_t(MemoryLayout<timeval>.size))
        fd = s
    }

    /// Closes the socket after a failed dump; the next dump reopens it.
    private func discard() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    // MARK: - Request

    /// Header values (linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h), spelled out
    /// where the C macros are compound.
    private enum Netlink {
        static let headerSize = MemoryLayout<nlmsghdr>.size  // 16
        static let request: UInt16 = 0x01  // NLM_F_REQUEST
        static let dump: UInt16 = 0x300  // NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
        static let error: UInt16 = 0x02  // NLMSG_ERROR
        static let done: UInt16 = 0x03  // NLMSG_DONE
        static let sockDiagByFamily: UInt16 = 20  // SOCK_DIAG_BY_FAMILY
        static let requestBytecode: UInt16 = 1  // INET_DIAG_REQ_BYTECODE
        static let allStates: UInt32 = 0xFFFF_FFFF

        /// NLMSG_ALIGN / NLA_ALIGN: round up to 4 bytes.
        static func align(_ length: Int) -> Int { (length + 3) & ~3 }
    }

    private static func protocolNumber(_ transport: TransportProtocol) -> UInt8 {
        switch transport {
        case .tcp: 6  // IPPROTO_TCP
        case .udp: 17  // IPPROTO_UDP
        case .sctp: 132  // IPPROTO_SCTP
        }
    }

    private static func append<T>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    private func requestMessage(_ transport: TransportProtocol, _ family: SocketRecord.Family,
                                _ filter: InetDiagFilter?) -> [UInt8] {
        var req = inet_diag_req_v2()
        req.sdiag_family = UInt8(family == .ipv4 ? AF_INET : AF_INET6)
        req.sdiag_protocol = Self.protocolNumber(transport)
        req.idiag_states = Netlink.allStates
        var payload: [UInt8] = []
        Self.append(req, to: &payload)
        if let filter {
            let attributeLength = 4 + filter.bytecode.count  // struct nlattr + program
            Self.append(UInt16(attributeLength), to: &payload)
            Self.append(Netlink.requestBytecode, to: &payload)
            payload += filter.bytecode
            payload += [UInt8](repeating: 0, count: Netlink.align(attributeLength) - attributeLength)
        }
        var header = nlmsghdr()
        header.nlmsg_len = UInt32(Netlink.headerSize + payload.count)
        header.nlmsg_type = Netlink.sockDiagByFamily
        header.nlmsg_flags = Netlink.request | Netlink.dump
        header.nlmsg_seq = sequence
        header.nlmsg_pid = 0
        var message: [UInt8] = []
        Self.append(header, to: &message)
        return message + payload
    }

    // MARK: - Dump

    private func dump(_ transport: TransportProtocol, _ family: SocketRecord.Family,
                      _ filter: InetDiagFilter?, into records: inout [SocketRecord]) throws(Errno) {
        if fd < 0 { try open() }
        sequence &+= 1
        let message = requestMessage(transport, family, filter)
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        let sent = message.withUnsafeBytes { bytes in
            withUnsafePointer(to: &kernel) { address in
                address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0,
                           socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
        }
        if sent < 0 {
            let error = Errno(rawValue: errno)
            discard()
            throw error
        }
        do {
            try receive(transport, into: &records)
        } catch {
            discard()
            throw error
        }
    }

    /// Reads reply datagrams until NLMSG_DONE of the current sequence number.
    private func receive(_ transport: TransportProtocol,
                         into records: inout [SocketRecord]) throws(Errno) {
        while true {
            let capacity = buffer.count
            // MSG_TRUNC: the return value is the datagram's full length, so truncation shows.
            let received = buffer.withUnsafeMutableBytes {
                recv(fd, $0.baseAddress, capacity, Int32(MSG_TRUNC))
            }
            if received < 0 {
                if errno == EINTR { continue }
                throw Errno(rawValue: errno)
            }
            if received > capacity { throw Errno.messageTooLong }
            let outcome = buffer.withUnsafeBytes { bytes in
                Result { () throws(Errno) -> Bool in
                    try Self.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<received]),
                                   sequence: sequence, transport, into: &records)
                }
            }
            if try outcome.get() { return }
        }
    }

    /// Parses one datagram of netlink messages; true once NLMSG_DONE is seen. Messages of
    /// another sequence number (left over from an earlier dump) are skipped. Every length
    /// is checked against the datagram: a truncated or malformed one throws EBADMSG.
    static func parse(_ datagram: UnsafeRawBufferPointer, sequence: UInt32,
                      _ transport: TransportProtocol,
                      into records: inout [SocketRecord]) throws(Errno) -> Bool {
        var offset = 0
        while datagram.count - offset >= Netlink.headerSize {
            let header = datagram.loadUnaligned(fromByteOffset: offset, as: nlmsghdr.self)
            let length = Int(header.nlmsg_len)
            guard length >= Netlink.headerSize, length <= datagram.count - offset else {
                throw Errno.badMessage
            }
            let payload = UnsafeRawBufferPointer(
                rebasing: datagram[(offset + Netlink.headerSize)..<(offset + length)])
            offset += min(Netlink.align(length), datagram.count - offset)
            guard header.nlmsg_seq == sequence else { continue }
            switch header.nlmsg_type {
            case Netlink.done:
                // The payload is an int: 0, or the negative errno that cut the dump short.
                if payload.count >= 4 {
                    let status = payload.loadUnaligned(as: Int32.self)
                    if status < 0 { throw Self.kernelError(status) }
                }
                return true
            case Netlink.error:
                // struct nlmsgerr: int error (negative errno; 0 is an acknowledgement).
                guard payload.count >= 4 else { throw Errno.badMessage }
                let status = payload.loadUnaligned(as: Int32.self)
                if status < 0 { throw Self.kernelError(status) }
            case Netlink.sockDiagByFamily:
                if let record = try Self.record(payload, transport) { records.append(record) }
            default:
                continue  // NLMSG_NOOP, NLMSG_OVERRUN: nothing to read
            }
        }
        if offset != datagram.count { throw Errno.badMessage }
        return false
    }

    /// The `Errno` of a kernel status `-errno`; EBADMSG for one that cannot be negated.
    private static func kernelError(_ status: Int32) -> Errno {
        status == Int32.min ? .badMessage : Errno(rawValue: -status)
    }

    /// Decodes a `struct inet_diag_msg`; of the trailing attributes only
    /// `INET_DIAG_SKV6ONLY` (sent for every IPv6 socket) is read. Nil for a family other
    /// than AF_INET/AF_INET6.
    private static func record(_ payload: UnsafeRawBufferPointer,
                               _ transport: TransportProtocol) throws(Errno) -> SocketRecord? {
        guard payload.count >= MemoryLayout<inet_diag_msg>.size else { throw Errno.badMessage }
        let msg = payload.loadUnaligned(as: inet_diag_msg.self)
        let family: SocketRecord.Family
        switch Int32(msg.idiag_family) {
        case AF_INET: family = .ipv4
        case AF_INET6: family = .ipv6
        default: return nil
        }
        return SocketRecord(
            transport: transport,
            family: family,
            localAddress: addressText(msg.id.idiag_src, family),
            localPort: UInt16(bigEndian: msg.id.idiag_sport),
            remoteAddress: addressText(msg.id.idiag_dst, family),
            remotePort: UInt16(bigEndian: msg.id.idiag_dport),
            state: SocketRecord.State(rawValue: msg.idiag_state),
            uid: msg.idiag_uid,
            inode: UInt64(msg.idiag_inode),
            v6Only: family == .ipv6 && v6OnlyAttribute(payload))
    }

    /// The u8 of the `INET_DIAG_SKV6ONLY` attribute after the message; false when absent.
    /// A malformed attribute list ends the walk (the attributes are optional).
    static func v6OnlyAttribute(_ payload: UnsafeRawBufferPointer) -> Bool {
        var offset = Netlink.align(MemoryLayout<inet_diag_msg>.size)
        while payload.count - offset >= 4 {
            let length = Int(payload.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let type = payload.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self) & 0x3FFF
            guard length >= 4, length <= payload.count - offset else { return false }
            if type == UInt16(INET_DIAG_SKV6ONLY), length >= 5 {
                return payload.load(fromByteOffset: offset + 4, as: UInt8.self) != 0
            }
            offset += Netlink.align(length)
        }
        return false
    }

    /// `inet_ntop` of an `idiag_src`/`idiag_dst` field (network byte order; an IPv4 address
    /// is the first 4 bytes).
    private static func addressText(_ address: (UInt32, UInt32, UInt32, UInt32),
                                    _ family: SocketRecord.Family) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let capacity = socklen_t(text.count)
        let ok = withUnsafeBytes(of: address) { raw in
            text.withUnsafeMutableBufferPointer {
                inet_ntop(family == .ipv4 ? AF_INET : AF_INET6, raw.baseAddress,
                          $0.baseAddress, capacity) != nil
            }
        }
        guard ok else { return "?" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) },
                      as: UTF8.self)
    }
}
