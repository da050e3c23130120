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
        #expect(Self.bind(pid: 47, unit: "ypserv.service").verdict(owner: owner, userIDs: [:]) == .wrongOwner)
        #expect(Self.bind(pid: 47, unit: nil).verdict(owner: owner, userIDs: [:]) == .unattributed)
        // systemd binding rsync.socket's listener (socket activation), as the guard lets it.
        #expect(Self.bind(pid: 1, unit: "init.scope").verdict(owner: owner, userIDs: [:]) == .expected)
    }

    @Test func pidOneIsNoExceptionForOtherOwners() {
        #expect(Self.bind(pid: 1, uid: 0, unit: "init.scope").verdict(owner: .user(.uid(106)), userIDs: [:]) == .wrongOwner)
        #expect(Self.bind(pid: 1, uid: 106, unit: "init.scope").verdict(owner: .user(.uid(106)), userIDs: [:]) == .expected)
    }
}
