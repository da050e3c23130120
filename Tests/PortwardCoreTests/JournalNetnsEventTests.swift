import Testing
import PortwardCore

/// The network-namespace events (issue 14): fields, priorities, and names from another
/// user's folder with their control characters escaped.
@Suite struct JournalNetnsEventTests {
    let netns = NetnsIdentity(device: 4, inode: 4026532248)

    @Test func appliedAndRepaired() {
        let applied = JournalEvent.netnsApplied(netns, name: "blue", added: PortSet([5002, 5003]), repair: false)
        #expect(applied.kind == .netnsApplied && applied.priority == .info)
        #expect(applied.message == "network namespace net:[4026532248] blue: reserved 5002-5003")
        #expect(applied.fields == ["PORTWARD_NETNS": "4026532248", "PORTWARD_NETNS_NAME": "blue", "PORTWARD_PORT": "5002-5003"])
        let repaired = JournalEvent.netnsApplied(netns, name: "blue", added: PortSet([5002]), repair: true)
        #expect(repaired.priority == .warning)
        #expect(repaired.message == "network namespace net:[4026532248] blue lost declared ports 5002; restored")
    }

    @Test func controlCharactersInNamesAreEscaped() {
        let name = "/run/user/1000/netns/x\u{1B}[2Jy"
        let applied = JournalEvent.netnsApplied(netns, name: name, added: PortSet([1]), repair: false)
        let failed = JournalEvent.netnsFailed(netns, name: name, reason: "bad\nreason")
        for event in [applied, failed] {
            #expect(!event.message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(event.message)")
        }
        #expect(failed.kind == .netnsFailed && failed.priority == .warning)
    }
}
