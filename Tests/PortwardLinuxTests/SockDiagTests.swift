import Glibc
import PortwardCore
@testable import PortwardLinux
import SystemPackage
import Testing

/// Real sock_diag dumps of loopback sockets opened by the test process.
@Suite struct SockDiagTests {
    @Test func findsListenerUDPAndClientOnFilteredPortsOnly() throws {
        let listener = TestSocket.listener()
        let udp = TestSocket.bound(tcp: false)
        let (client, server) = TestSocket.connection(to: listener)
        let decoy = TestSocket.listener()
        let decoyUDP = TestSocket.bound(tcp: false)

        let diag = try SockDiag()
        let ports = PortSet([listener.port, udp.port, client.port])
        let records = try diag.sockets(sourcePorts: ports)

        let byInode = Dictionary(records.map { ($0.inode, $0) }, uniquingKeysWith: { a, _ in a })
        let listening = try #require(byInode[listener.inode])
        #expect(listening.transport == .tcp)
        #expect(listening.family == .ipv4)
        #expect(listening.state == .listen)
        #expect(listening.localAddress == "127.0.0.1")
        #expect(listening.localPort == listener.port)
        #expect(listening.remotePort == 0)
        #expect(listening.uid == getuid())
        #expect(listening.isListening && !listening.isConnected)

        let unconnected = try #require(byInode[udp.inode])
        #expect(unconnected.transport == .udp)
        #expect(unconnected.state == .close)
        #expect(unconnected.localPort == udp.port)
        #expect(unconnected.isListening && !unconnected.isConnected)

        let outbound = try #require(byInode[client.inode])
        #expect(outbound.transport == .tcp)
        #expect(outbound.state == .established)
        #expect(outbound.localPort == client.port)
        #expect(outbound.remoteAddress == "127.0.0.1")
        #expect(outbound.remotePort == listener.port)
        #expect(outbound.isConnected && !outbound.isListening)

        // The accepted side has the listener's port as its local port.
        let accepted = try #require(byInode[server.inode])
        #expect(accepted.localPort == listener.port && accepted.remotePort == client.port)

        // The kernel applied the bytecode: nothing from other ports.
        #expect(records.allSatisfy { ports.contains($0.localPort) })
        #expect(byInode[decoy.inode] == nil)
        #expect(byInode[decoyUDP.inode] == nil)
        #expect(records.count == 4)
    }

    @Test func unfilteredDumpSeesEverySocket() throws {
        let listener = TestSocket.listener()
        let udp = TestSocket.bound(tcp: false)
        let records = try SockDiag().sockets()
        let inodes = Set(records.map(\.inode))
        #expect(inodes.contains(listener.inode))
        #expect(inodes.contains(udp.inode))
    }

    @Test func ipv6SocketsComeFromTheIPv6Dump() throws {
        let listener = TestSocket.listener(ipv6: true)
        let udp = TestSocket.bound(tcp: false, ipv6: true)
        let diag = try SockDiag()
        let v6 = try diag.sockets(families: [.ipv6], sourcePorts: PortSet([listener.port, udp.port]))
        let tcp = try #require(v6.first { $0.inode == listener.inode })
        #expect(tcp.family == .ipv6 && tcp.localAddress == "::1" && tcp.state == .listen)
        #expect(v6.contains { $0.inode == udp.inode && $0.transport == .udp })
        let v4 = try diag.sockets(families: [.ipv4], sourcePorts: PortSet([listener.port, udp.port]))
        #expect(!v4.contains { $0.inode == listener.inode || $0.inode == udp.inode })
    }

    @Test func protocolSelection() throws {
        let listener = TestSocket.listener()
        let udp = TestSocket.bound(tcp: false)
        let ports = PortSet([listener.port, udp.port])
        let diag = try SockDiag()
        let tcpOnly = try diag.sockets(protocols: .tcp, sourcePorts: ports)
        #expect(tcpOnly.map(\.inode) == [listener.inode])
        let udpOnly = try diag.sockets(protocols: .udp, sourcePorts: ports)
        #expect(udpOnly.map(\.inode) == [udp.inode])
    }

    @Test func manyRangesDeepTreeIsAcceptedByTheKernel() throws {
        let listener = TestSocket.listener()
        let decoy = TestSocket.listener()
        // 600 single ports around the listener's, never the decoy's.
        var ports = PortSet([listener.port])
        var p = 1025
        while ports.ranges.count < 600 {
            if UInt16(p) != decoy.port && UInt16(p) != listener.port { ports.insert(UInt16(p)) }
            p += 7
        }
        let filter = InetDiagFilter(sourcePorts: ports)
        #expect(filter.isExact)
        let records = try SockDiag().sockets(protocols: .tcp, filter: filter)
        #expect(records.contains { $0.inode == listener.inode })
        #expect(!records.contains { $0.inode == decoy.inode })
    }

