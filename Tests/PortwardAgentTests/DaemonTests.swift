import Foundation
import PortwardCore
import SystemPackage
@testable import PortwardLinux
@testable import PortwardAgent
import Testing

/// The daemon in-process, on fakes (kernel key, sock_diag, notifier, clock, journal) and
/// configuration files under a temporary root: no root, no kernel, no event loop.
final class DaemonHarness {
    let root = TemporaryTree("portward-daemon")
    let proc = TemporaryTree("portward-proc")
    let kernel: FakeReservedPorts
    /// Thrown by the open when set (`.vanished`: gone between discovery and the open).
    var openError: NetnsError?
    let sockets = FakeSockDiag()
    let notifier = RecordingNotifier()
    let clock = FakeClock()
    let journal = JournalRecorder()
    var context: TargetContext { TargetContext(root: root.path) }
    lazy var daemon: Daemon = makeDaemon()
    /// The owner guard's kernel side (none by default).
    var guardProvider: GuardProvider?
    /// The owner registry (none by default) and the hold fallback's sockets (none).
    var ownerRegistry: OwnerRegistry?
    var portHolder: (any PortHolder)?
    var options = DaemonOptions(interval: 1)

    var metricsFile: MetricsFile?
    /// The other network namespaces the fake discovery finds (read at every rescan).
    var otherNamespaces: [FakeNetns] = []

    init(config: String, kernel: PortSet = PortSet()) {
        self.kernel = FakeReservedPorts(kernel)
        root.file("etc/portward/ports.conf", config)
    }

    func makeDaemon() -> Daemon {
        let root = self.root.path, proc = self.proc.path, sockets = self.sockets
        let environment = DaemonEnvironment(
            notifier: notifier, clock: clock, logger: journal.logger,
            sysctl: ReservedPortsSysctl(io: kernel),
            makeHolderLookup: {
                try HolderLookup(procRoot: proc, processes: ProcessTable(procRoot: proc, unitLookup: { _ in nil }),
                                 sockDiag: sockets)
            },
            loadConfiguration: { ConfigLoader(root: root, resolveService: { _, _ in nil }).load() },
            pid: 4242, guardProvider: guardProvider, ownerRegistry: ownerRegistry, portHolder: portHolder,
            discoverNamespaces: { _ in self.otherNamespaces.map(\.discovered) },
            openNamespace: { (netns: DiscoveredNetns) throws(NetnsError) -> NetnsKeys in
                guard let fake = self.otherNamespaces.first(where: { $0.discovered.identity == netns.identity }) else {
                    throw .vanished(path: netns.path)
                }
                if let error = fake.openError { throw error }
                return NetnsKeys(sysctl: ReservedPortsSysctl(io: fake.kernel), cookie: fake.cookie)
            })
        var options = self.options
        options.metricsFile = metricsFile
        return Daemon(context: context, options: options, environment: environment)
    }

    /// daemon.json as the daemon published it.
    var published: DaemonView? { context.daemonViewStore.load() }
}

/// A network namespace for `DaemonHarness.otherNamespaces`: its identity, `ip netns` name,
/// cookie and key.
final class FakeNetns {
    let discovered: DiscoveredNetns
    let cookie: UInt64
    let kernel: FakeReservedPorts
    /// Thrown by the open when set (`.vanished`: gone between discovery and the open).
    var openError: NetnsError?

    init(inode: UInt64, name: String, cookie: UInt64, kernel: PortSet = PortSet(), folder: NetnsFolder = .named) {
        discovered = DiscoveredNetns(identity: NetnsIdentity(device: 4, inode: inode),
                                     references: [.bindMount(path: (folder == .named ? "/run/netns/" : "/run/user/65534/netns/") + name, folder: folder)],
                                     owner: nil, isOwn: false)
        self.cookie = cookie
        self.kernel = FakeReservedPorts(kernel)
    }
}

