import Foundation
import PortwardCore
@testable import PortwardLinux
@testable import PortwardAgent
import Testing

/// What users read, as golden files: `check`, `cat-config`, and `status` as a table and as
/// JSON, run in-process on a fake kernel, fake sock_diag and a fake /proc.
@Suite struct GoldenTests {
    static let mainConfig = """
        # NAME        PORTS         PROTOCOLS  OWNER
        radius        1812-1813     udp        unit:freeradius.service
        rsync         873           tcp        exe:/usr/bin/rsync
        keystone      35357         tcp        user:0
        nodeports     30000-30010   tcp,udp    -

        """

    /// A root with the main file, an override in /etc of a packaged drop-in, a mask, and
    /// a packaged drop-in of its own.
    static func makeRoot() -> TemporaryTree {
        let root = TemporaryTree("portward-golden")
        root.file("etc/portward/ports.conf", mainConfig)
        root.file("usr/lib/portward/ports.d/50-kadmin.conf", "kadmin 749 tcp,udp -\n")
        root.file("usr/lib/portward/ports.d/60-ldap.conf", "ldap 389 tcp -\n")
        root.file("etc/portward/ports.d/60-ldap.conf", "ldap 636 tcp -\n")
        root.link("etc/portward/ports.d/70-old.conf", to: "/dev/null")
        root.file("usr/lib/portward/ports.d/70-old.conf", "old 4000 tcp -\n")
        return root
    }

    static func run(_ root: TemporaryTree, _ body: (CapturedTerminal) throws(PortwardAgent.ExitStatus) -> Void) -> String {
        let terminal = CapturedTerminal()
        var exit: Int32 = 0
        do { try body(terminal) } catch { exit = error.code }
        return terminal.transcript(exit: exit, root: root.path)
    }

    @Test func check() {
        let root = Self.makeRoot()
        let kernel = FakeReservedPorts(try! ReservedPortsValue.decode("873,5000,40000-40010"))
        let text = Self.run(root) { terminal throws(PortwardAgent.ExitStatus) in
            try CheckCommand(context: TargetContext(root: root.path), force: false, sysctl: ReservedPortsSysctl(io: kernel))
                .run(on: terminal)
        }
        Golden.expect("check.txt", text)
    }

    /// `netns=` scopes (issue 14): the NETNS column, the namespaces reached (no namespace
    /// is bind-mounted under the test root, so only `host` and `pods`), and a host plan
    /// without the other namespaces' ports.
    @Test func checkWithScopes() {
        let root = TemporaryTree("portward-golden")
        root.file("etc/portward/ports.conf", """
            radius      1812-1813  udp  unit:freeradius.service
            cilium-dns  10053      udp  -   netns=pods
            wireguard   51820      udp  netns=host,vpn-*
            tunnel      51900      udp  netns=vpn-*

            """)
        root.file("etc/portward/ports.d/60-containers.conf", "netns=all\napp-metrics 9100 tcp\n")
        let kernel = FakeReservedPorts()
        let text = Self.run(root) { terminal throws(PortwardAgent.ExitStatus) in
            try CheckCommand(context: TargetContext(root: root.path), force: false, sysctl: ReservedPortsSysctl(io: kernel))
                .run(on: terminal)
        }
        Golden.expect("check-netns.txt", text)
    }

    @Test func checkRefusedBySafetyRail() {
        let root = TemporaryTree("portward-golden")
        root.file("etc/portward/ports.conf", "wide 32768-50000 tcp -\n")
        let kernel = FakeReservedPorts()
        let text = Self.run(root) { terminal throws(PortwardAgent.ExitStatus) in
            try CheckCommand(context: TargetContext(root: root.path), force: false, sysctl: ReservedPortsSysctl(io: kernel))
                .run(on: terminal)
        }
        Golden.expect("check-refused.txt", text)
    }

    @Test func catConfig() {
        let root = Self.makeRoot()
        let text = Self.run(root) { terminal throws(PortwardAgent.ExitStatus) in
            try CatConfigCommand(context: TargetContext(root: root.path)).run(on: terminal)
        }
        Golden.expect("cat-config.txt", text)
    }

