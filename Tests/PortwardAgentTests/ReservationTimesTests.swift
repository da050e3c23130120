import Foundation
import PortwardCore
@testable import PortwardLinux
@testable import PortwardAgent
import Testing

/// Issue 11 item 3: the state file records when each owned port went into the kernel, and
/// the daemon tells an explicit bind after the reservation from an ephemeral grab.
@Suite struct ReservationTimesTests {
    @Test func commitStampsAddedPortsAndKeepsTheTimesOfKeptOnes() throws {
        let kernel = FakeReservedPorts(PortSet([7000]))
        let root = TemporaryRoot()
        let context = TargetContext(root: root.path)
        let transaction = ReservationTransaction(context: context, sysctl: ReservedPortsSysctl(io: kernel))
        func commit(_ ports: PortSet, at now: Double) throws {
            _ = try transaction.commit(try transaction.plan(configuration(ports), force: true).plan, now: { now })
        }
        func times() throws -> ReservationTimes { ReservationTimes(try context.stateStore.load().reservedSince ?? []) }

        try commit(PortSet([1812, 1813]), at: 1000)
        #expect(try times().reservedAt(1812) == 1000 && times().reservedAt(1813) == 1000)
        #expect(try times().reservedAt(7000) == nil, "another writer's port: unknown")
        // Nothing to write: the times stay.
        try commit(PortSet([1812, 1813]), at: 2000)
        #expect(try times().reservedAt(1812) == 1000)
        // Drift: 1813 removed by another writer and restored: the kernel could have picked
        // it in between, so it gets the time of the repair. A new port gets it too.
        kernel.value = PortSet([1812, 7000])
        try commit(PortSet([1812, 1813, 873]), at: 3000)
        #expect(try times().reservedAt(1812) == 1000)
        #expect(try times().reservedAt(1813) == 3000)
        #expect(try times().reservedAt(873) == 3000)
        // Released ports are forgotten.
        try commit(PortSet([873]), at: 4000)
        #expect(try times().records == [.init(ports: "873", at: 3000)])
    }

    /// The daemon journals a port bound by a process started after the reservation as an
    /// explicit bind, naming it; a process from before it stays an ephemeral grab.
    @Test func daemonJournalsAnExplicitBindAfterTheReservation() throws {
        let h = DaemonHarness(config: "radius 1812-1813 udp\n")
        try h.daemon.start()
        let at = try #require(ReservationTimes(try h.context.stateStore.load().reservedSince ?? []).reservedAt(1812))
        h.journal.clear()
        fakeProc(h.proc, processes: [
            (pid: 950, comm: "unbound", uid: 101, exe: "/usr/sbin/unbound", inodes: [5001]),
            (pid: 300, comm: "dig", uid: 0, exe: "/usr/bin/dig", inodes: [5002]),
        ])
        // "Boot" 100 s before the reservation; unbound started 50 s after it, dig 50 s before.
        h.proc.file("stat", "cpu 1\nbtime \(Int(at) - 100)\n")
        let hertz = Int(sysconf(Int32(_SC_CLK_TCK)))
        h.proc.file("950/stat", "950 (unbound) S 1 950 950 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 \(150 * hertz) 1 1\n")
        h.proc.file("300/stat", "300 (dig) S 1 300 300 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 \(50 * hertz) 1 1\n")
        h.sockets.records = [
            .udp(1812, remote: "192.0.2.53", remotePort: 53, uid: 101, inode: 5001),
            .udp(1813, remote: "192.0.2.53", remotePort: 53, uid: 0, inode: 5002),
        ]
        h.clock.now += 1
        h.daemon.poll()
        let started = h.journal.entries(.conflictStarted)
        #expect(started.map { $0.fields["PORTWARD_VERDICT"] } == ["explicit-bind", "ephemeral-grab"])
        #expect(started.first?.message == "conflict: 1812/udp (radius) bound explicitly by unbound[950] after the reservation (the kernel key cannot stop an explicit bind), as the local port of an ESTABLISHED connection to 192.0.2.53:53")
        #expect(started.last?.message.contains("of an ESTABLISHED connection to 192.0.2.53:53 by dig[300], before the reservation (an ephemeral grab)") == true)
        // daemon.json carries the start times, so status without root says the same.
        #expect(h.published?.holders.first { $0.inode == 5001 }?.holders.first?.startedAt == Double(Int(at) - 100 + 150))
    }
}
