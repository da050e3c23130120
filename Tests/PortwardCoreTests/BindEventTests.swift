import Testing
@testable import PortwardCore

/// The verdict on a bind the post_bind programs reported (docs/events.md), by owner.
@Suite struct BindEventTests {
    static func bind(pid: UInt32, uid: UInt32 = 0, cgroupID: UInt64 = 9, unit: String?) -> BindEvent {
        BindEvent(port: 873, transport: .tcp, pid: pid, uid: uid, cgroupID: cgroupID, command: "x", unit: unit, at: 0)
    }

    @Test func unitOwners() {
        let owner = Owner.unit("rsync.service")
        #expect(Self.bind(pid: 812, unit: "rsync.service").verdict(owner: owner, userIDs: [:]) == .expected)
        #expect(Self.bind(pid: 812, cgroupID: 44, unit: nil).verdict(owner: owner, userIDs: [:], ownerCgroups: ["rsync.service": 44]) == .expected,
                "gone before the event was read: known by its cgroup")
        // systemd's "(sd-listen)" creating rsync.socket's listener, in the socket unit's
        // cgroup, which the socket unit's hook registered for rsync.service.
        #expect(Self.bind(pid: 36, cgroupID: 51, unit: "rsync.socket").verdict(owner: owner, userIDs: [:], ownerCgroups: ["rsync.service": 51]) == .expected)
        #expect(Self.bind(pid: 47, unit: "ypserv.service").verdict(owner: owner, userIDs: [:]) == .wrongOwner)
        #expect(Self.bind(pid: 47, unit: nil).verdict(owner: owner, userIDs: [:]) == .unattributed)
        #expect(Self.bind(pid: 47, cgroupID: 0, unit: nil).verdict(owner: owner, userIDs: [:], ownerCgroups: ["rsync.service": 0]) == .unattributed,
                "cgroup 0: never started, nobody's")
    }

    @Test func userOwners() {
        #expect(Self.bind(pid: 1, uid: 0, unit: "init.scope").verdict(owner: .user(.uid(106)), userIDs: [:]) == .wrongOwner)
        #expect(Self.bind(pid: 9, uid: 106, unit: nil).verdict(owner: .user(.name("freerad")), userIDs: ["freerad": 106]) == .expected)
        #expect(Self.bind(pid: 9, uid: 106, unit: nil).verdict(owner: .user(.name("nobody-known")), userIDs: [:]) == .unattributed)
    }
}