    /// radius held by its unit; rsync's port held by rpcbind and not reserved; a
    /// connection that took a nodeport as its source port; kadmin free.
    static func status(json: Bool, daemon: DaemonProbe = DaemonProbe(view: nil, isRunning: false)) -> String {
        let root = Self.makeRoot()
        let proc = TemporaryTree("portward-golden-proc")
        fakeProc(proc, processes: [
            (pid: 812, comm: "freeradius", uid: 106, exe: "/usr/sbin/freeradius", inodes: [1001, 1002]),
            (pid: 640, comm: "rpcbind", uid: 0, exe: "/sbin/rpcbind", inodes: [2001]),
        ])
        let kernel = FakeReservedPorts(try! ReservedPortsValue.decode("749,1812-1813,30000-30010,35357"))
        let sockets = FakeSockDiag()
        sockets.records = [
            .udp(1812, inode: 1001), .udp(1813, inode: 1002),
            .tcpListen(873, inode: 2001),
            SocketRecord(transport: .tcp, family: .ipv4, localAddress: "10.0.0.5", localPort: 30004,
                         remoteAddress: "10.0.0.9", remotePort: 443, state: .established, uid: 1000, inode: 0),
        ]
        let units: [Int32: String] = [812: "freeradius.service", 640: "rpcbind.service"]
        let text = Self.run(root) { terminal throws(PortwardAgent.ExitStatus) in
            try StatusCommand(
                context: TargetContext(root: root.path), json: json, procRoot: proc.path,
                sysctl: ReservedPortsSysctl(io: kernel),
                makeHolderLookup: {
                    try HolderLookup(procRoot: proc.path,
                                     processes: ProcessTable(procRoot: proc.path, unitLookup: { units[$0] }),
                                     sockDiag: sockets)
                },
                daemon: daemon, pinnedGuard: { nil }
            ).run(on: terminal)
        }
        return text
    }

    @Test func statusTable() {
        Golden.expect("status.txt", Self.status(json: false))
    }

    @Test func statusJSON() {
        Golden.expect("status.json.txt", Self.status(json: true))
    }

    // MARK: issue 11: states that are not an all-clear

    /// One status run on a root with `config`, a fake kernel holding `reserved`, `records`
    /// from sock_diag, a fake /proc of `processes` (and their start times: `stat` files and
    /// a `btime` of 1,764,570,000), and a state file `state` (nil: none).
    static func status(json: Bool, config: String, reserved: String, records: [SocketRecord],
                       processes: [(pid: Int32, comm: String, uid: UInt32, exe: String, inodes: [UInt64])],
                       startTicks: [Int32: Int] = [:], units: [Int32: String] = [:], state: String? = nil) -> String {
        let root = TemporaryTree("portward-golden")
        root.file("etc/portward/ports.conf", config)
        if let state { root.file("run/portward/state.json", state) }
        let proc = TemporaryTree("portward-golden-proc")
        fakeProc(proc, processes: processes)
        proc.file("stat", "cpu  1 2 3 4\nbtime 1764570000\n")
        for (pid, ticks) in startTicks {
            proc.file("\(pid)/stat", "\(pid) (x) S 1 \(pid) \(pid) 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 \(ticks) 1 1 0\n")
        }
        let kernel = FakeReservedPorts(try! ReservedPortsValue.decode(reserved))
        let sockets = FakeSockDiag()
        sockets.records = records
        return Self.run(root) { terminal throws(PortwardAgent.ExitStatus) in
            try StatusCommand(
                context: TargetContext(root: root.path), json: json, procRoot: proc.path,
                sysctl: ReservedPortsSysctl(io: kernel),
                makeHolderLookup: {
                    try HolderLookup(procRoot: proc.path,
                                     processes: ProcessTable(procRoot: proc.path, unitLookup: { units[$0] }),
                                     sockDiag: sockets)
                },
                daemon: DaemonProbe(view: nil, isRunning: false)
            ).run(on: terminal)
        }
    }

    /// radius's port is held by a socket no visible process holds: the owner cannot be
    /// verified, so the entry is `unverified` and status exits 5 (not 0); keystone's
    /// `user:0` owner is checked by the socket's uid and stays ok.
    static func statusUnverified(json: Bool) -> String {
        status(json: json, config: "radius 1812 udp unit:freeradius.service\nkeystone 35357 tcp user:0\n",
               reserved: "1812,35357", records: [.udp(1812, inode: 3001), .tcpListen(35357, uid: 0, inode: 3002)],
               processes: [])
    }

    @Test func statusUnverifiedTable() {
        Golden.expect("status-unverified.txt", Self.statusUnverified(json: false))
    }

    @Test func statusUnverifiedJSON() {
        Golden.expect("status-unverified.json.txt", Self.statusUnverified(json: true))
    }