@Suite struct DaemonTests {
    @Test func startAppliesThenReportsReadyAndPublishesItsView() throws {
        let h = DaemonHarness(config: "radius 1812-1813 udp\n", kernel: PortSet([7000]))
        try h.daemon.start()
        #expect(h.kernel.value == PortSet([1812, 1813, 7000]))
        #expect(h.notifier.sent == [.ready(status: "reserved 2 ports for 1 services")])
        #expect(h.journal.ids() == [JournalEvent.Kind.configurationDiagnostic.messageID, JournalEvent.Kind.applied.messageID])
        #expect(h.journal.entries.first?.message.hasSuffix("ports.conf:1:1: warning: radius: 1812-1813 outside ip_local_port_range 32768-60999; the kernel never picks these as ephemeral ports, so reserving them has no effect unless the range is widened") == true)
        #expect(h.journal.entries.last?.message == "applied: reserved 2 ports for 1 services")
        let view = try #require(h.published)
        #expect(view.pid == 4242 && view.reservedPorts == "1812-1813,7000" && view.lastPollAt == h.clock.now)
    }

    @Test func configurationErrorsAtStartAreJournalledWithTheirLocation() {
        let h = DaemonHarness(config: "radius 1812 udp\nbroken 99999\n")
        #expect(throws: PortwardAgent.ExitStatus.configurationError) { try h.daemon.start() }
        let errors = h.journal.entries(.configurationDiagnostic)
        #expect(errors.count == 1)
        #expect(errors.first?.fields["CONFIG_FILE"] == h.root.path + "/etc/portward/ports.conf")
        #expect(errors.first?.fields["CONFIG_LINE"] == "2")
        #expect(errors.first?.fields["CONFIG_COLUMN"] == "8")
        #expect(h.kernel.value.isEmpty && h.notifier.sent.isEmpty, "nothing applied, no READY")
    }

    @Test func conflictStartsAndEndsOnceEach() throws {
        let h = DaemonHarness(config: "radius 1812 udp\n")
        try h.daemon.start()
        h.journal.clear()
        // A resolver's outbound query took 1812 as its source port.
        h.sockets.records = [.udp(1812, remote: "192.0.2.53", remotePort: 53, uid: 101)]
        h.clock.now += 1
        h.daemon.poll()
        h.daemon.poll()
        let started = h.journal.entries(.conflictStarted)
        #expect(started.count == 1, "reported when it starts, not every poll")
        #expect(started.first?.fields["PORTWARD_PORT"] == "1812")
        #expect(started.first?.fields["PORTWARD_VERDICT"] == "ephemeral-grab")
        #expect(h.notifier.sent.last == .status("reserved 1 ports for 1 services, 1 conflict: 1812/udp held by an unknown process (uid 101)"))
        #expect(h.published?.conflicts.map(\.port) == [1812])

        h.sockets.records = []
        h.daemon.poll()
        #expect(h.journal.entries(.conflictEnded).count == 1)
        #expect(h.published?.conflicts == [])
        #expect(h.notifier.sent.last == .status("reserved 1 ports for 1 services"))
    }

    @Test func holderOfAnotherUnitIsNamed() throws {
        let h = DaemonHarness(config: "rsync 873 tcp exe:/usr/bin/rsync\n")
        fakeProc(h.proc, processes: [(pid: 812, comm: "rpcbind", uid: 0, exe: "/sbin/rpcbind", inodes: [99])])
        try h.daemon.start()
        h.sockets.records = [.tcpListen(873, inode: 99)]
        h.daemon.poll()
        let started = try #require(h.journal.entries(.conflictStarted).first)
        #expect(started.message == "conflict: 873/tcp (rsync) held by rpcbind[812], not by the declared owner")
        #expect(started.fields["PORTWARD_HOLDER_PID"] == "812")
        #expect(h.published?.holders.first?.holders.first?.command == "rpcbind")
    }

    @Test func driftIsRepairedAndForeignPortsAreKept() throws {
        let h = DaemonHarness(config: "radius 1812-1813 udp\n")
        try h.daemon.start()
        h.journal.clear()
        h.kernel.value = PortSet([5000])   // sysctl --system replaced the whole value
        h.clock.now += 10
        h.daemon.poll()
        #expect(h.kernel.value == PortSet([1812, 1813, 5000]))
        let drift = h.journal.entries(.driftRepaired)
        #expect(drift.count == 1)
        #expect(drift.first?.fields["PORTWARD_LOST"] == "1812-1813")
        #expect(drift.first?.fields["PORTWARD_RESTORED"] == "1812-1813")
        #expect(h.journal.entries(.foreignAdded).first?.fields["PORTWARD_PORT"] == "5000")
        #expect(h.published?.drift.map(\.restored) == ["1812-1813"])
        #expect(h.published?.drift.first?.at == h.clock.now)
    }

