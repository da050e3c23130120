import Foundation
import PortwardCore
@testable import PortwardLinux
@testable import PortwardAgent
import SystemPackage
import Testing

/// The hold fallback's sockets without the kernel: which ports are bound, by token.
final class FakePortHolder: PortHolder {
    private(set) var held: [Int32: String] = [:]
    private var next: Int32 = 100
    /// Ports someone else holds (`873/udp`): bind gets EADDRINUSE.
    var inUse: Set<String> = []
    var limit = 100_000

    func hold(_ transport: TransportProtocol, port: UInt16) throws(Errno) -> Int32 {
        let name = "\(port)/\(transport.rawValue)"
        if inUse.contains(name) || held.values.contains(name) { throw .addressInUse }
        next += 1
        held[next] = name
        return next
    }

    func release(_ token: Int32) { held[token] = nil }
    func inode(of token: Int32) -> UInt64? { UInt64(token) }
    func capacity() -> Int { limit }
    var ports: [String] { held.values.sorted() }
}

@Suite struct DaemonHoldTests {
    /// A daemon whose guard is unavailable (no bpffs), with rsync.service's drop-in in place.
    static func harness(_ config: String = "rsync 873 tcp,udp unit:rsync.service\n", holder: FakePortHolder,
                        guardFails: Bool = true, hold: Bool? = true) -> (DaemonHarness, FakeGuardProvider) {
        let h = DaemonHarness(config: config)
        let fake = FakeGuardProvider()
        if guardFails { fake.failure = .unavailable(.noBPFFilesystem, detail: "/sys/fs/bpf is not a mounted bpf filesystem") }
        h.guardProvider = fake.provider
        h.portHolder = holder
        h.ownerRegistry = registry(h)
        h.options = DaemonOptions(interval: 1, procRoot: h.proc.path, ownerGuard: true, hold: hold)
        h.root.file("run/systemd/generator/rsync.service.d/50-portward-owner.conf", "[Service]\n")
        return (h, fake)
    }

    /// A registry whose "cgroups" are directories of the test tree (id: the inode).
    static func registry(_ h: DaemonHarness) -> OwnerRegistry {
        var registry = OwnerRegistry(h.context)
        registry.directoryID = { path in
            var st = stat()
            return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
        }
        return registry
    }

    /// The unit "runs": its recorded cgroup directory exists (a directory of the test tree).
    static func run(_ h: DaemonHarness, _ unit: String = "rsync.service", cgroup: String = "cg") {
        h.root.file("\(cgroup)/cgroup.procs", "")
        let path = h.root.path + "/" + cgroup
        let registry = registry(h)
        try! registry.record(unit, id: registry.directoryID(path)!, path: path)
    }

    static func stopUnit(_ h: DaemonHarness, cgroup: String = "cg") {
        try? FileManager.default.removeItem(atPath: h.root.path + "/" + cgroup)
    }