    @Test func largestProgramIsAcceptedAndCoalescedResultsAreExact() throws {
        let listener = TestSocket.listener()
        let other = TestSocket.listener()
        // Every other port except the other listener's: coalesced to the 3,276-range maximum.
        var ports = PortSet((0..<32_768).map { UInt16(2 * $0 + 1) })
        ports.insert(listener.port)
        ports.remove(other.port)
        let filter = InetDiagFilter(sourcePorts: ports)
        #expect(!filter.isExact)
        #expect(filter.bytecode.count > 65_000)
        let diag = try SockDiag()
        // The raw filtered dump may contain extra ports; the PortSet variant drops them.
        _ = try diag.sockets(protocols: .tcp, filter: filter)
        let records = try diag.sockets(protocols: .tcp, sourcePorts: ports)
        #expect(records.contains { $0.inode == listener.inode })
        #expect(!records.contains { $0.inode == other.inode })
        #expect(records.allSatisfy { ports.contains($0.localPort) })
    }

    @Test func sctpWithoutKernelSupportIsEmptyNotAnError() throws {
        // Here SCTP may be absent (ENOENT from the dump): that must read as "no sockets".
        let records = try SockDiag().sockets(protocols: .sctp)
        #expect(records.allSatisfy { $0.transport == .sctp })
    }

    @Test func emptyPortSetAsksNothing() throws {
        #expect(try SockDiag().sockets(sourcePorts: PortSet()).isEmpty)
    }

    @Test func rejectAllProgramReturnsNothing() throws {
        let listener = TestSocket.listener()
        _ = listener
        let records = try SockDiag().sockets(filter: InetDiagFilter(sourcePorts: [PortRange]()))
        #expect(records.isEmpty)
    }

    @Test func oneSocketServesManyDumps() throws {
        let diag = try SockDiag()
        let listener = TestSocket.listener()
        for _ in 0..<50 {
            let records = try diag.sockets(protocols: .tcp, sourcePorts: PortSet([listener.port]))
            #expect(records.map(\.inode) == [listener.inode])
        }
    }

    @Test func timeWaitSocketHasNoInode() throws {
        let listener = TestSocket.listener()
        var (client, server) = TestSocket.connection(to: listener) as (TestSocket?, TestSocket?)
        let clientPort = client!.port
        client = nil  // active close: the client side ends in TIME_WAIT
        server = nil
        _ = (client, server)
        let diag = try SockDiag()
        var states: [SocketRecord] = []
        // The FIN exchange on loopback finishes in softirq context; wait for the state
        // without a clock, by re-dumping a bounded number of times.
        for _ in 0..<1_000 {
            states = try diag.sockets(protocols: .tcp, sourcePorts: PortSet([clientPort]))
                .filter { $0.remotePort == listener.port }
            if states.contains(where: { $0.state == .timeWait }) { break }
            sched_yield()
        }
        let timeWait = try #require(states.first { $0.state == .timeWait })
        #expect(timeWait.inode == 0)
        #expect(timeWait.isConnected && !timeWait.isListening)
    }
}

