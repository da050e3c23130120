import Testing
@testable import PortwardCore

@Suite struct GuardPolicyTests {
    static func entry(_ name: String, _ owner: Owner, ports: [PortRange] = [PortRange(7001, 7002)],
                      protocols: ProtocolSet = .all) -> PortEntry {
        PortEntry(name: name, ranges: ports, portsText: "", protocols: protocols, owner: owner,
                  location: SourceLocation(file: "f", line: 1))
    }

    static let configuration = Configuration(entries: [
        entry("byuid", .user(.uid(4242)), protocols: ProtocolSet(.tcp).union(ProtocolSet(.udp))),
        entry("byname", .user(.name("keystone")), ports: [PortRange(35357, 35357)], protocols: ProtocolSet(.tcp)),
        entry("nouser", .user(.name("ghost"))),
        entry("unit", .unit("freeradius.service")),
        entry("exe", .exe("/usr/bin/rsync")),
        entry("anyone", .any),
    ])

    @Test func userOwnersAreGuardedOthersReportOnlyOrUnguarded() {
        let p = GuardPolicy.protections(Self.configuration, userIDs: ["keystone": 107], unavailable: nil)
        #expect(p["byuid"] == EntryProtection(.guarded))
        #expect(p["byname"] == EntryProtection(.guarded))
        #expect(p["nouser"] == EntryProtection(.reportOnly, reason: "user 'ghost' is unknown to this host"))
        #expect(p["unit"]?.state == .reportOnly)
        #expect(p["exe"]?.state == .reportOnly)
        #expect(p["anyone"] == EntryProtection(.unguarded, reason: "no owner (reservation only)"))
    }

    @Test func anUnavailableGuardMakesUserOwnersReportOnlyWithTheReason() {
        let p = GuardPolicy.protections(Self.configuration, userIDs: ["keystone": 107], unavailable: "BPF guard unavailable: permission denied")
        #expect(p["byuid"] == EntryProtection(.reportOnly, reason: "BPF guard unavailable: permission denied"))
        #expect(p["byname"]?.state == .reportOnly)
        #expect(p["anyone"]?.state == .unguarded)
        #expect(p["byuid"]?.description == "report-only: BPF guard unavailable: permission denied")
    }

    @Test func rulesPerGuardedEntryAndDeclaredProtocol() {
        let rules = GuardPolicy.rules(Self.configuration, userIDs: ["keystone": 107])
        #expect(rules == [
            GuardRule(entry: "byuid", transport: .tcp, ranges: [PortRange(7001, 7002)], uid: 4242),
            GuardRule(entry: "byuid", transport: .udp, ranges: [PortRange(7001, 7002)], uid: 4242),
            GuardRule(entry: "byname", transport: .tcp, ranges: [PortRange(35357, 35357)], uid: 107),
        ])
    }

    @Test func denialsAggregatePerProcessPortProtocolAndVerdict() {
        func record(_ pid: UInt32, _ port: UInt16, _ transport: TransportProtocol = .tcp, allowed: Bool = false, at: Double = 1,
                    command: String? = "x") -> GuardDenialRecord {
            GuardDenialRecord(entry: "e", port: port, transport: transport, pid: pid, command: command, uid: 1, unit: nil,
                              allowed: allowed, at: at)
        }
        let merged = GuardDenialRecord.aggregate([
            record(1, 7001, command: nil), record(2, 7001), record(1, 7001, at: 5), record(1, 7001, .udp),
            record(1, 7002), record(1, 7001, allowed: true),
        ])
        #expect(merged.map { "\($0.pid) \($0.port)/\($0.transport.rawValue) \($0.allowed) x\($0.count)" } == [
            "1 7001/tcp false x2", "2 7001/tcp false x1", "1 7001/udp false x1", "1 7002/tcp false x1", "1 7001/tcp true x1",
        ])
        #expect(merged.first?.at == 5 && merged.first?.command == "x", "latest time, a known name")
    }

    @Test func denialEventNamesTheProcessAndEscapesItsName() {
        let event = JournalEvent.guardDenied(GuardDenialRecord(entry: "rsync", port: 873, transport: .tcp, pid: 990,
                                                               command: "yp\u{1b}[2Jserv", uid: 0, unit: "ypserv.service", at: 1))
        #expect(event.kind == .guardDenied)
        #expect(event.message == "guard: denied 873/tcp (rsync) to pid 990 (yp\\x1b[2Jserv) uid 0 unit ypserv.service (EADDRINUSE)")
        #expect(event.fields["PORTWARD_HOLDER_UNIT"] == "ypserv.service")
        #expect(event.fields["PORTWARD_VERDICT"] == "denied")
    }

    @Test func denialsShareTheConflictBudget() {
        var throttle = EventThrottle(period: 60, conflictBudget: 3)
        let denial = JournalEvent.guardDenied(GuardDenialRecord(entry: nil, port: 1, transport: .udp, pid: 1, command: nil,
                                                                uid: 1, unit: nil, at: 0))
        #expect(throttle.admit(Array(repeating: denial, count: 5), now: 0).count == 3)
        #expect(throttle.admit([], now: 61).map(\.kind) == [.eventsSuppressed])
    }
}
