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
