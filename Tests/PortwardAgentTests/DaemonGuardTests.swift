import PortwardCore
@testable import PortwardLinux
@testable import PortwardAgent
import Testing

/// The owners map and denials as a `GuardBackend` would see them, without BPF.
final class FakeGuardBackend: GuardBackend {
    let netnsCookie: UInt64 = 77
    var tookOver = false
    var entries: [GuardKey: GuardOwner] = [:]
    var writes = 0
    var waiting: [GuardDenial] = []
    var eventDescriptor: Int32 { -1 }
    var uninstalls = 0

    func uninstall() throws(BPFGuardError) -> Int {
        uninstalls += 1
        return 2
    }

    func replaceEntries(with desired: [GuardKey: GuardOwner]) throws(BPFGuardError) {
        entries = desired
        writes += 1
    }

    func drainDenials() throws(BPFGuardError) -> [GuardDenial] {
        defer { waiting.removeAll() }
        return waiting
    }
}

/// Counts what the daemon asked of its `GuardProvider`.
final class FakeGuardProvider {
    let backend = FakeGuardBackend()
    var failure: BPFGuardError?
    var installs = 0
    var clears = 0

    var provider: GuardProvider {
        GuardProvider(install: { () throws(BPFGuardError) -> any GuardBackend in
            self.installs += 1
            if let failure = self.failure { throw failure }
            return self.backend
        }, clearPinned: { self.clears += 1 })
    }
}

@Suite struct DaemonGuardTests {
    static func harness(_ config: String, _ fake: FakeGuardProvider, options: DaemonOptions = DaemonOptions(interval: 1, ownerGuard: true)) -> DaemonHarness {
        let h = DaemonHarness(config: config)
        h.guardProvider = fake.provider
        h.options = options
        return h
    }

