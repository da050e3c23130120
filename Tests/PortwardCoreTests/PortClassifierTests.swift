import Testing
@testable import PortwardCore

@Suite struct PortClassifierTests {
    static func socket(_ transport: TransportProtocol = .tcp, port: UInt16 = 1812, state: SocketRecord.State,
                       remotePort: UInt16 = 0, uid: UInt32 = 0, inode: UInt64 = 1) -> SocketRecord {
        SocketRecord(transport: transport, family: .ipv4, localAddress: "0.0.0.0", localPort: port,
                     remoteAddress: remotePort == 0 ? "0.0.0.0" : "10.0.0.1", remotePort: remotePort,
                     state: state, uid: uid, inode: inode)
    }

    static let listener = socket(state: .listen, uid: 106)
    static let udpListener = socket(.udp, state: .close, uid: 106)
    static let outbound = socket(state: .established, remotePort: 443)
    static let timeWait = socket(state: .timeWait, remotePort: 443, inode: 0)
    static let radiusd = Holder(pid: 812, command: "freeradius", executablePath: "/usr/sbin/freeradius",
                                unit: "freeradius.service", uid: 106)
    static let named = Holder(pid: 900, command: "named", executablePath: "/usr/sbin/named (deleted)",
                              unit: "named.service", uid: 107)

    /// owner × socket → verdict
    @Test(arguments: [
        (Owner.any, listener, [Holder](), false, SocketFinding.Verdict.expected),
        (.any, outbound, [], false, .ephemeralGrab),
        (.any, timeWait, [], false, .ephemeralGrab),
        (.any, outbound, [], true, .accepted),
        (.unit("freeradius.service"), listener, [radiusd], false, .expected),
        (.unit("freeradius.socket"), listener, [radiusd], false, .wrongOwner),
        (.unit("freeradius.service"), listener, [named], false, .wrongOwner),
        (.unit("freeradius.service"), listener, [named, radiusd], false, .expected),
        (.unit("freeradius.service"), listener, [], false, .unattributed),
        (.unit("freeradius.service"), udpListener, [named], false, .wrongOwner),
        (.unit("freeradius.service"), outbound, [radiusd], false, .ephemeralGrab),
        (.exe("/usr/sbin/freeradius"), listener, [radiusd], false, .expected),
        (.exe("/usr/sbin/named"), listener, [named], false, .expected),
        (.exe("/usr/sbin/freeradius"), listener, [named], false, .wrongOwner),
        (.user(.uid(106)), listener, [], false, .expected),
        (.user(.uid(0)), listener, [], false, .wrongOwner),
        (.user(.name("freerad")), listener, [], false, .expected),
        (.user(.name("nobody-known")), listener, [], false, .unattributed),
    ])
    func verdict(owner: Owner, socket: SocketRecord, holders: [Holder], hasListener: Bool,
                 expected: SocketFinding.Verdict) {
        let held = HeldSocket(socket: socket, holders: holders)
        #expect(PortClassifier.verdict(held, owner: owner, hasListener: hasListener,
                                       userIDs: ["freerad": 106]) == expected)
    }

    static func config(_ owner: Owner, protocols: ProtocolSet = [.tcp]) -> Configuration {
        Configuration(entries: [PortEntry(
            name: "radius", ports: PortSet(ranges: [PortRange(1812, 1813)]), portsText: "1812-1813",
            protocols: protocols, owner: owner, location: SourceLocation(file: "f", line: 1))])
    }

    @Test func entryStates() {
        let reserved = PortSet(ranges: [PortRange(1812, 1813)])
        let owner = Owner.unit("freeradius.service")
        func state(_ sockets: [HeldSocket], reserved: PortSet = reserved) -> EntryStatus.State? {
            PortClassifier.classify(configuration: Self.config(owner), reserved: reserved, sockets: sockets).first?.state
        }
        #expect(state([]) == .free)
        #expect(state([HeldSocket(socket: Self.listener, holders: [Self.radiusd])]) == .ok)
        #expect(state([HeldSocket(socket: Self.listener, holders: [Self.named])]) == .conflict)
        #expect(state([]) == .free)
        #expect(state([], reserved: PortSet(ranges: [PortRange(1812)])) == .unreserved)
        // A conflict outranks a missing reservation.
        #expect(state([HeldSocket(socket: Self.outbound, holders: [])], reserved: PortSet()) == .conflict)
        // A server's accepted connection next to its listener is fine.
        #expect(state([HeldSocket(socket: Self.listener, holders: [Self.radiusd]),
                       HeldSocket(socket: Self.outbound, holders: [Self.radiusd])]) == .ok)
    }

    @Test func oneRowPerProtocolAndSocketsMatchTheirProtocol() {
        let rows = PortClassifier.classify(
            configuration: Self.config(.any, protocols: [.tcp, .udp]),
            reserved: PortSet(ranges: [PortRange(1812, 1813)]),
            sockets: [HeldSocket(socket: Self.udpListener, holders: [])])
        #expect(rows.map(\.transport) == [.tcp, .udp])
        #expect(rows.map(\.state) == [.free, .ok])
        #expect(rows[1].reserved == .yes)
    }

    @Test func reservedColumn() {
        let rows = PortClassifier.classify(configuration: Self.config(.any), reserved: PortSet(ranges: [PortRange(1813)]), sockets: [])
        #expect(rows.first?.reserved == .partly)
        #expect(rows.first?.unreserved == PortSet([1812]))
        #expect(PortClassifier.classify(configuration: Self.config(.any), reserved: PortSet(), sockets: []).first?.reserved == .no)
    }
}
