import PortwardCore
@testable import PortwardLinux
@testable import PortwardAgent
import Testing

/// A `GuardBackend` with the event programs (docs/events.md), without BPF: the declared map
/// as written, and events as the ring buffer would deliver them.
final class FakeEventBackend: GuardBackend {
    let netnsCookie: UInt64 = 77
    let tookOver = false
    var entries: [GuardKey: GuardOwner] = [:]
    var declared: [DeclaredPortsKey: PortSet] = [:]
    var waiting: [GuardEvent] = []
    var dropped: UInt64 = 0
    var eventDescriptor: Int32 { -1 }
    var events: Bool { true }
    var eventsUnavailable: String? { nil }

    func replaceEntries(with desired: [GuardKey: GuardOwner]) throws(BPFGuardError) { entries = desired }
    func replaceDeclared(_ declared: [DeclaredPortsKey: PortSet]) throws(BPFGuardError) { self.declared = declared }
    func drainDenials() throws(BPFGuardError) -> [GuardDenial] { [] }
    func drainEvents() throws(BPFGuardError) -> [GuardEvent] {
        defer { waiting.removeAll() }
        return waiting
    }
    func droppedEvents() -> UInt64? { dropped }

    static func bound(_ port: UInt16, _ transport: TransportProtocol = .tcp, pid: UInt32, uid: UInt32, command: String?) -> GuardEvent {
        .bound(GuardDenial(key: GuardKey(netnsCookie: 77, transport: transport, port: port), family: 4, pid: pid, uid: uid,
                           cgroupID: 9, command: command, allowed: true))
    }
}

@Suite struct DaemonEventTests {
    static func harness(_ config: String, _ backend: any GuardBackend, kernel: PortSet = PortSet()) -> DaemonHarness {
        let h = DaemonHarness(config: config, kernel: kernel)
        h.guardProvider = GuardProvider(install: { () throws(BPFGuardError) -> any GuardBackend in backend }, clearPinned: {})
        h.options = DaemonOptions(interval: 1, ownerGuard: true, safetyInterval: 60)
        return h
    }

