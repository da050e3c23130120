import Testing
@testable import PortwardCore

@Suite struct WatchTests {
    static let entry = PortEntry(name: "radius", ports: PortSet(ranges: [PortRange(1812, 1813)]), portsText: "1812-1813",
                                    protocols: [.udp], owner: .unit("freeradius.service"),
                                    location: SourceLocation(file: "/etc/portward/ports.conf", line: 7))
    static let named = Holder(pid: 812, command: "named", executablePath: nil, unit: "named.service", uid: 107)

    static func row(_ findings: [SocketFinding]) -> EntryStatus {
        EntryStatus(entry: entry, transport: .udp, unreserved: PortSet(), findings: findings)
    }

    static func finding(port: UInt16, holder: Holder?) -> SocketFinding {
        SocketFinding(socket: SocketRecord(transport: .udp, family: .ipv4, localAddress: "0.0.0.0", localPort: port,
                                           remoteAddress: "0.0.0.0", remotePort: 0, state: .close, uid: 107, inode: 9),
                      holders: holder.map { [$0] } ?? [], verdict: .wrongOwner)
    }

    @Test func conflictsAreReportedOnceWhenTheyStartAndEnd() {
        var tracker = ConflictTracker()
        let conflict = Self.row([Self.finding(port: 1812, holder: Self.named)])
        var (started, ended) = tracker.update([conflict], now: 100)
        #expect(started.map(\.port) == [1812])
        #expect(ended.isEmpty)
        (started, ended) = tracker.update([conflict], now: 101)
        #expect(started.isEmpty && ended.isEmpty, "still the same conflict: nothing new to report")
        #expect(tracker.sorted.first?.since == 100, "first-seen time is kept")
        (started, ended) = tracker.update([Self.row([])], now: 102)
        #expect(started.isEmpty)
        #expect(ended.map(\.port) == [1812])
        #expect(tracker.current.isEmpty)
    }

    @Test func anotherHolderOnTheSamePortIsANewConflict() {
        var tracker = ConflictTracker()
        _ = tracker.update([Self.row([Self.finding(port: 1812, holder: Self.named)])], now: 1)
        let other = Holder(pid: 900, command: "dig", executablePath: nil, unit: nil, uid: 0)
        let (started, ended) = tracker.update([Self.row([Self.finding(port: 1812, holder: other)])], now: 2)
        #expect(started.map { $0.holder?.pid } == [900])
        #expect(ended.map { $0.holder?.pid } == [812])
    }

    @Test func conflictEventCarriesTheJournalFields() {
        let conflict = Conflict(entry: Self.entry, transport: .udp, finding: Self.finding(port: 1812, holder: Self.named), since: 0)
        let event = JournalEvent.conflict(conflict, started: true)
        #expect(event.kind.messageID == "e562e6ddc60c4493ad1810a89f43fe43")
        #expect(event.priority == .warning)
        #expect(event.fields == [
            "PORTWARD_ENTRY": "radius", "PORTWARD_PORT": "1812", "PORTWARD_PROTOCOL": "udp",
            "PORTWARD_VERDICT": "wrong-owner", "CONFIG_FILE": "/etc/portward/ports.conf", "CONFIG_LINE": "7",
            "PORTWARD_HOLDER_PID": "812", "PORTWARD_HOLDER_COMM": "named", "PORTWARD_HOLDER_UID": "107",
            "PORTWARD_HOLDER_UNIT": "named.service",
        ])
        #expect(event.message == "conflict: 1812/udp (radius) held by named[812] (named.service), not by the declared owner")
        let end = JournalEvent.conflict(conflict, started: false)
        #expect(end.kind == .conflictEnded)
        #expect(end.priority == .info)
    }

    @Test func unknownHolderStillNamesTheSocketOwner() {
        let conflict = Conflict(entry: Self.entry, transport: .udp, finding: Self.finding(port: 1813, holder: nil), since: 0)
        let event = JournalEvent.conflict(conflict, started: true)
        #expect(event.fields["PORTWARD_HOLDER_PID"] == nil)
        #expect(event.fields["PORTWARD_HOLDER_UID"] == "107")
        #expect(event.message.contains("an unknown process (uid 107)"))
    }

    /// Issue 11: the daemon applies the same rule as status: an unattributed holder is
    /// tracked and journaled as unverified, never silently taken for the owner.
    @Test func unattributedSocketIsTrackedAndJournaledAsUnverified() {
        var tracker = ConflictTracker()
        let finding = SocketFinding(socket: SocketRecord(transport: .udp, family: .ipv4, localAddress: "0.0.0.0", localPort: 1812,
                                                         remoteAddress: "0.0.0.0", remotePort: 0, state: .close, uid: 0, inode: 9),
                                    holders: [], verdict: .unattributed, attribution: .hidepid)
        let (started, _) = tracker.update([Self.row([finding])], now: 1)
        #expect(started.count == 1)
        let event = JournalEvent.conflict(started[0], started: true)
        #expect(event.fields["PORTWARD_VERDICT"] == "unattributed")
        #expect(event.message.hasPrefix("unverified: 1812/udp (radius) could not be verified: held by an unknown process (uid 0); /proc is mounted with hidepid"), "\(event.message)")
    }

    static func connected(_ state: SocketRecord.State, verdict: SocketFinding.Verdict) -> Conflict {
        let socket = SocketRecord(transport: .udp, family: .ipv4, localAddress: "10.0.0.5", localPort: 1812,
                                  remoteAddress: "10.0.0.9", remotePort: 53, state: state, uid: 0, inode: 9)
        let resolver = Holder(pid: 77, command: "resolver", executablePath: nil, unit: "resolver.service", uid: 0)
        return Conflict(entry: entry, transport: .udp, finding: SocketFinding(socket: socket, holders: [resolver], verdict: verdict), since: 0)
    }

    @Test func explicitBindAfterTheReservationIsNotCalledAnEphemeralGrab() {
        let bound = Self.connected(.established, verdict: .boundAfterReservation).explanation
        #expect(bound == "bound explicitly by resolver[77] (resolver.service) after the reservation (the kernel key cannot stop an explicit bind), as the local port of an ESTABLISHED connection to 10.0.0.9:53")
        #expect(!bound.contains("ephemeral"))
        let grab = Self.connected(.established, verdict: .ephemeralGrab).explanation
        #expect(grab == "taken as the local port of an ESTABLISHED connection to 10.0.0.9:53 by resolver[77] (resolver.service), before the reservation (an ephemeral grab)")
        #expect(Self.connected(.synSent, verdict: .ephemeralGrab).explanation.contains("of a SYN_SENT connection"))
        #expect(Self.connected(.timeWait, verdict: .ephemeralGrab).explanation.contains("of a TIME_WAIT connection"))
    }

    @Test func messageIDsAreDistinctSdID128s() {
        let ids = JournalEvent.Kind.allCases.map(\.messageID)
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) && $0 == $0.lowercased() })
    }

    @Test(arguments: [("1", 1.0), ("0.5", 0.5), ("500ms", 0.5), ("2s", 2.0), ("10ms", 0.01)])
    func intervals(text: String, seconds: Double) {
        #expect(Interval(parsing: text)?.seconds == seconds)
    }

    @Test(arguments: ["", "0", "5ms", "-1", "1m", "abc", "1e3", "100000", "nan", "s"])
    func badIntervals(text: String) {
        #expect(Interval(parsing: text) == nil)
    }
}
