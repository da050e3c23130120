import Testing
@testable import PortwardCore

@Suite struct EventThrottleTests {
    static func conflict(_ port: UInt16, pid: Int32) -> Conflict {
        var c = Conflict(entry: PortEntry(name: "e", ranges: [PortRange(1, 65535)], portsText: "", protocols: .all, owner: .any,
                                          location: SourceLocation(file: "f", line: 1)),
                         transport: .udp,
                         finding: SocketFinding(socket: SocketRecord(transport: .udp, family: .ipv4, localAddress: "0.0.0.0",
                                                                     localPort: port, remoteAddress: "0.0.0.0", remotePort: 0,
                                                                     state: .close, uid: 7, inode: 1),
                                                holders: [], verdict: .wrongOwner),
                         since: 0)
        c.holder = .init(pid: pid, command: "nc", unit: nil, uid: 7)
        return c
    }

    @Test func conflictsGroupPerHolder() {
        let conflicts = [Self.conflict(5, pid: 1), Self.conflict(3, pid: 2), Self.conflict(4, pid: 1)]
        let groups = ConflictGroup.group(conflicts)
        #expect(groups.map { $0.conflicts.map(\.port) } == [[4, 5], [3]])
        let event = JournalEvent.conflicts(groups[0], started: true)
        #expect(event.fields["PORTWARD_COUNT"] == "2" && event.fields["PORTWARD_PORT"] == "4-5")
        #expect(JournalEvent.conflicts(groups[1], started: true) == .conflict(conflicts[1], started: true))
    }

    @Test func budgetPerPeriodThenOneSummary() {
        var throttle = EventThrottle(period: 60, conflictBudget: 2)
        let events = (1...5).map { JournalEvent.conflict(Self.conflict(UInt16($0), pid: Int32($0)), started: true) }
        #expect(throttle.admit(events, now: 0).count == 2)
        #expect(throttle.admit([.stopping()], now: 30).map(\.kind) == [.stopping])
        let later = throttle.admit([], now: 61)
        #expect(later.map(\.kind) == [.eventsSuppressed])
        #expect(later.first?.fields["PORTWARD_COUNT"] == "3")
        #expect(throttle.admit(events, now: 62).count == 2, "a new period has a new budget")
    }

    @Test func driftFirstThenSummaryWhileItLasts() {
        var throttle = EventThrottle(period: 60)
        let drift = JournalEvent.driftRepaired(.init(lost: PortSet([873]), restored: PortSet([873])))
        #expect(throttle.admit([drift], now: 0).count == 1)
        #expect(throttle.admit([drift], now: 1).isEmpty)
        #expect(throttle.admit([drift], now: 2).isEmpty)
        let summary = throttle.admit([], now: 60)
        #expect(summary.first?.fields["PORTWARD_COUNT"] == "2")
        #expect(throttle.admit([drift], now: 61).isEmpty, "still the same series: summed up again")
        _ = throttle.admit([], now: 121)
        #expect(throttle.admit([], now: 181).isEmpty)
        #expect(throttle.admit([drift], now: 182).count == 1, "a quiet minute ends the series")
    }

    /// The summary names who rewrote the key (issue 11 item 6), the first few, distinct.
    @Test func theDriftSummaryNamesTheWriters() {
        var throttle = EventThrottle(period: 60)
        func drift(_ writer: String?) -> JournalEvent {
            .driftRepaired(.init(lost: PortSet([873]), restored: PortSet([873]), writer: writer))
        }
        #expect(throttle.admit([drift("a[1] (a.service)")], now: 0).count == 1)
        for writer in ["b[2] uid 0", "b[2] uid 0", nil, "c[3] uid 0", "d[4] uid 0", "e[5] uid 0", "f[6] uid 0"] {
            #expect(throttle.admit([drift(writer)], now: 1).isEmpty)
        }
        let summary = throttle.admit([], now: 60)
        #expect(summary.first?.message == "net.ipv4.ip_local_reserved_ports lost declared ports 7 more times in the last 60 s (873); restored each time; written by b[2] uid 0, c[3] uid 0, d[4] uid 0 and 2 others")
        #expect(summary.first?.fields["PORTWARD_WRITER"] == "b[2] uid 0, c[3] uid 0, d[4] uid 0")
        #expect(throttle.admit([drift(nil)], now: 61).isEmpty)
        let unknown = throttle.admit([], now: 121)
        #expect(unknown.first?.fields["PORTWARD_WRITER"] == nil, "no writer known: none named")
        #expect(unknown.first?.message.hasSuffix("restored each time") == true)
    }
}

@Suite struct ConflictIdentityTests {
    /// A socket whose holder could not be named in one poll (a /proc race) stays one
    /// conflict, and its holder is learnt when a later poll names it.
    @Test func aSocketIsOneConflictWhetherOrNotItsHolderWasNamed() {
        let entry = PortEntry(name: "radius", ranges: [PortRange(1812)], portsText: "1812", protocols: .all,
                              owner: .unit("freeradius.service"), location: SourceLocation(file: "f", line: 1))
        let socket = SocketRecord(transport: .udp, family: .ipv4, localAddress: "0.0.0.0", localPort: 1812,
                                  remoteAddress: "0.0.0.0", remotePort: 0, state: .close, uid: 0, inode: 77)
        let named = Holder(pid: 9, command: "named", executablePath: nil, unit: "named.service", uid: 0)
        func rows(_ holders: [Holder], _ verdict: SocketFinding.Verdict) -> [EntryStatus] {
            [EntryStatus(entry: entry, transport: .udp, unreserved: PortSet(),
                         findings: [SocketFinding(socket: socket, holders: holders, verdict: verdict)])]
        }
        var tracker = ConflictTracker()
        #expect(tracker.update(rows([named], .wrongOwner), now: 1).started.count == 1)
        let flap = tracker.update(rows([], .unattributed), now: 2)
        #expect(flap.started.isEmpty && flap.ended.isEmpty)
        #expect(tracker.sorted.first?.holder?.pid == 9)

        var fresh = ConflictTracker()
        _ = fresh.update(rows([], .unattributed), now: 1)
        let named2 = fresh.update(rows([named], .wrongOwner), now: 2)
        #expect(named2.started.isEmpty && named2.ended.isEmpty)
        #expect(fresh.sorted.first?.holder?.pid == 9 && fresh.sorted.first?.since == 1)
    }
}