    @Test func pendingReloadBeatsDriftRepair() throws {
        let h = DaemonHarness(config: "radius 1812 udp\n")
        try h.daemon.start()
        h.daemon.reloadPending = { true }
        h.kernel.value = PortSet()
        h.daemon.poll()
        #expect(h.kernel.value.isEmpty, "the repair waits for the reload")
        #expect(h.journal.entries(.driftRepaired).isEmpty)
    }

    @Test func badReloadKeepsTheReservationAndSaysWhere() throws {
        let h = DaemonHarness(config: "radius 1812 udp\n")
        try h.daemon.start()
        h.root.file("etc/portward/ports.conf", "radius 1812 udp\nrsync 873 tcp\nbroken 70000\n")
        h.daemon.reload()
        #expect(h.kernel.value == PortSet([1812]))
        #expect(h.daemon.configuration.entries.map(\.name) == ["radius"])
        let failed = try #require(h.journal.entries(.reloadFailed).first)
        #expect(failed.fields["CONFIG_LINE"] == "3" && failed.fields["CONFIG_COLUMN"] == "8")
        #expect(failed.fields["PORTWARD_ERRORS"] == "1")
        #expect(h.notifier.sent.suffix(2).first.map { if case .reloading = $0 { true } else { false } } == true)
        #expect(h.notifier.sent.last == .ready(status: "reserved 1 ports for 1 services"))
    }

    @Test func goodReloadAppliesTheNewConfiguration() throws {
        let h = DaemonHarness(config: "radius 1812 udp\n")
        try h.daemon.start()
        h.root.file("etc/portward/ports.conf", "rsync 873 tcp\n")
        h.daemon.reload()
        #expect(h.kernel.value == PortSet([873]), "1812 was portward's: released")
        #expect(h.journal.entries(.applied).last?.message == "reloaded: reserved 1 ports for 1 services")
    }

    @Test func failingChecksAreReportedOnceAndTheirRecoveryToo() throws {
        let h = DaemonHarness(config: "radius 1812 udp\n")
        try h.daemon.start()
        h.sockets.error = .noBufferSpace
        h.daemon.poll()
        h.daemon.poll()
        #expect(h.journal.entries(.pollFailed).count == 1)
        #expect(h.published?.pollError != nil)
        #expect(h.daemon.summary.hasSuffix("; last check failed: \(Errno.noBufferSpace)"))
        h.sockets.error = nil
        h.daemon.poll()
        #expect(h.journal.entries(.pollRecovered).count == 1)
        #expect(h.published?.pollError == nil)
    }

    @Test func refusedRepairIsJournalled() throws {
        let h = DaemonHarness(config: "radius 1812 udp\n")
        try h.daemon.start()
        // Someone narrowed the ephemeral range to 1812 alone and dropped the reservation:
        // restoring it would reserve the whole range.
        h.kernel.localPortRange = "1812\t1812\n"
        h.kernel.value = PortSet()
        h.daemon.poll()
        #expect(h.kernel.value.isEmpty)
        #expect(h.journal.entries(.repairRefused).count == 1)
    }

    @Test func stopSaysStoppingAndLeavesTheReservation() throws {
        let h = DaemonHarness(config: "radius 1812 udp\n")
        try h.daemon.start()
        h.daemon.stop()
        #expect(h.notifier.sent.last == .stopping)
        #expect(h.journal.entries(.stopping).count == 1)
        #expect(h.kernel.value == PortSet([1812]))
    }
}

@Suite struct JournalCatalogueTests {
    /// Every event kind has its row in docs/journal-events.md, and every MESSAGE_ID there
    /// is a kind: the catalogue is the documentation.
    @Test func documentationListsExactlyTheCatalogue() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/journal-events.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        let documented = Set(text.split(separator: "\n").filter { $0.hasPrefix("| `") }.compactMap { line -> String? in
            let id = line.dropFirst(3).prefix(32)
            return id.count == 32 && id.allSatisfy(\.isHexDigit) ? String(id) : nil
        })
        #expect(documented == Set(JournalEvent.Kind.allCases.map(\.messageID)))
    }
}

