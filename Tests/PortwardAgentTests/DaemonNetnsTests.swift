import Glibc
import PortwardCore
import SystemPackage
@testable import PortwardLinux
@testable import PortwardAgent
import Testing

/// The daemon following other network namespaces (`netns=` entries, issue 14) on fake
/// discovery and keys: the owner guard's keys per namespace cookie, and state folders that
/// a namespace reusing a freed inode does not inherit.
@Suite struct DaemonNetnsTests {
    static func keys(_ cookie: UInt64, _ ports: [UInt16], _ owner: GuardOwner) -> [GuardKey: GuardOwner] {
        Dictionary(uniqueKeysWithValues: ports.map { (GuardKey(netnsCookie: cookie, transport: .tcp, port: $0), owner) })
    }

    @Test func theGuardKeysEachCoveredNamespaceByItsCookieAsNamespacesComeAndGo() throws {
        let fake = FakeGuardProvider()
        let h = DaemonGuardTests.harness("""
            svc  7001 tcp user:4242 netns=host,blue
            all  7002 tcp user:4243 netns=all
            host 7003 tcp user:4244

            """, fake)
        let blue = FakeNetns(inode: 100, name: "blue", cookie: 501)
        let red = FakeNetns(inode: 101, name: "red", cookie: 502, kernel: PortSet([9]))
        h.otherNamespaces = [blue, red]
        h.metricsFile = try MetricsFile(path: h.root.path + "/metrics/portward.prom")
        try h.daemon.start()
        #expect(h.root.read("metrics/portward.prom")?.contains("\nportward_network_namespaces 3\n") == true,
                "the host's, blue and red")
        let svc = GuardOwner(uid: 4242), all = GuardOwner(uid: 4243), host = GuardOwner(uid: 4244)
        var expected = Self.keys(77, [7001], svc).merging(Self.keys(77, [7002], all)) { a, _ in a }
            .merging(Self.keys(77, [7003], host)) { a, _ in a }
        expected.merge(Self.keys(501, [7001], svc)) { a, _ in a }
        expected.merge(Self.keys(501, [7002], all)) { a, _ in a }
        expected.merge(Self.keys(502, [7002], all)) { a, _ in a }
        #expect(fake.backend.entries == expected)
        #expect(blue.kernel.value == PortSet([7001, 7002]) && red.kernel.value == PortSet([9, 7002]))

