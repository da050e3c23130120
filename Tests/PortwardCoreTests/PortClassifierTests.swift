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
    /// systemd holding a socket unit's listener (socket activation).
    static let systemd = Holder(pid: 1, command: "systemd", executablePath: "/usr/lib/systemd/systemd",
                                unit: "init.scope", uid: 0)

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
        // Socket activation: systemd's listener, before and after the service took it over.
        (.unit("freeradius.service"), listener, [systemd], false, .expected),
        (.unit("freeradius.service"), udpListener, [systemd, radiusd], false, .expected),
        (.unit("freeradius.service"), outbound, [systemd], false, .ephemeralGrab),
        (.user(.uid(106)), socket(state: .listen, uid: 0), [systemd], false, .wrongOwner),
        (.unit("freeradius.service"), outbound, [radiusd], false, .ephemeralGrab),
        (.exe("/usr/sbin/freeradius"), listener, [radiusd], false, .expected),
        (.exe("/usr/sbin/named"), listener, [named], false, .expected),
        (.exe("/usr/sbin/freeradius"), listener, [named], false, .wrongOwner),
        // An executable that cannot be read (another user's process) may be the owner's.
        (.exe("/usr/sbin/freeradius"), listener, [Holder(pid: 5, command: "x", executablePath: nil, unit: nil, uid: 0)], false, .unattributed),
        (.exe("/usr/sbin/freeradius"), listener, [radiusd, Holder(pid: 5, command: "x", executablePath: nil, unit: nil, uid: 0)], false, .expected),
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

    // MARK: issue 11 item 1: an unattributed holder never satisfies an owner

    @Test func unattributedHolderMakesTheEntryUnverifiedNeverOK() {
        let reserved = PortSet(ranges: [PortRange(1812, 1813)])
        func row(_ owner: Owner, _ sockets: [HeldSocket], reserved: PortSet = reserved) -> EntryStatus {
            PortClassifier.classify(configuration: Self.config(owner), reserved: reserved, sockets: sockets,
                                    userIDs: ["freerad": 106])[0]
        }
        let hidden = HeldSocket(socket: Self.listener, holders: [], attribution: .needsRoot)
        for owner in [Owner.unit("freeradius.service"), .exe("/usr/sbin/freeradius"), .user(.name("nobody-known"))] {
            #expect(row(owner, [hidden]).state == .unverified, "\(owner)")
        }
        // user: is checked by the socket's uid, which sock_diag always gives: verifiable.
        #expect(row(.user(.uid(106)), [hidden]).state == .ok)
        #expect(row(.user(.name("freerad")), [hidden]).state == .ok)
        #expect(row(.any, [hidden]).state == .ok)
        // A visible holder that is the owner is enough, even if others may be hidden.
        #expect(row(.unit("freeradius.service"),
                    [HeldSocket(socket: Self.listener, holders: [Self.radiusd], attribution: .hidepid)]).state == .ok)
        // A conflict and a missing reservation still outrank it.
        #expect(row(.unit("freeradius.service"), [hidden, HeldSocket(socket: Self.listener, holders: [Self.named])]).state == .conflict)
        #expect(row(.unit("freeradius.service"), [hidden], reserved: PortSet()).state == .unreserved)
    }

    @Test(arguments: [
        (HeldSocket.Attribution.needsRoot, "run portward status as root, or run the daemon"),
        (.hidepid, "hidepid"),
        (.procUnreadable, "/proc cannot be read"),
        (.complete, "no process that /proc shows holds it"),
    ])
    func unverifiedReasonSaysWhy(attribution: HeldSocket.Attribution, words: String) {
        let finding = SocketFinding(socket: Self.listener, holders: [], verdict: .unattributed, attribution: attribution)
        #expect(finding.unverifiedReason(owner: .unit("x.service"))?.contains(words) == true)
        #expect(SocketFinding(socket: Self.listener, holders: [Self.radiusd], verdict: .expected).unverifiedReason(owner: .any) == nil)
    }

    // MARK: issue 11 item 3: an explicit bind after the reservation is not an ephemeral grab

    @Test func connectedSocketOfAProcessStartedAfterTheReservationIsAnExplicitBind() {
        func holder(startedAt: Double?) -> Holder {
            Holder(pid: 77, command: "resolver", executablePath: nil, unit: nil, uid: 0, startedAt: startedAt)
        }
        func verdict(_ holders: [Holder], reservedAt: Double?) -> SocketFinding.Verdict {
            PortClassifier.verdict(HeldSocket(socket: Self.outbound, holders: holders), owner: .any,
                                   hasListener: false, userIDs: [:], reservedAt: reservedAt)
        }
        #expect(verdict([holder(startedAt: 2000)], reservedAt: 1000) == .boundAfterReservation)
        // Started before the reservation (or within the start time's precision): the
        // kernel may have picked the port then.
        #expect(verdict([holder(startedAt: 900)], reservedAt: 1000) == .ephemeralGrab)
        #expect(verdict([holder(startedAt: 1000.5)], reservedAt: 1000) == .ephemeralGrab)
        // One holder from before the reservation (an inherited socket) is enough doubt.
        #expect(verdict([holder(startedAt: 2000), holder(startedAt: 900)], reservedAt: 1000) == .ephemeralGrab)
        // Unknown times: no claim.
        #expect(verdict([holder(startedAt: nil)], reservedAt: 1000) == .ephemeralGrab)
        #expect(verdict([holder(startedAt: 2000)], reservedAt: nil) == .ephemeralGrab)
        #expect(verdict([], reservedAt: 1000) == .ephemeralGrab)
        #expect(SocketFinding.Verdict.boundAfterReservation.isConflict)
    }

    @Test func classifyUsesEachPortsReservationTime() {
        let resolver = Holder(pid: 77, command: "resolver", executablePath: nil, unit: nil, uid: 0, startedAt: 2000)
        let times = ReservationTimes([.init(ports: "1812", at: 1000), .init(ports: "1813", at: 3000)])
        let sockets = [1812, 1813].map { port in
            HeldSocket(socket: Self.socket(port: UInt16(port), state: .established, remotePort: 53), holders: [resolver])
        }
        let rows = PortClassifier.classify(configuration: Self.config(.any), reserved: PortSet(ranges: [PortRange(1812, 1813)]),
                                           sockets: sockets, reservationTimes: times)
        #expect(rows[0].findings.map(\.verdict) == [.boundAfterReservation, .ephemeralGrab])
    }

    @Test func reservationTimesKeepOldPortsAndStampNewOnes() {
        let times = ReservationTimes([.init(ports: "1812-1813", at: 1000)])
        #expect(times.reservedAt(1812) == 1000 && times.reservedAt(873) == nil)
        // 1813 was lost (drift) and written back, 873 is new, 1812 stayed in the kernel.
        let next = times.updated(kept: PortSet([1812]), added: PortSet([873, 1813]), at: 2000)
        #expect(next.reservedAt(1812) == 1000)
        #expect(next.reservedAt(1813) == 2000)
        #expect(next.reservedAt(873) == 2000)
        #expect(next.records == [.init(ports: "1812", at: 1000), .init(ports: "873,1813", at: 2000)])
        // Released ports are forgotten; damaged records are ignored.
        #expect(next.updated(kept: PortSet(), added: PortSet(), at: 3000).records.isEmpty)
        #expect(ReservationTimes([.init(ports: "x", at: 1)]).records.isEmpty)
    }

    // MARK: issue 11 item 4: the owner holds only one address family

    static func rsyncSocket(_ family: SocketRecord.Family, _ address: String, v6Only: Bool = false, inode: UInt64) -> SocketRecord {
        SocketRecord(transport: .tcp, family: family, localAddress: address, localPort: 1812, remoteAddress: address,
                     remotePort: 0, state: .listen, uid: 0, inode: inode, v6Only: v6Only)
    }

    @Test func ownerHoldingOnlyIPv6WhileAnotherProcessHasIPv4IsSaidPlainly() {
        let owner = HeldSocket(socket: Self.rsyncSocket(.ipv6, "::", v6Only: true, inode: 1), holders: [Self.radiusd])
        let other = HeldSocket(socket: Self.rsyncSocket(.ipv4, "0.0.0.0", inode: 2), holders: [Self.named])
        let rows = PortClassifier.classify(configuration: Self.config(.unit("freeradius.service")),
                                           reserved: PortSet(ranges: [PortRange(1812, 1813)]), sockets: [owner, other])
        let findings = rows[0].findings
        #expect(rows[0].state == .conflict)
        #expect(findings.first { $0.socket.family == .ipv4 }?.ownerFamilies == [.ipv6])
        #expect(findings.first { $0.socket.family == .ipv6 }?.ownerFamilies == nil)
        let conflict = Conflict(entry: Self.config(.any).entries[0], transport: .tcp,
                                finding: findings.first { $0.socket.family == .ipv4 }!, since: 0)
        #expect(conflict.explanation == "IPv4 is held by named[900] (named.service), not by the declared owner; the owner holds only IPv6, so IPv4 clients reach named[900] (named.service)")
        // A dual-stack owner serves both: the other socket is a plain wrong owner.
        let dual = HeldSocket(socket: Self.rsyncSocket(.ipv6, "::", inode: 1), holders: [Self.radiusd])
        let plain = PortClassifier.classify(configuration: Self.config(.unit("freeradius.service")),
                                            reserved: PortSet(ranges: [PortRange(1812, 1813)]), sockets: [dual, other])
        #expect(plain[0].findings.allSatisfy { $0.ownerFamilies == nil })
    }

    @Test(arguments: [
        (SocketRecord.Family.ipv4, "0.0.0.0", false, [SocketRecord.Family.ipv4]),
        (.ipv6, "::", false, [.ipv4, .ipv6]),
        (.ipv6, "::", true, [.ipv6]),
        (.ipv6, "fe80::1", false, [.ipv6]),
        (.ipv6, "::ffff:10.0.0.1", false, [.ipv4]),
    ])
    func servedFamilies(family: SocketRecord.Family, address: String, v6Only: Bool, served: [SocketRecord.Family]) {
        #expect(Self.rsyncSocket(family, address, v6Only: v6Only, inode: 1).servedFamilies == served)
    }
}