    @Test func eventsInForceWriteTheDeclaredPortsAndSlowTheFullCheck() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("web 8080 tcp -\nradius 1812-1813 udp\ndns 53 tcp,udp\n", backend)
        try h.daemon.start()
        #expect(backend.declared == [
            DeclaredPortsKey(netnsCookie: 77, transport: .tcp): PortSet([53, 8080]),
            DeclaredPortsKey(netnsCookie: 77, transport: .udp): PortSet([53, 1812, 1813]),
        ])
        #expect(backend.entries.isEmpty, "nothing guarded: the programs are there for the events")
        #expect(h.daemon.watchMode.mode == .events)
        #expect(h.daemon.nextCheckDelay() == 60)
        #expect(h.published?.watch?.mode == .events)
        #expect(h.published?.watch?.checkInterval == 60)
        #expect(h.journal.entries(.degraded).isEmpty)
    }

    @Test func withoutEventProgramsTheDaemonPollsAsBeforeAndSaysWhy() throws {
        let fake = FakeGuardProvider()   // a backend without event programs
        let h = DaemonGuardTests.harness("svc 7001 tcp user:4242\n", fake)
        try h.daemon.start()
        #expect(h.daemon.watchMode.mode == .polling)
        #expect(h.daemon.nextCheckDelay() == 1)
        #expect(h.published?.watch?.reason == "the guard backend has no event programs")
        #expect(h.journal.entries(.degraded).map(\.message) == ["events: the guard backend has no event programs; watching by polling every check interval"])
        h.daemon.reload()
        #expect(h.journal.entries(.degraded).count == 1, "said once")
    }

    /// No entry needs the guard: the programs (for the events only) load after READY=1,
    /// off the boot path; a guarded entry has them loaded before it.
    @Test func programsOnlyTheEventsWantLoadAfterReady() throws {
        for (config, beforeReady) in [("web 8080 tcp -\n", false), ("svc 7001 tcp user:4242\n", true)] {
            let backend = FakeEventBackend()
            let h = DaemonHarness(config: config)
            var readyAtInstall: [Bool] = [], readyAtClear: [Bool] = []
            let ready = { h.notifier.sent.contains { if case .ready = $0 { true } else { false } } }
            h.guardProvider = GuardProvider(install: { () throws(BPFGuardError) -> any GuardBackend in
                readyAtInstall.append(ready())
                return backend
            }, clearPinned: { readyAtClear.append(ready()) })
            h.options = DaemonOptions(interval: 1, ownerGuard: true, safetyInterval: 60)
            try h.daemon.start()
            #expect(readyAtInstall == [!beforeReady], "\(config)")
            // Deferred: a previous daemon's pinned entries are emptied before READY all the same.
            #expect(readyAtClear == (beforeReady ? [] : [false]), "\(config)")
            #expect(h.daemon.watchMode.mode == .events, "\(config)")
        }
    }

    @Test func withoutBPFOrWithNoEventsItPolls() throws {
        let none = DaemonHarness(config: "web 8080 tcp -\n")
        try none.daemon.start()
        #expect(none.daemon.watchMode.mode == .polling)
        #expect(none.daemon.watchMode.reason.hasPrefix("the events need the guard's programs, not loaded: the guard is off with --root"))
        #expect(none.daemon.nextCheckDelay() == 1)
        let backend = FakeEventBackend()
        backend.declared = [DeclaredPortsKey(netnsCookie: 77, transport: .tcp): PortSet([8080])]   // a previous daemon's
        let off = Self.harness("svc 7001 tcp user:4242\nweb 8080 tcp -\n", backend)
        off.options.events = false
        try off.daemon.start()
        #expect(off.daemon.watchMode.mode == .polling)
        #expect(off.daemon.watchMode.reason == "the events are switched off (--no-events)")
        #expect(backend.declared.isEmpty, "emptied: the attached programs report nothing")
        #expect(backend.entries.count == 1, "the guard itself is in force")
        // Records a previous daemon's programs still send are not this daemon's news.
        backend.waiting = [FakeEventBackend.bound(8080, pid: 990, uid: 4243, command: "python3")]
        var flushes = 0
        off.daemon.requestFlush = { _ in flushes += 1 }
        off.daemon.readGuardEvents()
        #expect(flushes == 0)
    }

    @Test func aWrongOwnerBindIsJournalledAtOnceWithTheHolderEvenWhenItExited() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("svc 7001 tcp user:4242\n", backend)
        h.metricsFile = try MetricsFile(path: h.root.path + "/metrics/portward.prom")
        try h.daemon.start()
        h.journal.clear()
        var checks: [Double] = [], flushes: [Double] = []
        h.daemon.requestCheck = { checks.append($0) }
        h.daemon.requestFlush = { flushes.append($0) }
        // pid 990 is gone: its command came from the kernel.
        backend.waiting = [FakeEventBackend.bound(7001, pid: 990, uid: 4243, command: "python3"),
                           FakeEventBackend.bound(7001, pid: 990, uid: 4243, command: "python3")]
        h.daemon.readGuardEvents()
        #expect(flushes == [Daemon.eventSettle])
        #expect(checks == [h.clock.monotonic() + 1], "a full check within one interval looks at the holders")
        h.daemon.flushEvents()
        let events = h.journal.entries(.guardDenied)
        #expect(events.map(\.message) == ["guard: pid 990 (python3) uid 4243 bound the report-only port 7001/tcp (svc) 2 times"])
        #expect(events.first?.fields["PORTWARD_VERDICT"] == "reported")
        h.clock.now += 1
        h.daemon.poll()
        #expect(h.journal.entries(.guardDenied).count == 1, "journalled once, not again by the check")
        #expect(h.published?.ownerGuard?.denials.map(\.pid) == [990], "published by the check")
        #expect(h.root.read("metrics/portward.prom")?.contains("\nportward_guard_denials_total 0\n") == true,
                "binds let through are no denials")
    }

    /// A report-only map entry with a valid owner: the bind hook reports the bind (let
    /// through) and post_bind sees the same bind() right after. One bind is one report.
    @Test func aReportOnlyBindSeenByBothHooksIsReportedOnce() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("quiet 7003 tcp user:4242 guard=report-only\n", backend)
        try h.daemon.start()
        h.journal.clear()
        let key = GuardKey(netnsCookie: 77, transport: .tcp, port: 7003)
        let atBind = GuardEvent.denial(GuardDenial(key: key, family: 4, pid: 990, uid: 4243, cgroupID: 9, command: "nc", allowed: true))
        let atPostBind = FakeEventBackend.bound(7003, pid: 990, uid: 4243, command: "nc")
        // Two binds by pid 990 (both hooks each), then one that only post_bind saw (the
        // bind hook's record lost to a full ring buffer).
        backend.waiting = [atBind, atPostBind, atBind, atPostBind, atPostBind]
        h.daemon.readGuardEvents()
        h.daemon.flushEvents()
        #expect(h.journal.entries(.guardDenied).map(\.message) == ["guard: pid 990 (nc) uid 4243 bound the report-only port 7003/tcp (quiet) 3 times"])
    }

    /// A socket unit's hook registered its cgroup for the owner after the map was written
    /// (systemd creates the listeners there, in "(sd-listen)", which is gone when the event
    /// is read): the bind is the owner's, not reported.
    @Test func aBindFromACgroupRegisteredSinceIsTheOwners() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("rsync 873 tcp unit:rsync.service\n", backend)
        let registry = DaemonHoldTests.registry(h)
        h.ownerRegistry = registry
        h.root.file("run/systemd/generator/rsync.service.d/50-portward-owner.conf", "[Service]\n")
        try h.daemon.start()
        h.journal.clear()
        try registry.record("rsync.service", id: 51, path: "/sys/fs/cgroup/system.slice/rsync.socket")
        backend.waiting = [.bound(GuardDenial(key: GuardKey(netnsCookie: 77, transport: .tcp, port: 873), family: 4, pid: 36, uid: 0,
                                              cgroupID: 51, command: "(sd-listen)", allowed: true)),
                           .bound(GuardDenial(key: GuardKey(netnsCookie: 77, transport: .tcp, port: 873), family: 4, pid: 37, uid: 0,
                                              cgroupID: 52, command: "ypserv", allowed: true))]
        h.daemon.readGuardEvents()
        h.daemon.flushEvents()
        #expect(h.journal.entries(.guardDenied).map(\.message) == ["guard: pid 37 (ypserv) uid 0 bound the report-only port 873/tcp (rsync)"],
                "only the other cgroup's bind")
        h.daemon.poll()
        #expect(h.published?.watch?.ownerBinds["rsync"]?.pid == 36)
    }

    @Test func anOwnerBindIsRecordedForStatus() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("svc 7001 tcp user:4242\nweb 8080 tcp -\n", backend)
        try h.daemon.start()
        h.journal.clear()
        backend.waiting = [FakeEventBackend.bound(7001, pid: 812, uid: 4242, command: "rsync"),
                           FakeEventBackend.bound(8080, pid: 813, uid: 33, command: "nginx"),
                           FakeEventBackend.bound(7002, pid: 814, uid: 0, command: "undeclared")]
        h.daemon.readGuardEvents()
        h.daemon.flushEvents()
        #expect(h.journal.entries(.guardDenied).isEmpty)
        h.daemon.poll()
        let binds = try #require(h.published?.watch?.ownerBinds)
        #expect(binds["svc"]?.pid == 812 && binds["svc"]?.command == "rsync" && binds["svc"]?.at == h.clock.now)
        #expect(binds["web"]?.pid == 813, "no owner declared: any bind is the owner's")
        #expect(binds.count == 2)
    }

    @Test func aFloodOfBindsIsBoundedByTheConflictBudget() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("svc 7001 tcp user:4242\n", backend)
        try h.daemon.start()
        h.journal.clear()
        var checks: [Double] = []
        h.daemon.requestCheck = { checks.append($0) }
        for round in 0..<50 {
            backend.waiting = (0..<100).map { FakeEventBackend.bound(7001, pid: UInt32(1000 + round * 100 + $0), uid: 4243, command: "taker") }
            h.daemon.readGuardEvents()
            h.daemon.flushEvents()
        }
        #expect(h.journal.entries(.guardDenied).count == 20)
        #expect(Set(checks).count == 1, "one full check asked for, however many binds")
        h.clock.now += 61
        h.daemon.flushEvents()
        h.daemon.poll()
        #expect(h.journal.entries(.eventsSuppressed).first?.fields["PORTWARD_COUNT"].flatMap { Int($0) } ?? 0 > 0)
    }

    @Test func aForeignWriteOfTheKeyIsReReadRepairedAndTheDriftNamesTheWriter() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("rsync 873 tcp -\n", backend)
        try h.daemon.start()
        h.journal.clear()
        var checks: [Double] = []
        h.daemon.requestCheck = { checks.append($0) }
        // The daemon's own write (pid 4242, the harness's) is not foreign.
        backend.waiting = [.sysctlWrite(SysctlWrite(key: .reservedPorts, pid: 4242, uid: 0, cgroupID: 3, command: "portward", netnsInode: nil))]
        h.daemon.readGuardEvents()
        #expect(checks.isEmpty)
        // The program runs before the store: at the first re-read the value is still whole.
        backend.waiting = [.sysctlWrite(SysctlWrite(key: .reservedPorts, pid: 212, uid: 0, cgroupID: 3, command: "systemd-sysctl",
                                                    netnsInode: nil, unit: "systemd-sysctl.service"))]
        h.daemon.readGuardEvents()
        #expect(checks == [h.clock.monotonic() + 0.001])
        #expect(abs(h.daemon.nextCheckDelay() - 0.001) < 1e-6)
        h.clock.now += 0.001
        h.daemon.poll()
        #expect(h.journal.entries(.driftRepaired).isEmpty)
        #expect(abs(h.daemon.nextCheckDelay() - 0.009) < 1e-6, "next re-read 10 ms after the write")
        h.kernel.value = PortSet([5000])   // now stored
        h.clock.now += 0.009
        h.daemon.poll()
        #expect(h.kernel.value == PortSet([873, 5000]))
        let drift = h.journal.entries(.driftRepaired)
        #expect(drift.map(\.message) == ["systemd-sysctl[212] (systemd-sysctl.service) dropped 873 from net.ipv4.ip_local_reserved_ports; restored"])
        #expect(drift.first?.fields["PORTWARD_WRITER"] == "systemd-sysctl[212] (systemd-sysctl.service)")
        #expect(h.published?.drift.last?.writer == "systemd-sysctl[212] (systemd-sysctl.service)")
        // The series runs out (100 ms, 1 s), then the safety net's interval again.
        h.clock.now += 0.09
        h.daemon.poll()
        h.clock.now += 0.9
        h.daemon.poll()
        #expect(h.daemon.nextCheckDelay() == 60)
        // A later drift without a reported write is nobody's in particular.
        h.kernel.value = PortSet()
        h.clock.now += 60
        h.daemon.poll()
        #expect(h.journal.entries(.driftRepaired).last?.fields["PORTWARD_WRITER"] == nil)
    }

    /// A writer rewriting the key again and again: the first repair names it, and so does
    /// the minute's summary of the others (issue 11 item 6).
    @Test func theDriftSummaryNamesTheWriter() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("rsync 873 tcp -\n", backend)
        try h.daemon.start()
        h.journal.clear()
        for _ in 0..<3 {
            backend.waiting = [.sysctlWrite(SysctlWrite(key: .reservedPorts, pid: 300, uid: 65534, cgroupID: 3,
                                                        command: "python3", netnsInode: nil))]
            h.daemon.readGuardEvents()
            h.kernel.value = PortSet([5000])
            h.clock.now += 0.01
            h.daemon.poll()
        }
        h.clock.now += 61
        h.daemon.poll()
        let drift = h.journal.entries(.driftRepaired)
        #expect(drift.map { $0.fields["PORTWARD_WRITER"] } == ["python3[300] uid 65534", "python3[300] uid 65534"], "\(drift.map(\.message))")
        #expect(drift.last?.fields["PORTWARD_COUNT"] == "2")
        #expect(drift.last?.message.hasSuffix("; written by python3[300] uid 65534") == true)
    }

    /// A writer in a loop (an unprivileged user can write the key of a network namespace it
    /// owns from the daemon's namespace, through a descriptor opened in its own) must not
    /// get a full check per write: a running series of re-reads is not restarted, so at most
    /// a few checks a second; a drift meanwhile is still repaired and named.
    @Test func aWriterInALoopGetsAFewChecksASecondNotOnePerWrite() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("rsync 873 tcp -\n", backend)
        try h.daemon.start()
        h.journal.clear()
        // The loop's timer: due at the earliest requested time, re-armed after each check.
        var due = h.clock.monotonic() + h.daemon.nextCheckDelay()
        h.daemon.requestCheck = { at in due = min(due, at) }
        var checks = 0
        let write = GuardEvent.sysctlWrite(SysctlWrite(key: .reservedPorts, pid: 300, uid: 65534, cgroupID: 3,
                                                       command: "python3", netnsInode: nil))
        // 2 s of a write every 2 ms, the time advancing in steps of 0.5 ms.
        for step in 1...4000 {
            h.clock.now += 0.0005
            if step % 4 == 0 {
                if step == 2000 { h.kernel.value = PortSet([5000]) }   // one real drift in the middle
                backend.waiting = [write]
                h.daemon.readGuardEvents()
            }
            if h.clock.monotonic() >= due - 1e-9 {
                h.daemon.poll()
                checks += 1
                due = h.clock.monotonic() + h.daemon.nextCheckDelay()
            }
        }
        #expect(checks <= 12, "a series of re-reads a second at most, not one check per write (\(checks) checks for 1000 writes)")
        #expect(h.kernel.value == PortSet([873, 5000]), "the drift in the middle was repaired")
        #expect(h.journal.entries(.driftRepaired).first?.fields["PORTWARD_WRITER"] == "python3[300] uid 65534")
    }

    @Test func writesInAnotherNetworkNamespaceAreNotThisDaemonsDrift() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("rsync 873 tcp -\n", backend)
        try h.daemon.start()
        var checks: [Double] = []
        h.daemon.requestCheck = { checks.append($0) }
        backend.waiting = [.sysctlWrite(SysctlWrite(key: .reservedPorts, pid: 300, uid: 1000, cgroupID: 3, command: "unshare",
                                                    netnsInode: 1))]
        h.daemon.readGuardEvents()
        #expect(checks.isEmpty)
    }

    @Test func droppedRecordsArePublished() throws {
        let backend = FakeEventBackend()
        backend.dropped = 12
        let h = Self.harness("rsync 873 tcp -\n", backend)
        try h.daemon.start()
        #expect(h.published?.watch?.droppedEvents == 12)
        #expect(h.journal.entries(.degraded).isEmpty, "dropped before this daemon: not its news")
        var checks: [Double] = []
        h.daemon.requestCheck = { checks.append($0) }
        backend.dropped = 40
        backend.waiting = [FakeEventBackend.bound(873, pid: 812, uid: 0, command: "rsync")]
        h.daemon.readGuardEvents()
        #expect(h.journal.entries(.degraded).map(\.message) == ["events: 28 ring-buffer records were dropped (buffer full); a full check catches up"])
        #expect(checks == [h.clock.monotonic() + 1, h.clock.monotonic() + 1], "a full check catches up")
        backend.dropped = 50
        h.daemon.poll()
        #expect(h.journal.entries(.degraded).count == 1, "at most one line per safety interval")
        #expect(h.published?.watch?.droppedEvents == 50)
    }

    @Test func statusSaysTheWatchModeAndTheOwnersBinds() throws {
        let backend = FakeEventBackend()
        let h = Self.harness("rsync 873 tcp user:4242\n", backend)
        try h.daemon.start()
        h.clock.now += 3
        backend.waiting = [FakeEventBackend.bound(873, pid: 812, uid: 4242, command: "rsync")]
        h.daemon.readGuardEvents()
        h.daemon.poll()
        let probe = DaemonProbe(view: h.published, isRunning: true)
        #expect(GuardReport.watch(probe) == """
            watch: events (binds and writes of the key are reported by the guard's BPF programs); full check every 60s
            bound: rsync 873/tcp by rsync[812] uid 4242 at \(SystemClock.format(h.clock.now)), 3 s after the daemon started

            """)
    }
}
