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

    @Test func statusWithGuard() {
        Golden.expect("status-guard.txt", Self.status(json: false, daemon: Self.guardDaemon()))
    }

    @Test func statusWithGuardJSON() {
        Golden.expect("status-guard.json.txt", Self.status(json: true, daemon: Self.guardDaemon()))
    }
}