/// The reply parser on crafted datagrams: malformed input throws, never crashes.
@Suite struct SockDiagParseTests {
    static func host<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value) { Array($0) }
    }

    /// A netlink message: `struct nlmsghdr` + payload, padded to 4 bytes.
    static func message(type: UInt16, sequence: UInt32 = 7, _ payload: [UInt8],
                        length: Int? = nil) -> [UInt8] {
        let total = length ?? 16 + payload.count
        var bytes = host(UInt32(total)) + host(type) + host(UInt16(0x02)) + host(sequence)
            + host(UInt32(0))
        bytes += payload
        while bytes.count % 4 != 0 { bytes.append(0) }
        return bytes
    }

    /// A `struct inet_diag_msg` for 127.0.0.1:port LISTEN, AF_INET.
    static func diagMessage(port: UInt16, inode: UInt32, family: UInt8 = 2) -> [UInt8] {
        var msg = [UInt8](repeating: 0, count: 72)
        msg[0] = family
        msg[1] = 10  // LISTEN
        msg[4] = UInt8(port >> 8)
        msg[5] = UInt8(port & 0xFF)  // network byte order
        msg[8] = 127
        msg[11] = 1
        msg.replaceSubrange(64..<68, with: host(UInt32(1000)))
        msg.replaceSubrange(68..<72, with: host(inode))
        return msg
    }

    static func parse(_ datagram: [UInt8], sequence: UInt32 = 7)
        throws(Errno) -> (done: Bool, records: [SocketRecord]) {
        var records: [SocketRecord] = []
        let result = datagram.withUnsafeBytes { bytes in
            Result { () throws(Errno) -> Bool in
                try SockDiag.parse(bytes, sequence: sequence, .tcp, into: &records)
            }
        }
        let done = try result.get()
        return (done, records)
    }

    @Test func decodesRecordsAndDone() throws {
        let datagram = Self.message(type: 20, Self.diagMessage(port: 8080, inode: 4242))
            + Self.message(type: 20, sequence: 6, Self.diagMessage(port: 1, inode: 1))  // stale
            + Self.message(type: 20, Self.diagMessage(port: 9, inode: 5, family: 1))  // AF_UNIX
            + Self.message(type: 3, Self.host(Int32(0)))
        let (done, records) = try Self.parse(datagram)
        #expect(done)
        #expect(records == [SocketRecord(transport: .tcp, family: .ipv4, localAddress: "127.0.0.1",
                                         localPort: 8080, remoteAddress: "0.0.0.0", remotePort: 0,
                                         state: .listen, uid: 1000, inode: 4242)])
        let partial = try Self.parse(Self.message(type: 20, Self.diagMessage(port: 1, inode: 1)))
        #expect(!partial.done && partial.records.count == 1)
    }

    static let failures: [(String, [UInt8], Errno)] = [
        ("NLMSG_ERROR", message(type: 2, host(Int32(-22)) + [UInt8](repeating: 0, count: 16)),
         .invalidArgument),
        ("NLMSG_DONE with error", message(type: 3, host(Int32(-105))), .noBufferSpace),
        ("NLMSG_ERROR INT_MIN", message(type: 2, host(Int32.min) + [UInt8](repeating: 0, count: 16)),
         .badMessage),
        ("short NLMSG_ERROR", message(type: 2, [0, 0]), .badMessage),
        ("length below header", message(type: 20, [], length: 8), .badMessage),
        ("length past datagram", message(type: 20, diagMessage(port: 1, inode: 1), length: 4096),
         .badMessage),
        ("short inet_diag_msg", message(type: 20, Array(diagMessage(port: 1, inode: 1)[..<40])),
         .badMessage),
        ("trailing bytes", message(type: 20, diagMessage(port: 1, inode: 1)) + [1, 2, 3, 4],
         .badMessage),
    ]

    @Test(arguments: failures)
    func malformedRepliesThrow(name: String, datagram: [UInt8], error: Errno) {
        #expect(throws: error) { try Self.parse(datagram) }
    }

    @Test func everyTruncationAndCorruptionIsHandled() {
        let valid = Self.message(type: 20, Self.diagMessage(port: 80, inode: 1))
            + Self.message(type: 20, Self.diagMessage(port: 81, inode: 2))
            + Self.message(type: 3, Self.host(Int32(0)))
        for cut in 0..<valid.count {
            let prefix = Array(valid[..<cut])
            // A cut on a message boundary is a shorter valid datagram; any other cut throws.
            if let parsed = try? Self.parse(prefix) {
                #expect(!parsed.done && [0, 88, 176].contains(cut), "cut at \(cut)")
            }
        }
        var state: UInt64 = 1  // deterministic corruption: a 64-bit LCG
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % bound
        }
        for _ in 0..<5_000 {
            var corrupt = valid
            for _ in 0..<3 { corrupt[next(corrupt.count)] = UInt8(next(256)) }
            _ = try? Self.parse(corrupt)  // must return or throw, never trap
        }
    }
}

/// Issue 11 item 4: which address families an IPv6 socket serves needs IPV6_V6ONLY.
@Suite struct SockDiagV6OnlyTests {
    /// A TCP listener on [::], ephemeral port, with IPV6_V6ONLY set or cleared.
    static func wildcardListener(v6Only: Bool) -> TestSocket {
        let socket = TestSocket(fd: Glibc.socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0))
        var flag: Int32 = v6Only ? 1 : 0
        precondition(setsockopt(socket.fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &flag, socklen_t(MemoryLayout<Int32>.size)) == 0)
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_any
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
        precondition(rc == 0 && listen(socket.fd, 8) == 0, "bind/listen: errno \(errno)")
        return socket
    }

    @Test func v6OnlyComesFromTheKernel() throws {
        let only = Self.wildcardListener(v6Only: true)
        let dual = Self.wildcardListener(v6Only: false)
        let records = try SockDiag().sockets(families: [.ipv6], sourcePorts: PortSet([only.port, dual.port]))
        let onlyRecord = try #require(records.first { $0.inode == only.inode })
        let dualRecord = try #require(records.first { $0.inode == dual.inode })
        #expect(onlyRecord.v6Only && onlyRecord.servedFamilies == [.ipv6])
        #expect(!dualRecord.v6Only && dualRecord.servedFamilies == [.ipv4, .ipv6])
    }
}