/// Issue 11, floods: what another user can make the daemon write is bounded.
@Suite struct DaemonFloodTests {
    /// A `user:` owner is verified by the socket's uid alone (no /proc needed).
    static let bulk = "bulk 45000-46999 udp user:1000\n"

    @Test func oneHolderOnTwoThousandPortsIsOneEventAndABoundedView() throws {
        let h = DaemonHarness(config: Self.bulk)
        try h.daemon.start()
        h.journal.clear()
        h.sockets.records = (45000...46999).map { (port: Int) -> SocketRecord in
            SocketRecord.udp(UInt16(port), uid: 65534, inode: UInt64(port))
        }
        h.daemon.poll()
        let started = h.journal.entries(.conflictStarted)
        #expect(started.count == 1)
        #expect(started.first?.fields["PORTWARD_COUNT"] == "2000")
        #expect(started.first?.fields["PORTWARD_PORT"] == "45000-46999")
        #expect(started.first?.message.hasPrefix("conflict: 2000 sockets on 2000 ports 45000-46999/udp (bulk)") == true)
        let view = try #require(h.published)
        #expect(view.conflicts.count == DaemonView.conflictLimit)
        #expect(view.omitted?.conflicts == 2000 - DaemonView.conflictLimit)
        let size = try #require(h.root.read("run/portward/daemon.json")).utf8.count
        #expect(size < 150_000, "daemon.json is bounded: \(size) bytes")

        h.sockets.records = []
        h.daemon.poll()
        #expect(h.journal.entries(.conflictEnded).count == 1)
        #expect(h.published?.omitted == nil)
    }

    /// A started daemon on `bulk` whose first check after the start sees 500 holders (one
    /// uid each, no process visible): 500 conflict groups.
    static func flooded() throws -> DaemonHarness {
        let h = DaemonHarness(config: bulk)
        try h.daemon.start()
        h.journal.clear()
        h.sockets.records = (0..<500).map { (i: Int) -> SocketRecord in
            SocketRecord.udp(UInt16(45000 + i), uid: UInt32(20000 + i), inode: UInt64(1 + i))
        }
        h.daemon.poll()
        return h
    }

    @Test func manyHoldersAreCappedAndSummedUpOncePerMinute() throws {
        let h = try Self.flooded()
        #expect(h.journal.entries(.conflictStarted).count == 20)
        h.sockets.records = []
        h.clock.now += 10
        h.daemon.poll()
        #expect(h.journal.entries(.conflictEnded).isEmpty, "the budget of this minute is spent")
        h.clock.now += 60
        h.daemon.poll()
        let suppressed = try #require(h.journal.entries(.eventsSuppressed).first)
        #expect(suppressed.fields["PORTWARD_COUNT"] == "980")
        #expect(h.journal.entries.count <= 22)
    }

    /// During a flood that has spent the minute's conflict budget, portward's own alerts
    /// still get through: a drift repair, a broken reload.
    @Test func portwardsOwnAlertsGetThroughAFlood() throws {
        let h = try Self.flooded()
        #expect(h.journal.entries(.conflictStarted).count == 20, "the budget is spent")
        h.kernel.value = PortSet()
        h.clock.now += 1
        h.daemon.poll()
        #expect(h.journal.entries(.driftRepaired).count == 1)
        h.root.file("etc/portward/ports.conf", "bulk 45000-46999 udp user:1000\nbroken 70000\n")
        h.daemon.reload()
        #expect(h.journal.entries(.reloadFailed).count == 1)
        #expect(h.journal.entries(.conflictStarted).count == 20)
    }

    @Test func aWriterRewritingTheKeyGetsOneWarningThenASummary() throws {
        let h = DaemonHarness(config: "radius 1812 udp\n")
        try h.daemon.start()
        h.journal.clear()
        for _ in 0..<10 {
            h.kernel.value = PortSet()
            h.clock.now += 1
            h.daemon.poll()
            #expect(h.kernel.value == PortSet([1812]), "every rewrite is repaired")
        }
        #expect(h.journal.entries(.driftRepaired).count == 1)
        h.clock.now += 60
        h.daemon.poll()
        let drift = h.journal.entries(.driftRepaired)
        #expect(drift.count == 2)
        #expect(drift.last?.fields["PORTWARD_COUNT"] == "9")
        #expect(h.published?.drift.count == 10, "the view keeps each repair")
    }