    /// The reasons an owner cannot be verified, as the table words them.
    @Test func statusUnverifiedReasons() {
        let configuration = Configuration(entries: [PortEntry(
            name: "radius", ports: PortSet(ranges: [PortRange(1812, 1814)]), portsText: "1812-1814", protocols: [.udp],
            owner: .unit("freeradius.service"), location: SourceLocation(file: "/etc/portward/ports.conf", line: 1))])
        let rows = PortClassifier.classify(configuration: configuration, reserved: PortSet(ranges: [PortRange(1812, 1814)]), sockets: [
            HeldSocket(socket: .udp(1812, inode: 1), holders: [], attribution: .needsRoot),
            HeldSocket(socket: .udp(1813, inode: 2), holders: [], attribution: .hidepid),
            HeldSocket(socket: .udp(1814, inode: 3), holders: [], attribution: .procUnreadable),
        ])
        Golden.expect("status-unverified-reasons.txt", StatusTable.render(rows, attributionIncomplete: true))
    }

    /// rsync holds only [::]:873 (v6-only) while rpcbind has 0.0.0.0:873; a resolver that
    /// started after 1812 was reserved uses it as a source port (an explicit bind); a
    /// client from before the reservation of 30004 holds it (an ephemeral grab).
    static func statusFamiliesAndBinds(json: Bool) -> String {
        let reservedAt = 1_764_570_000.0 + 100  // 100 s after boot
        return status(
            json: json,
            config: "rsync 873 tcp exe:/usr/bin/rsync\nradius 1812 udp unit:freeradius.service\nnodeports 30000-30010 tcp -\n",
            reserved: "873,1812,30000-30010",
            records: [
                SocketRecord(transport: .tcp, family: .ipv6, localAddress: "::", localPort: 873, remoteAddress: "::",
                             remotePort: 0, state: .listen, uid: 0, inode: 4001, v6Only: true),
                .tcpListen(873, uid: 0, inode: 4002),
                .udp(1812, remote: "10.0.0.53", remotePort: 53, uid: 101, inode: 4003),
                SocketRecord(transport: .tcp, family: .ipv4, localAddress: "10.0.0.5", localPort: 30004,
                             remoteAddress: "10.0.0.9", remotePort: 443, state: .established, uid: 1000, inode: 4004),
            ],
            processes: [
                (pid: 700, comm: "rsync", uid: 0, exe: "/usr/bin/rsync", inodes: [4001]),
                (pid: 640, comm: "rpcbind", uid: 0, exe: "/sbin/rpcbind", inodes: [4002]),
                (pid: 950, comm: "unbound", uid: 101, exe: "/usr/sbin/unbound", inodes: [4003]),
                (pid: 300, comm: "curl", uid: 1000, exe: "/usr/bin/curl", inodes: [4004]),
            ],
            startTicks: [700: 500, 640: 400, 950: 50_000, 300: 5_000],
            units: [700: "rsync.service", 640: "rpcbind.service", 950: "unbound.service"],
            state: """
                {"version":1,"owned":[{"ports":"873,1812,30000-30010","entry":"x","file":"f","line":1}],
                 "reservedSince":[{"ports":"873,1812","at":\(reservedAt)},{"ports":"30000-30010","at":\(reservedAt + 100)}]}
                """)
    }

    @Test func statusFamiliesAndBindsTable() {
        Golden.expect("status-families-binds.txt", Self.statusFamiliesAndBinds(json: false))
    }

    @Test func statusFamiliesAndBindsJSON() {
        Golden.expect("status-families-binds.json.txt", Self.statusFamiliesAndBinds(json: true))
    }

    /// Every status state and the status exit codes 3 and 5 appear in `status --help`
    /// (Sources/portward/Status.swift), `portward --help` (Portward.swift), portward(8),
    /// the README and docs/status-json.md.
    @Test func statusStatesAndExitCodesAreDocumentedEverywhere() throws {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        func text(_ path: String) throws -> String {
            try String(contentsOf: package.appendingPathComponent(path), encoding: .utf8)
                .replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\\n", with: "")
        }
        let manual = try text("docs/portward.8"), readme = try text("README.md"), json = try text("docs/status-json.md")
        let statusHelp = try text("Sources/portward/Status.swift"), mainHelp = try text("Sources/portward/Portward.swift")
        let schema = try text("docs/status-json.schema.json")
        for state in EntryStatus.State.allCases.map(\.rawValue) {
            for (name, document) in [("portward.8", manual), ("README.md", readme), ("status-json.md", json), ("status --help", statusHelp),
                                     ("status-json.schema.json", schema)] {
                #expect(document.contains(state), "\(name) does not name the state \(state)")
            }
        }
        #expect(PortwardAgent.ExitStatus.attention.code == 3 && PortwardAgent.ExitStatus.unverified.code == 5)
        #expect(manual.contains(".B 5\n.BR status :"))
        #expect(readme.contains("| 5 | `status`:"))
        #expect(json.contains("else 5 when any is `unverified`"))
        #expect(schema.contains("else 5 when any is `unverified`"))
        #expect(statusHelp.contains("else 5 when one is unverified"))
        #expect(mainHelp.contains("5 (status)"))
    }