    @Test func heldWhileStoppedReleasedToTheStartHookHeldAgainByTheStopHook() throws {
        let holder = FakePortHolder()
        let (h, _) = Self.harness(holder: holder)
        try h.daemon.start()
        #expect(holder.ports == ["873/tcp", "873/udp"])
        #expect(h.journal.entries(.portsHeld).map(\.message) == ["hold fallback: holding 2 sockets of rsync for rsync.service while it is not running"])
        #expect(h.published?.ownerGuard?.entries["rsync"] == EntryProtection(.held))
        #expect(h.journal.entries(.degraded).map(\.message) == [
            "owner guard: BPF guard unavailable: no BPF filesystem: /sys/fs/bpf is not a mounted bpf filesystem; unit: owners' ports are held while they are stopped (hold fallback); user: owners are report-only"])
        // ExecStartPre: register-owner records the new cgroup, then asks for the release.
        Self.run(h)
        #expect(h.daemon.controlRequest(HoldControlRequest(verb: .release, unit: "rsync.service")) == "released 2")
        #expect(holder.ports.isEmpty, "closed before the answer")
        #expect(h.journal.entries(.portsReleased).last?.message == "hold fallback: released 2 sockets to rsync.service (its start hook)")
        h.daemon.poll()
        #expect(holder.ports.isEmpty, "the unit runs: not held again by the check")
        #expect(h.published?.ownerGuard?.entries["rsync"] == EntryProtection(.held, reason: "released: rsync.service is running"))
        // ExecStopPost: the cgroup still exists while the stop hook runs.
        #expect(h.daemon.controlRequest(HoldControlRequest(verb: .hold, unit: "rsync.service")) == "held 2")
        #expect(holder.ports == ["873/tcp", "873/udp"])
        h.daemon.poll()
        #expect(holder.ports.count == 2, "the stopping unit's cgroup is not taken for a new start")
        Self.stopUnit(h)
        h.daemon.poll()
        #expect(holder.ports.count == 2)
    }

    /// rsync.socket exists: rsync.service counts as hooked only with the socket unit's
    /// drop-in too (its hook releases the held ports to systemd's listener); without it the
    /// ports are not held (the socket unit could not listen).
    @Test func aSocketActivatedOwnerNeedsTheSocketUnitsDropIn() throws {
        let holder = FakePortHolder()
        let (h, _) = Self.harness(holder: holder)
        h.root.file("usr/lib/systemd/system/rsync.socket", "[Socket]\nListenStream=873\n")
        try h.daemon.start()
        #expect(holder.ports.isEmpty)
        #expect(h.published?.ownerGuard?.entries["rsync"]?.state == .reportOnly)
        h.root.file("run/systemd/generator/rsync.socket.d/50-portward-owner.conf", "[Socket]\n")
        h.daemon.poll()
        #expect(holder.ports == ["873/tcp", "873/udp"])
    }

    /// An entry added, portward reloaded, then `systemctl daemon-reload` (the generator
    /// writes the owner's drop-in): the next check sees the drop-in and guards the entry,
    /// without another reload of portward.
    @Test func aDropInWrittenAfterTheStartIsSeenAtTheNextCheck() throws {
        let holder = FakePortHolder()
        let (h, _) = Self.harness(holder: holder, guardFails: false)
        let dropIn = "run/systemd/generator/rsync.service.d/50-portward-owner.conf"
        unlink(h.root.path + "/" + dropIn)
        try h.daemon.start()
        h.daemon.poll()
        #expect(h.published?.ownerGuard?.entries["rsync"]?.state == .reportOnly)
        #expect(h.published?.ownerGuard?.entries["rsync"]?.reason?.contains("run systemctl daemon-reload") == true)
        h.root.file(dropIn, "[Service]\n")
        h.daemon.poll()
        #expect(h.published?.ownerGuard?.entries["rsync"] == EntryProtection(.guarded))
        // daemon-reload empties the generator directory and runs the generators again: a
        // check in that gap keeps the guard; a reload (or start) sees the drop-in gone.
        unlink(h.root.path + "/" + dropIn)
        h.daemon.poll()
        #expect(h.published?.ownerGuard?.entries["rsync"] == EntryProtection(.guarded), "not lost in daemon-reload's gap")
        h.daemon.reload()
        #expect(h.published?.ownerGuard?.entries["rsync"]?.state == .reportOnly, "a reload sees it gone")
    }

    /// The registry is read under its lock by the daemon and by the owner's start hook: a
    /// FIFO planted there must not hang either (issue 11 item 8), nor a symbolic link
    /// redirect it.
    @Test func aFIFOOrSymbolicLinkPlantedInTheRegistryIsNeverOpened() throws {
        let holder = FakePortHolder()
        let (h, _) = Self.harness(holder: holder)
        let registry = Self.registry(h)
        let record = registry.directory + "/rsync.service"
        try FileContents.makeDirectories(registry.directory)
        #expect(mkfifo(record, 0o600) == 0)
        #expect(registry.recordedEntry("rsync.service") == nil)
        try h.daemon.start()
        #expect(holder.ports == ["873/tcp", "873/udp"], "started, the owner taken as never started")
        unlink(record)
        h.root.file("elsewhere", "1234 /sys/fs/cgroup/system.slice/rsync.service\n")
        #expect(symlink(h.root.path + "/elsewhere", record) == 0)
        #expect(registry.recordedEntry("rsync.service") == nil, "a symbolic link is not followed")
        unlink(record)
        try registry.record("rsync.service", id: 1234, path: "/sys/fs/cgroup/system.slice/rsync.service")
        #expect(registry.recordedEntry("rsync.service")?.id == 1234, "a regular record is read")
    }

    @Test func theDaemonsOwnHeldSocketsAreNotConflicts() throws {
        let holder = FakePortHolder()
        let (h, _) = Self.harness(holder: holder)
        try h.daemon.start()
        // sock_diag sees the held sockets (inodes = the fake's tokens) and a stranger's.
        h.sockets.records = holder.held.keys.sorted().map { token in
            holder.held[token]!.hasSuffix("udp") ? .udp(873, inode: UInt64(token)) : .tcpListen(873, inode: UInt64(token))
        }
        h.daemon.poll()
        #expect(h.journal.entries(.conflictStarted).isEmpty, "\\(h.journal.entries(.conflictStarted).map(\\.message))")
        h.sockets.records.append(.udp(873, inode: 9999))
        h.daemon.poll()
        #expect(h.journal.entries(.conflictStarted).count == 1, "someone else's socket still is one")
    }

    @Test func restartedManyTimesInARow() throws {
        let holder = FakePortHolder()
        let (h, _) = Self.harness(holder: holder)
        try h.daemon.start()
        for start in 0..<20 {
            Self.run(h, cgroup: "cg\(start)")
            #expect(h.daemon.controlRequest(HoldControlRequest(verb: .release, unit: "rsync.service")) == "released 2")
            #expect(holder.ports.isEmpty)
            if start % 3 == 0 { h.daemon.poll() }
            #expect(h.daemon.controlRequest(HoldControlRequest(verb: .hold, unit: "rsync.service")) == "held 2")
            Self.stopUnit(h, cgroup: "cg\(start)")
            if start % 2 == 0 { h.daemon.poll() }
            #expect(holder.ports.count == 2)
        }
    }

    @Test func safetyNetsHoldAStoppedUnitAndReleaseAnUnhookedStart() throws {
        let holder = FakePortHolder()
        let (h, _) = Self.harness(holder: holder)
        try h.daemon.start()
        Self.run(h)
        _ = h.daemon.controlRequest(HoldControlRequest(verb: .release, unit: "rsync.service"))
        // Stopped without the stop hook reaching the daemon: its cgroup is gone.
        Self.stopUnit(h)
        h.daemon.poll()
        #expect(holder.ports == ["873/tcp", "873/udp"])
        #expect(h.journal.entries(.portsHeld).last?.message.hasSuffix("(rsync.service is no longer running)") == true)
        // Started without the start hook reaching the daemon: a new recorded cgroup.
        Self.run(h, cgroup: "cg2")
        h.daemon.poll()
        #expect(holder.ports.isEmpty)
        #expect(h.journal.entries(.portsReleased).last?.message.contains("started without its start hook reaching portward") == true)
    }

    @Test func anOwnerRunningAtStartIsNotHeld() throws {
        let holder = FakePortHolder()
        let (h, _) = Self.harness(holder: holder)
        Self.run(h)
        try h.daemon.start()
        #expect(holder.ports.isEmpty)
        #expect(h.journal.entries(.portsHeld).isEmpty)
    }

    @Test func aPortSomeoneElseHoldsIsReportedOnceAndTriedAgain() throws {
        let holder = FakePortHolder()
        holder.inUse = ["873/udp"]
        let (h, _) = Self.harness(holder: holder)
        try h.daemon.start()
        h.daemon.poll()
        h.daemon.poll()
        #expect(holder.ports == ["873/tcp"])
        #expect(h.journal.entries(.holdFailed).map(\.message) == [
            "hold fallback: cannot hold 873/udp (rsync) for rsync.service: in use by another socket (EADDRINUSE); tried again every check",
        ])
        #expect(h.published?.ownerGuard?.entries["rsync"]
                == EntryProtection(.held, reason: "1 of 2 sockets not held: 873/udp (in use by another socket (EADDRINUSE))"))
        holder.inUse = []
        h.daemon.poll()
        #expect(holder.ports == ["873/tcp", "873/udp"])
        #expect(h.published?.ownerGuard?.entries["rsync"] == EntryProtection(.held))
    }

    @Test func theLimitIsReportedAndUserOwnersAreReportOnly() throws {
        let holder = FakePortHolder()
        holder.limit = 3
        let (h, _) = Self.harness("rsync 873-874 tcp,udp unit:rsync.service\nsvc 7001 tcp user:4242\n", holder: holder)
        try h.daemon.start()
        #expect(holder.ports == ["873/tcp", "873/udp", "874/tcp"])
        #expect(h.journal.entries(.degraded).contains { $0.message == "hold fallback: 1 sockets are not held (over the limit of 3 sockets: rsync)" })
        let entries = try #require(h.published?.ownerGuard?.entries)
        #expect(entries["rsync"] == EntryProtection(.held, reason: "1 sockets over the hold limit of 3 not held"))
        #expect(entries["svc"]?.state == .reportOnly)
        #expect(entries["svc"]?.reason?.hasSuffix("user: owners are not held: no start hook releases the port to the user's program") == true)
    }

    @Test func nothingIsHeldWhileTheGuardIsInForceOrTheFallbackIsOff() throws {
        let holder = FakePortHolder()
        let (h, fake) = Self.harness(holder: holder, guardFails: false)
        try h.daemon.start()
        #expect(fake.installs == 1)
        #expect(holder.ports.isEmpty)
        #expect(h.daemon.controlRequest(HoldControlRequest(verb: .release, unit: "rsync.service")) == "released 0")
        #expect(h.published?.ownerGuard?.entries["rsync"] == EntryProtection(.guarded))

        let other = FakePortHolder()
        let (off, _) = Self.harness(holder: other, hold: nil)
        try off.daemon.start()
        #expect(other.ports.isEmpty, "off by default with --root")
        #expect(off.published?.ownerGuard?.entries["rsync"]?.state == .reportOnly)
    }

    @Test func aReloadThatDropsTheEntryReleasesItsSockets() throws {
        let holder = FakePortHolder()
        let (h, _) = Self.harness(holder: holder)
        try h.daemon.start()
        h.root.file("etc/portward/ports.conf", "rsync 873 tcp -\n")
        h.daemon.reload()
        #expect(holder.ports.isEmpty)
        #expect(h.journal.entries(.portsReleased).last?.message == "hold fallback: released 2 sockets to rsync.service (no longer held: the owner guard is in force, or no entry needs holding)")
        h.root.file("etc/portward/ports.conf", "rsync 873 tcp,udp unit:rsync.service\nradius 1812 udp unit:rsync.service\n")
        h.daemon.reload()
        #expect(holder.ports == ["1812/udp", "873/tcp", "873/udp"])
        h.root.file("etc/portward/ports.conf", "radius 1812 udp unit:rsync.service\n")
        h.daemon.reload()
        #expect(holder.ports == ["1812/udp"])
        #expect(h.journal.entries(.portsReleased).last?.message == "hold fallback: released 2 sockets to rsync.service (no longer declared)")
    }
}

