import Testing
@testable import PortwardCore

@Suite struct HoldPolicyTests {
    static func entry(_ name: String, _ owner: Owner, ports: [PortRange] = [PortRange(873, 873)],
                      protocols: ProtocolSet = ProtocolSet(.tcp).union(ProtocolSet(.udp)),
                      guardMode: PortEntry.GuardMode = .on) -> PortEntry {
        PortEntry(name: name, ranges: ports, portsText: "", protocols: protocols, owner: owner,
                  location: SourceLocation(file: "f", line: 1), guardMode: guardMode)
    }

    static let configuration = Configuration(entries: [
        entry("rsync", .unit("rsync.service")),
        entry("radius", .unit("freeradius.service"), ports: [PortRange(1812, 1813)], protocols: ProtocolSet(.udp)),
        entry("nohook", .unit("other.service"), ports: [PortRange(7000, 7000)]),
        entry("socket", .unit("rsync.socket"), ports: [PortRange(7001, 7001)]),
        entry("byuser", .user(.uid(4242)), ports: [PortRange(7002, 7002)]),
        entry("byexe", .exe("/usr/bin/x"), ports: [PortRange(7003, 7003)]),
        entry("quiet", .unit("rsync.service"), ports: [PortRange(7004, 7004)], guardMode: .reportOnly),
        entry("anyone", .any, ports: [PortRange(7005, 7005)]),
    ])
    static let hooked: Set<String> = ["rsync.service", "freeradius.service"]

    @Test func onlyHookedServiceOwnersAreHeldPerPortAndProtocol() {
        let (targets, over) = HoldPolicy.holdable(Self.configuration, hookedUnits: Self.hooked)
        #expect(targets.map(\.description) == ["873/tcp", "873/udp", "1812/udp", "1813/udp"])
        #expect(targets.map(\.unit) == ["rsync.service", "rsync.service", "freeradius.service", "freeradius.service"])
        #expect(over.isEmpty)
    }

    @Test func theReasonsWhyAnEntryIsNotHeld() {
        let e = Self.configuration.entries
        #expect(HoldPolicy.notHoldable(e[0], hookedUnits: Self.hooked) == nil)
        #expect(HoldPolicy.notHoldable(e[2], hookedUnits: Self.hooked)?.contains("run systemctl daemon-reload") == true)
        #expect(HoldPolicy.notHoldable(e[3], hookedUnits: Self.hooked)?.contains("only a .service owner") == true)
        #expect(HoldPolicy.notHoldable(e[4], hookedUnits: Self.hooked)?.hasPrefix("user: owners are not held") == true)
        #expect(HoldPolicy.notHoldable(e[5], hookedUnits: Self.hooked)?.hasPrefix("exe: owners are not held") == true)
        #expect(HoldPolicy.notHoldable(e[6], hookedUnits: Self.hooked) == "guard=report-only in the configuration")
        #expect(HoldPolicy.notHoldable(e[7], hookedUnits: Self.hooked) == "no owner (reservation only)")
    }

    @Test func runningOwnersAreNotHeld() {
        let (targets, _) = HoldPolicy.holdable(Self.configuration, hookedUnits: Self.hooked)
        #expect(HoldPolicy.wanted(targets, running: ["rsync.service"]).map(\.description) == ["1812/udp", "1813/udp"])
        #expect(HoldPolicy.wanted(targets, running: []).count == 4)
    }

    @Test func theLimitCountsInConfigurationOrderRunningOwnersIncluded() {
        let big = Configuration(entries: [
            Self.entry("first", .unit("a.service"), ports: [PortRange(30000, 30002)]),
            Self.entry("range", .unit("b.service"), ports: [PortRange(30000 + 3, 32767)]),
        ])
        let (targets, over) = HoldPolicy.holdable(big, hookedUnits: ["a.service", "b.service"], limit: 10)
        #expect(targets.count == 10)
        #expect(targets.filter { $0.entry == "first" }.count == 6)
        #expect(over == ["range": 2 * (32767 - 30003 + 1) - 4])
        let p = HoldPolicy.protection(of: big.entries[1], unavailable: "u", hookedUnits: ["a.service", "b.service"],
                                      holdable: targets, overLimit: over, running: [], failures: [:], limit: 10)
        #expect(p == EntryProtection(.held, reason: "\(over["range"]!) sockets over the hold limit of 10 not held"))
        let none = HoldPolicy.holdable(big, hookedUnits: ["a.service", "b.service"], limit: 6)
        let q = HoldPolicy.protection(of: big.entries[1], unavailable: "BPF guard unavailable", hookedUnits: ["a.service", "b.service"],
                                      holdable: none.targets, overLimit: none.overLimit, running: [], failures: [:], limit: 6)
        #expect(q == EntryProtection(.reportOnly, reason: "BPF guard unavailable; over the hold limit of 6 sockets"))
    }

    @Test func protectionSaysWhatIsNotHeld() {
        let (targets, over) = HoldPolicy.holdable(Self.configuration, hookedUnits: Self.hooked)
        func p(_ i: Int, running: Set<String> = [], failures: [HoldTarget: String] = [:]) -> EntryProtection {
            HoldPolicy.protection(of: Self.configuration.entries[i], unavailable: "the guard is switched off (--no-guard)",
                                  hookedUnits: Self.hooked, holdable: targets, overLimit: over, running: running, failures: failures)
        }
        #expect(p(0) == EntryProtection(.held))
        #expect(p(0).description == "held")
        #expect(p(0, running: ["rsync.service"]) == EntryProtection(.held, reason: "released: rsync.service is running"))
        let taken = HoldTarget(entry: "rsync", unit: "rsync.service", transport: .udp, port: 873)
        #expect(p(0, failures: [taken: "in use by another socket (EADDRINUSE)"])
                == EntryProtection(.held, reason: "1 of 2 sockets not held: 873/udp (in use by another socket (EADDRINUSE))"))
        #expect(p(4) == EntryProtection(.reportOnly, reason: "the guard is switched off (--no-guard); user: owners are not held: no start hook releases the port to the user's program"))
        #expect(p(7).state == .unguarded)
    }
}