        // red goes away, green appears (an inotify event: folders only).
        let green = FakeNetns(inode: 102, name: "green", cookie: 503)
        h.otherNamespaces = [blue, green]
        h.daemon.rescanNamespaces(foldersOnly: true)
        #expect(fake.backend.entries[GuardKey(netnsCookie: 503, transport: .tcp, port: 7002)] == all)
        h.daemon.rescanNamespaces()
        #expect(fake.backend.entries[GuardKey(netnsCookie: 502, transport: .tcp, port: 7002)] == nil,
                "a namespace gone loses its keys at the full rescan")
        #expect(fake.backend.entries.keys.filter { $0.netnsCookie == 501 }.count == 2)
        #expect(h.journal.entries(.guardActive).count == 1, "namespaces coming and going are not a new guard line")

        // A denial in blue is reported with its namespace and the entry declaring the port
        // there; one with a cookie the daemon does not cover is not portward's.
        fake.backend.waiting = [
            GuardDenial(key: GuardKey(netnsCookie: 501, transport: .tcp, port: 7001), family: 4, pid: 999_999,
                        uid: 1000, cgroupID: 1, command: "nc", allowed: false),
            GuardDenial(key: GuardKey(netnsCookie: 9_999, transport: .tcp, port: 7001), family: 4, pid: 999_998,
                        uid: 1000, cgroupID: 1, command: "other", allowed: false),
        ]
        h.daemon.poll()
        let denied = h.journal.entries(.guardDenied)
        #expect(denied.map(\.message) == ["guard: denied 7001/tcp (svc) in network namespace net:[100] blue to pid 999999 (nc) uid 1000 (EADDRINUSE)"])
        #expect(denied.first?.fields["PORTWARD_NETNS"] == "net:[100]" && denied.first?.fields["PORTWARD_NETNS_NAME"] == "blue")
        let published = try #require(h.published?.ownerGuard?.denials.first)
        #expect(published.netns == "net:[100]" && published.netnsName == "blue")
        let metrics = try #require(h.root.read("metrics/portward.prom"))
        #expect(metrics.contains("\nportward_guard_denials_total 1\n"), "blue's denial; the uncovered cookie's is not counted")
        #expect(metrics.contains("\nportward_network_namespaces 3\n"), "the host's, blue and green")

        // A reload that no longer reaches blue drops its keys.
        h.root.file("etc/portward/ports.conf", "svc 7001 tcp user:4242\nhost 7003 tcp user:4244\n")
        h.daemon.reload()
        #expect(fake.backend.entries == Self.keys(77, [7001], svc).merging(Self.keys(77, [7003], host)) { a, _ in a })
        h.daemon.poll()
        #expect(h.root.read("metrics/portward.prom")?.contains("\nportward_network_namespaces 1\n") == true,
                "the host's only")
    }

    /// The owners map is bounded (65,536) and anyone can make namespaces: the daemon's own
    /// entries always get their slots; other namespaces fit whole or not at all, those a user
    /// linked in /run/user last, and one line says how many are not guarded.
    @Test func aFullMapNeverCrowdsOutThisNamespacesEntries() throws {
        let fake = FakeGuardProvider()
        let h = DaemonGuardTests.harness("""
            own 7001 tcp user:4242
            big 20000-39999 tcp user:4242 netns=all

            """, fake)
        let named = FakeNetns(inode: 100, name: "blue", cookie: 501)
        let users = (0..<3).map { FakeNetns(inode: 200 + UInt64($0), name: "n\($0)", cookie: 600 + UInt64($0), folder: .rootlessPodman) }
        h.otherNamespaces = users + [named]
        try h.daemon.start()
        let cookies = Set(fake.backend.entries.keys.map(\.netnsCookie))
        // Host: 20,001 keys; room for two more namespaces of 20,000 below 65,536 - 1,024.
        #expect(fake.backend.entries.keys.filter { $0.netnsCookie == 77 }.count == 20_001, "this namespace's entries are all there")
        #expect(cookies.contains(501), "a named namespace before those a user linked")
        #expect(cookies == [77, 501, 600], "\(cookies.sorted())")
        #expect(fake.backend.entries.count <= guardOwnersCapacity)
        let lines = h.journal.entries(.degraded).map(\.message).filter { $0.contains("has no room") }
        #expect(lines == ["owner guard: its map (65536 entries) has no room for the entries of 2 other network namespaces; they are not guarded (their reservation still applies), this namespace's entries are"])
        h.daemon.rescanNamespaces()
        #expect(h.journal.entries(.degraded).filter { $0.message.contains("has no room") }.count == 1, "once, not per rescan")
    }

    /// A user can make namespaces of its own and point links in /run/user/UID/netns at them,
    /// each an inotify event and a folders-only rescan: the namespace lines have a budget per
    /// minute over every rescan, not only per rescan; the rest is counted in one line later.
    @Test func namespacesAUserMakesOneByOneDoNotFloodTheJournal() throws {
        let h = DaemonHarness(config: "app 9100 tcp - netns=all\n")
        try h.daemon.start()
        h.journal.clear()
        for i in 0..<200 {
            h.otherNamespaces.append(FakeNetns(inode: 5000 + UInt64(i), name: "u\(i)", cookie: 7000 + UInt64(i)))
            h.clock.now += 0.03
            h.daemon.rescanNamespaces(foldersOnly: true)
        }
        let lines = h.journal.entries(.netnsApplied)
        #expect(lines.count <= 30 && lines.count == NetnsFollower.budgetPerPeriod, "\(lines.count) lines for 200 namespaces in 6 s")
        #expect(h.otherNamespaces.allSatisfy { $0.kernel.value == PortSet([9100]) }, "every namespace is still covered")
        // The period over, the next rescan says how many were not logged.
        h.clock.now += NetnsFollower.budgetPeriod
        h.daemon.rescanNamespaces()
        let summary = h.journal.entries(.netnsApplied).last
        #expect(summary?.fields["PORTWARD_COUNT"] == String(200 - lines.count), "\(summary?.message ?? "")")
    }

    @Test func aSlicedRescanLetsAFoldersOnlyRescanCoverANewNamespaceMeanwhileAndKeepsIt() throws {
        let fake = FakeGuardProvider()
        let h = DaemonGuardTests.harness("all 7002 tcp user:4243 netns=all\n", fake)
        let many = (0..<12).map { FakeNetns(inode: 1000 + UInt64($0), name: "n\($0)", cookie: 5000 + UInt64($0)) }
        h.otherNamespaces = many
        try h.daemon.start()
        #expect(fake.backend.entries.keys.filter { $0.netnsCookie >= 5000 }.count == 12)
        h.otherNamespaces = Array(many.dropFirst())
        h.daemon.beginNamespaceRescan()
        #expect(h.daemon.continueNamespaceRescan() == false, "11 namespaces: more than one slice")
        let late = FakeNetns(inode: 3000, name: "late", cookie: 9000)
        h.otherNamespaces.append(late)
        h.daemon.beginNamespaceRescan()  // a period elapsed: the pass in progress goes on
        h.daemon.rescanNamespaces(foldersOnly: true)
        #expect(late.kernel.value == PortSet([7002]), "covered between two slices")
        #expect(fake.backend.entries[GuardKey(netnsCookie: 9000, transport: .tcp, port: 7002)] != nil)
        #expect(h.daemon.continueNamespaceRescan() == true)
        #expect(fake.backend.entries[GuardKey(netnsCookie: 5000, transport: .tcp, port: 7002)] == nil, "n0 is gone")
        #expect(fake.backend.entries[GuardKey(netnsCookie: 9000, transport: .tcp, port: 7002)] != nil,
                "what the folders-only rescan added during the pass stays followed")
        #expect(h.daemon.followedNamespaces.count == 12)
        #expect(h.daemon.continueNamespaceRescan() == true, "nothing in progress")
    }

    @Test func aNamespaceVanishingBeforeItsOpenIsSilentAndLosesItsFolderOtherFailuresAreLoggedOnce() throws {
        let h = DaemonHarness(config: "vpn 7001 tcp netns=all\n")
        let blue = FakeNetns(inode: 100, name: "blue", cookie: 501)
        let red = FakeNetns(inode: 101, name: "red", cookie: 502)
        h.otherNamespaces = [blue, red]
        try h.daemon.start()
        let folders = TargetContext.netnsDirectory(h.context.runtimeDirectory)
        #expect(access(folders + "/100-501/state.json", F_OK) == 0)
        h.journal.clear()
        // Discovered, then gone before the open (process exited, ip netns del).
        blue.openError = .vanished(path: "/run/netns/blue")
        red.openError = .setnsFailed(path: "/run/netns/red", errno: .permissionDenied)
        h.daemon.rescanNamespaces()
        h.daemon.rescanNamespaces()
        #expect(access(folders + "/100-501", F_OK) != 0, "a vanished namespace's folder goes")
        #expect(h.journal.entries(.netnsFailed).count == 1, "a real failure is logged once")
        #expect(h.journal.entries(.netnsFailed).first?.message.contains("red") == true)
        #expect(!h.journal.entries.contains { $0.message.contains("blue") }, "vanishing is not logged")
        red.openError = nil
        red.kernel.value = PortSet()
        h.daemon.rescanNamespaces()
        #expect(red.kernel.value == PortSet([7001]), "retried at the next rescan")
    }

    /// The daemon's own sandbox refusing (the unit without its namespace drop-in) is the
    /// same for every namespace: one line with the fix, not one per namespace or rescan;
    /// daemon.json carries it for `status`.
    @Test func aSandboxRefusalIsLoggedOnceForAllNamespacesWithTheFixAndPublished() throws {
        let h = DaemonHarness(config: "host 7000 tcp\nvpn 7001 tcp netns=all\n")
        let blue = FakeNetns(inode: 100, name: "blue", cookie: 501)
        let red = FakeNetns(inode: 101, name: "red", cookie: 502)
        let green = FakeNetns(inode: 102, name: "green", cookie: 503)
        blue.openError = .setnsFailed(path: "/run/netns/blue", errno: .notPermitted)
        red.openError = .setnsFailed(path: "/run/netns/red", errno: .notPermitted)
        // Entered, but the key is on the read-only /proc/sys (no ReadWritePaths=/proc/sys/net).
        green.kernel.openForWritingError = .readOnlyFileSystem
        h.otherNamespaces = [blue, red, green]
        try h.daemon.start()
        h.daemon.rescanNamespaces()
        h.daemon.rescanNamespaces(foldersOnly: true)
        h.otherNamespaces.append(FakeNetns(inode: 103, name: "late", cookie: 504))
        h.otherNamespaces.last?.openError = .setnsFailed(path: "/run/netns/late", errno: .notPermitted)
        h.daemon.rescanNamespaces(foldersOnly: true)
        h.daemon.rescanNamespaces()
        let refusals = h.journal.entries(.degraded).filter { $0.message.hasPrefix("netns: ") }
        let expected: String = "netns: entering other network namespaces needs the unit's namespace drop-in (written by "
            + "portward-generator for netns= entries): run systemctl daemon-reload, then systemctl restart portward.service; "
            + "no other namespace gets its reservation until then (cannot enter network namespace /run/netns/blue: setns: "
            + "\(Errno.notPermitted))"
        #expect(refusals.map(\.message) == [expected])
        #expect(h.journal.entries(.netnsFailed).isEmpty, "not one line per namespace")
        #expect(h.kernel.value == PortSet([7000, 7001]), "the host's own reservation is unaffected")
        h.daemon.poll()
        #expect(h.published?.netnsUnavailable == refusals.first?.message)

        // A real failure of one namespace stays per namespace.
        let other = DaemonHarness(config: "vpn 7001 tcp netns=all\n")
        let denied = FakeNetns(inode: 100, name: "blue", cookie: 501)
        denied.openError = .setnsFailed(path: "/run/netns/blue", errno: .permissionDenied)
        other.otherNamespaces = [denied]
        try other.daemon.start()
        other.daemon.poll()
        #expect(other.journal.entries(.netnsFailed).count == 1)
        #expect(other.published?.netnsUnavailable == nil)
    }

    /// With the drop-in generated but not in force (the daemon started before it), the
    /// line says to restart only.
    @Test func aSandboxRefusalWithTheDropInWrittenAsksForARestart() throws {
        let h = DaemonHarness(config: "vpn 7001 tcp netns=blue\n")
        h.root.file(String(NetnsServiceDropIn.path().dropFirst()), "[Service]\n")
        let blue = FakeNetns(inode: 100, name: "blue", cookie: 501)
        blue.kernel.openForWritingError = .readOnlyFileSystem
        h.otherNamespaces = [blue]
        try h.daemon.start()
        let refusal = try #require(h.journal.entries(.degraded).first { $0.message.hasPrefix("netns: ") })
        #expect(refusal.message.contains("50-portward-netns.conf exists, but this daemon runs without it: run systemctl restart portward.service"))
        #expect(refusal.message.hasSuffix("(cannot open /proc/sys/net/ipv4/ip_local_reserved_ports in network namespace blue: \(Errno.readOnlyFileSystem))"))
    }

    @Test func aRescanWithNothingToChangeLeavesTheStateFileAlone() throws {
        let h = DaemonHarness(config: "vpn 7001 tcp netns=blue\n")
        let blue = FakeNetns(inode: 100, name: "blue", cookie: 501)
        h.otherNamespaces = [blue]
        try h.daemon.start()
        let path = TargetContext.netnsDirectory(h.context.runtimeDirectory) + "/100-501/state.json"
        func inode(_ path: String) -> ino_t? {
            var st = stat()
            return stat(path, &st) == 0 ? st.st_ino : nil
        }
        // A second link keeps the file's inode: an atomic rewrite (rename) gives the name
        // another one, which cannot be this one again.
        #expect(link(path, path + ".probe") == 0)
        defer { unlink(path + ".probe") }
        let first = try #require(inode(path + ".probe"))
        h.daemon.rescanNamespaces()
        #expect(inode(path) == first, "not rewritten")
        blue.kernel.value = PortSet()
        h.daemon.rescanNamespaces()
        #expect(blue.kernel.value == PortSet([7001]))
        #expect(inode(path) != first, "a repair records its state")
    }

    @Test func aNamespaceReusingAFreedInodeDoesNotInheritTheDeadOnesState() throws {
        let h = DaemonHarness(config: "vpn 7001 tcp netns=blue\n")
        let blue = FakeNetns(inode: 100, name: "blue", cookie: 501)
        h.otherNamespaces = [blue]
        try h.daemon.start()
        #expect(blue.kernel.value == PortSet([7001]))
        let folders = TargetContext.netnsDirectory(h.context.runtimeDirectory)
        #expect(access(folders + "/100-501/state.json", F_OK) == 0)

        // blue is deleted; a new namespace gets its inode, and another writer put 7001 there.
        let reused = FakeNetns(inode: 100, name: "other", cookie: 502, kernel: PortSet([7001]))
        h.otherNamespaces = [reused]
        h.daemon.rescanNamespaces()
        #expect(reused.kernel.value == PortSet([7001]), "the other writer's port is not released as portward's")
        #expect(access(folders + "/100-501", F_OK) != 0, "the dead namespace's folder is removed")
        #expect(access(folders + "/100-502", F_OK) != 0, "nothing of portward's in the new one")

        // The same inode, selected again under the name blue: a fresh state, the port stays
        // the other writer's (released by nobody at a reload that drops the entry).
        let again = FakeNetns(inode: 100, name: "blue", cookie: 503, kernel: PortSet([7001]))
        h.otherNamespaces = [again]
        h.daemon.rescanNamespaces()
        #expect(access(folders + "/100-503/state.json", F_OK) == 0)
        h.root.file("etc/portward/ports.conf", "other 7002 tcp\n")
        h.daemon.reload()
        #expect(again.kernel.value == PortSet([7001]), "7001 was there before portward: kept")
        #expect(access(folders + "/100-503", F_OK) != 0)
    }
}

@Suite struct ProcessNamespaceScopeTests {
    @Test("a --root daemon that sees the host's processes never follows their namespaces (the host's own among them); in a pid namespace of its own, or for /, it does")
    func rootDaemonsDoNotFollowTheHostsProcesses() {
        let root = TargetContext(root: "/tmp/some-root"), host = TargetContext(root: "/")
        #expect(!DaemonEnvironment.followsProcessNamespaces(root, pidNamespaceInode: PidNamespace.initialInode))
        #expect(!DaemonEnvironment.followsProcessNamespaces(root, pidNamespaceInode: nil), "unknown: as the host's")
        #expect(DaemonEnvironment.followsProcessNamespaces(root, pidNamespaceInode: 4_026_532_999))
        #expect(DaemonEnvironment.followsProcessNamespaces(host, pidNamespaceInode: PidNamespace.initialInode))
    }
}