@Suite struct DaemonHoldSCTPTests {
    /// A holder whose kernel has no SCTP (EPROTONOSUPPORT), as without the sctp module.
    final class NoSCTPHolder: PortHolder {
        let inner = FakePortHolder()
        func hold(_ transport: TransportProtocol, port: UInt16) throws(Errno) -> Int32 {
            if transport == .sctp { throw .protocolNotSupported }
            return try inner.hold(transport, port: port)
        }
        func release(_ token: Int32) { inner.release(token) }
        func inode(of token: Int32) -> UInt64? { nil }
        func capacity() -> Int { 100 }
    }

    @Test func anAllProtocolsEntryWithoutSCTPIsHeldForTCPAndUDPAndNotJournalledForSCTP() throws {
        let holder = NoSCTPHolder()
        let h = DaemonHarness(config: "rsync 873 - unit:rsync.service\n")
        let fake = FakeGuardProvider()
        fake.failure = .unavailable(.permissionDenied, detail: "bpf: EPERM")
        h.guardProvider = fake.provider
        h.portHolder = holder
        h.ownerRegistry = DaemonHoldTests.registry(h)
        h.options = DaemonOptions(interval: 1, procRoot: h.proc.path, ownerGuard: true, hold: true)
        h.root.file("run/systemd/generator/rsync.service.d/50-portward-owner.conf", "[Service]\n")
        try h.daemon.start()
        h.daemon.poll()
        #expect(holder.inner.ports == ["873/tcp", "873/udp"])
        #expect(h.journal.entries(.holdFailed).isEmpty)
        #expect(h.published?.ownerGuard?.entries["rsync"]
                == EntryProtection(.held, reason: "1 of 3 sockets not held: 873/sctp (SCTP is not available in this kernel)"))
    }
}