    /// A running daemon whose owner guard is in force for keystone (user:0) and has denied
    /// two binds to it; radius (unit:) and rsync (exe:) are report-only.
    static func guardDaemon() -> DaemonProbe {
        var view = DaemonView(pid: 4242, startedAt: 1_796_000_000, interval: 1)
        view.ownerGuard = DaemonView.GuardView(
            unavailable: nil,
            entries: [
                "radius": EntryProtection(.reportOnly, reason: "the generator's drop-in for freeradius.service is missing: run systemctl daemon-reload"),
                "rsync": EntryProtection(.reportOnly, reason: "exe: owners are not guarded (no race-free way to know a binder's executable)"),
                "keystone": EntryProtection(.guarded),
                "nodeports": EntryProtection(.unguarded, reason: "no owner (reservation only)"),
            ],
            denials: [GuardDenialRecord(entry: "keystone", port: 35357, transport: .tcp, pid: 990, command: "ypserv",
                                        uid: 0, unit: "ypserv.service", count: 2, at: 1_796_000_100)],
            denied: 2)
        return DaemonProbe(view: view, isRunning: true)
    }

    /// A running daemon that cannot reach other network namespaces (its unit lacks the
    /// namespace drop-in): `status` says so under the daemon line, and in `daemon` in JSON;
    /// `check` warns at the first entry that reaches them.
    @Test func statusAndCheckShowADaemonThatCannotReachOtherNamespaces() throws {
        var view = DaemonView(pid: 4242, startedAt: 1_796_000_000, interval: 1)
        let message = NetnsServiceDropIn.missingMessage(written: false, reason: "cannot enter network namespace /run/netns/blue: setns: Operation not permitted")
        view.netnsUnavailable = message
        let daemon = DaemonProbe(view: view, isRunning: true)
        let table = Self.status(json: false, daemon: daemon)
        #expect(table.hasPrefix("daemon: running (pid 4242)") && table.contains("\n" + message + "\n"))
        let json = Self.status(json: true, daemon: daemon)
        #expect(json.contains("\"netnsUnavailable\" : \"netns: entering other network namespaces needs"))
        #expect(!Self.status(json: false, daemon: DaemonProbe(view: view, isRunning: false)).contains("netns:"),
                "a stopped daemon's view is not current")

        let root = TemporaryTree("portward-golden")
        root.file("etc/portward/ports.conf", "host 7000 tcp\nvpn 7001 tcp netns=vpn-*\n")
        func check(_ daemon: DaemonProbe) -> String {
            Self.run(root) { terminal throws(PortwardAgent.ExitStatus) in
                try CheckCommand(context: TargetContext(root: root.path), force: false,
                                 sysctl: ReservedPortsSysctl(io: FakeReservedPorts()), daemon: daemon).run(on: terminal)
            }
        }
        let stopped = DaemonProbe(view: nil, isRunning: false)
        #expect(!check(stopped).contains("drop-in"), "no systemd under the root: nothing to say")
        root.file("run/systemd/system/.keep", "")
        #expect(check(stopped).contains("ports.conf:2:1: note: vpn: reaches other network namespaces, but portward.service has no namespace drop-in yet (/run/systemd/generator/portward.service.d/50-portward-netns.conf): run systemctl daemon-reload, then systemctl restart portward.service"))
        root.file("run/systemd/generator/portward.service.d/50-portward-netns.conf", "[Service]\n")
        #expect(!check(stopped).contains("drop-in"))
        #expect(check(daemon).contains("ports.conf:2:1: warning: vpn: " + message))
    }

    @Test func statusWithGuard() {
        Golden.expect("status-guard.txt", Self.status(json: false, daemon: Self.guardDaemon()))
    }

    @Test func statusWithGuardJSON() {
        Golden.expect("status-guard.json.txt", Self.status(json: true, daemon: Self.guardDaemon()))
    }
}

/// The `unreserved:` hint names the apply that fixes it, with the `--root` given.
@Suite struct ApplyHintTests {
    @Test func theHintKeepsTheRoot() {
        #expect(StatusCommand.applyCommand(root: "/") == "portward apply")
        #expect(StatusCommand.applyCommand(root: "/srv/image") == "portward apply --root /srv/image")
        #expect(StatusCommand.applyCommand(root: "/tmp/a b") == "portward apply --root '/tmp/a b'")
        #expect(StatusCommand.applyCommand(root: "/tmp/it's") == #"portward apply --root '/tmp/it'\''s'"#)
    }
}