    @Test func userOwnersAreWrittenToTheMapPerProtocolAndPort() throws {
        let fake = FakeGuardProvider()
        let h = Self.harness("svc 7001-7002 tcp,udp user:4242\nweb 8080 tcp -\nradius 1812 udp unit:freeradius.service\n", fake)
        try h.daemon.start()
        #expect(fake.installs == 1)
        let owner = GuardOwner(uid: 4242)
        #expect(fake.backend.entries == [
            GuardKey(netnsCookie: 77, transport: .tcp, port: 7001): owner, GuardKey(netnsCookie: 77, transport: .tcp, port: 7002): owner,
            GuardKey(netnsCookie: 77, transport: .udp, port: 7001): owner, GuardKey(netnsCookie: 77, transport: .udp, port: 7002): owner,
        ])
        #expect(h.journal.entries(.guardActive).map(\.message) == ["owner guard in force for svc"])
        let entries = try #require(h.published?.ownerGuard?.entries)
        #expect(entries["svc"] == EntryProtection(.guarded))
        #expect(entries["web"]?.state == .unguarded)
        #expect(entries["radius"]?.state == .reportOnly)
        #expect(h.notifier.sent.count == 1, "READY once")
    }

    @Test func reloadRewritesTheMapAndEmptiesIt() throws {
        let fake = FakeGuardProvider()
        let h = Self.harness("svc 7001 tcp user:4242\n", fake)
        try h.daemon.start()
        h.root.file("etc/portward/ports.conf", "svc 7001 tcp user:4243\n")
        h.daemon.reload()
        #expect(fake.backend.entries == [GuardKey(netnsCookie: 77, transport: .tcp, port: 7001): GuardOwner(uid: 4243)])
        h.root.file("etc/portward/ports.conf", "svc 7001 tcp -\n")
        h.daemon.reload()
        #expect(fake.backend.entries.isEmpty, "an entry that lost its owner is no longer guarded")
        #expect(fake.installs == 1)
    }

    @Test func unavailableFallsBackToReportOnlyWithOneDegradedLine() throws {
        let fake = FakeGuardProvider()
        fake.failure = .unavailable(.noBPFFilesystem, detail: "/sys/fs/bpf is not a mounted bpf filesystem")
        let h = Self.harness("svc 7001 tcp user:4242\n", fake)
        try h.daemon.start()
        h.daemon.reload()
        h.daemon.poll()
        let degraded = h.journal.entries(.degraded)
        #expect(degraded.count == 1, "once per reason, not per reload: \(degraded.map(\.message))")
        #expect(degraded.first?.message.contains("BPF guard unavailable: no BPF filesystem") == true)
        #expect(degraded.first?.message.hasSuffix("; user: and unit: owners are report-only (conflicts are reported, binds not refused)") == true,
                "no hold fallback in this daemon: \(degraded.map(\.message))")
        #expect(h.published?.ownerGuard?.entries["svc"]?.state == .reportOnly)
        #expect(h.published?.ownerGuard?.entries["svc"]?.reason?.contains("no BPF filesystem") == true)
        #expect(h.notifier.sent.first == .ready(status: "reserved 1 ports for 1 services"), "still starts")
    }

    @Test func switchedOffLoadsNothingAndClearsOnlyTheHostsPins() throws {
        let fake = FakeGuardProvider()
        let h = Self.harness("svc 7001 tcp user:4242\n", fake, options: DaemonOptions(interval: 1, ownerGuard: false))
        try h.daemon.start()
        #expect(fake.installs == 0)
        #expect(fake.clears == 0, "the host's pins are not a --root daemon's to clear")
        #expect(h.published?.ownerGuard?.entries["svc"] == EntryProtection(.reportOnly, reason: "the guard is switched off (--no-guard)"))
        #expect(h.journal.entries(.degraded).isEmpty)
        // The daemon for / switched off empties a previous daemon's pinned entries.
        let off = DaemonOptions(interval: 1, ownerGuard: false)
        #expect(off.clearsPinnedGuard(TargetContext(root: "/")))
        #expect(!off.clearsPinnedGuard(h.context))
        #expect(!DaemonOptions(interval: 1).clearsPinnedGuard(TargetContext(root: "/")), "on: nothing to clear for being off")
    }

    @Test func aReportOnlyEntryGetsAReportingMapEntry() throws {
        let fake = FakeGuardProvider()
        let h = Self.harness("svc 7001 tcp user:4242\nquiet 7003 tcp user:4242 guard=report-only\n", fake)
        try h.daemon.start()
        #expect(fake.backend.entries[GuardKey(netnsCookie: 77, transport: .tcp, port: 7003)] == GuardOwner(uid: 4242, reportOnly: true))
        #expect(fake.backend.entries[GuardKey(netnsCookie: 77, transport: .tcp, port: 7001)] == GuardOwner(uid: 4242))
        #expect(h.journal.entries(.guardActive).map(\.message) == ["owner guard in force for svc"], "report-only is not 'in force'")
        #expect(h.published?.ownerGuard?.entries["quiet"] == EntryProtection(.reportOnly, reason: "guard=report-only in the configuration"))
    }

    @Test func anOrderlyStopDetachesTheGuardItHas() throws {
        let fake = FakeGuardProvider()
        let h = Self.harness("svc 7001 tcp user:4242\n", fake)
        try h.daemon.start()
        h.daemon.stop()
        #expect(fake.backend.uninstalls == 1)
        #expect(h.journal.entries(.stopping).map(\.message) == ["stopping; the reservation stays in place; the owner guard is detached (2 programs)"])
        let off = FakeGuardProvider()
        let root = Self.harness("svc 7001 tcp user:4242\n", off, options: DaemonOptions(interval: 1))
        try root.daemon.start()
        root.daemon.stop()
        #expect(off.backend.uninstalls == 0)
        #expect(root.journal.entries(.stopping).map(\.message) == ["stopping; the reservation stays in place"], "no guard of its own (--root)")
    }

    @Test func offByDefaultWithRoot() throws {
        let fake = FakeGuardProvider()
        let h = Self.harness("svc 7001 tcp user:4242\n", fake, options: DaemonOptions(interval: 1))
        try h.daemon.start()
        #expect(fake.installs == 0)
        #expect(fake.clears == 0, "the host's guard is not a --root daemon's to clear")
        #expect(h.published?.ownerGuard?.entries["svc"]?.reason?.contains("--root") == true)
    }

    @Test func nothingToGuardInstallsNothingWithoutEvents() throws {
        let fake = FakeGuardProvider()
        let h = Self.harness("web 8080 tcp -\n", fake, options: DaemonOptions(interval: 1, ownerGuard: true, events: false))
        try h.daemon.start()
        #expect(fake.installs == 0)
        #expect(fake.clears == 1)
    }

    @Test func denialsAreJournalledAggregatedAndPublished() throws {
        let fake = FakeGuardProvider()
        let h = Self.harness("svc 7001 tcp,udp user:4242\n", fake)
        h.metricsFile = try MetricsFile(path: h.root.path + "/metrics/portward.prom")
        try h.daemon.start()
        h.journal.clear()
        let key = GuardKey(netnsCookie: 77, transport: .tcp, port: 7001)
        let denial = GuardDenial(key: key, family: 4, pid: 990, uid: 4243, cgroupID: 5, command: "ypserv", allowed: false)
        fake.backend.waiting = [denial, denial, GuardDenial(key: GuardKey(netnsCookie: 77, transport: .udp, port: 7001), family: 6,
                                                            pid: 991, uid: 0, cgroupID: 5, command: nil, allowed: false)]
        h.daemon.readGuardEvents()
        h.clock.now += 1
        h.daemon.poll()
        let events = h.journal.entries(.guardDenied)
        #expect(events.map(\.message) == [
            "guard: denied 7001/tcp (svc) to pid 990 (ypserv) uid 4243 2 times (EADDRINUSE)",
            "guard: denied 7001/udp (svc) to pid 991 (?) uid 0 (EADDRINUSE)",
        ])
        #expect(events.first?.fields["PORTWARD_ENTRY"] == "svc")
        #expect(events.first?.fields["PORTWARD_HOLDER_PID"] == "990")
        #expect(events.first?.fields["PORTWARD_HOLDER_COMM"] == "ypserv")
        #expect(events.first?.fields["PORTWARD_HOLDER_UID"] == "4243")
        #expect(events.first?.fields["PORTWARD_COUNT"] == "2")
        #expect(events.first?.fields["PORTWARD_VERDICT"] == "denied")
        let published = try #require(h.published?.ownerGuard)
        #expect(published.denied == 3)
        #expect(published.denials.map(\.pid) == [990, 991])
        #expect(h.root.read("metrics/portward.prom")?.contains("\nportward_guard_denials_total 3\n") == true,
                "counted before aggregation, as status's denied")
        h.daemon.poll()
        #expect(h.journal.entries(.guardDenied).count == 2, "reported once")
        #expect(h.root.read("metrics/portward.prom")?.contains("\nportward_guard_denials_total 3\n") == true, "counted once")
    }

    @Test func aFloodOfDenialsIsBoundedByTheConflictBudget() throws {
        let fake = FakeGuardProvider()
        let h = Self.harness("svc 7001 tcp user:4242\n", fake)
        try h.daemon.start()
        h.journal.clear()
        fake.backend.waiting = (0..<500).map {
            GuardDenial(key: GuardKey(netnsCookie: 77, transport: .tcp, port: 7001), family: 4, pid: 1000 + $0, uid: 4243,
                        cgroupID: 5, command: "taker", allowed: false)
        }
        h.clock.now += 1
        h.daemon.poll()
        #expect(h.journal.entries(.guardDenied).count == 20)
        h.clock.now += 61
        h.daemon.poll()
        #expect(h.journal.entries(.eventsSuppressed).first?.fields["PORTWARD_COUNT"] == "480")
    }
}