    @Test func aRefusedRepairIsLoggedOnceShownAndItsEndToo() throws {
        let h = DaemonHarness(config: "radius 1812 udp\n")
        try h.daemon.start()
        h.kernel.localPortRange = "1812\t1812\n"
        h.kernel.value = PortSet()
        for _ in 0..<5 { h.daemon.poll() }
        #expect(h.journal.entries(.repairRefused).count == 1)
        #expect(h.daemon.summary.contains("; cannot restore the reservation: the reservation would cover 1 of the 1 ephemeral ports"))
        #expect(h.published?.repairRefused?.hasPrefix("the reservation would cover") == true)
        #expect(DaemonProbe(view: h.published, isRunning: true).summary.contains("cannot restore the reservation"))
        h.kernel.localPortRange = "32768\t60999\n"
        h.daemon.poll()
        #expect(h.journal.entries(.repairRecovered).count == 1)
        #expect(h.kernel.value == PortSet([1812]))
        #expect(!h.daemon.summary.contains("cannot restore"))
        #expect(h.published?.repairRefused == nil)
    }
}

/// `--metrics-file`: the textfile follows what the daemon sees.
@Suite struct DaemonMetricsTests {
    @Test func theFileFollowsConflictsDriftAndReloads() throws {
        let h = DaemonHarness(config: "radius 1812 udp user:1000\n")
        h.metricsFile = try MetricsFile(path: h.root.path + "/metrics/portward.prom")
        try h.daemon.start()
        var text = try #require(h.root.read("metrics/portward.prom"))
        #expect(text.contains("portward_build_info{version=\"\(PortwardVersion.current)\"} 1"))
        #expect(text.contains("portward_entry_state{entry=\"radius\",protocol=\"udp\",state=\"free\"} 1"))
        #expect(text.contains("portward_config_valid 1"))
        #expect(text.contains("portward_last_successful_check_timestamp_seconds \(Int(h.clock.now))"))

        h.sockets.records = [.udp(1812, uid: 65534, inode: 5)]
        h.kernel.value = PortSet()
        h.clock.now += 1
        h.daemon.poll()
        text = try #require(h.root.read("metrics/portward.prom"))
        #expect(text.contains("portward_entry_state{entry=\"radius\",protocol=\"udp\",state=\"conflict\"} 1"))
        #expect(text.contains("portward_conflicts_started_total 1"))
        #expect(text.contains("portward_drift_repairs_total 1"))

        h.root.file("etc/portward/ports.conf", "broken 70000\n")
        h.daemon.reload()
        h.daemon.poll()
        text = try #require(h.root.read("metrics/portward.prom"))
        #expect(text.contains("portward_config_valid 0"))
        #expect(text.contains("portward_config_reload_errors_total 1"))
    }
}

@Suite struct DaemonBaselineTests {
    /// Another writer's port added between the start-up apply and the first check is
    /// still reported as theirs: the apply's value is the first check's baseline.
    @Test func aForeignPortAddedBeforeTheFirstCheckIsReported() throws {
        let h = DaemonHarness(config: "svc 40000-40001 tcp\n")
        let transaction = ReservationTransaction(context: h.context, sysctl: ReservedPortsSysctl(io: h.kernel))
        let proc = h.proc.path, sockets = h.sockets
        let configuration = Configuration(entries: [PortEntry(name: "svc", ranges: [PortRange(40000, 40001)], portsText: "",
                                                              protocols: .all, owner: .any, location: SourceLocation(file: "f", line: 1))])
        let make = { () throws -> HolderLookup in
            try HolderLookup(procRoot: proc, processes: ProcessTable(procRoot: proc, unitLookup: { _ in nil }), sockDiag: sockets)
        }
        h.kernel.value = PortSet([5000, 40000, 40001])   // 5000 came after the apply wrote 40000-40001
        let withBaseline = Poller(configuration: configuration, transaction: transaction, force: false, clock: h.clock,
                                  applied: PortSet([40000, 40001]), makeLookup: make)
        #expect(withBaseline.poll(reloadPending: { false }).foreignAdded == PortSet([5000]))
        let without = Poller(configuration: configuration, transaction: transaction, force: false, clock: h.clock,
                             makeLookup: make)
        #expect(without.poll(reloadPending: { false }).foreignAdded.isEmpty, "no baseline: nothing to compare with")
    }
}
