import Testing
@testable import PortwardCore

@Suite struct PlannerTests {
    static func entry(_ name: String, _ ranges: [PortRange], line: Int = 1) -> PortEntry {
        PortEntry(name: name, ports: PortSet(ranges: ranges), portsText: "", protocols: .all,
                     owner: .any, location: SourceLocation(file: "/etc/portward/ports.conf", line: line))
    }

    static func ports(_ text: String) -> PortSet { try! ReservedPortsValue.decode(text) }

    static let range = PortRange(32768, 60999)

    @Test func mergesWithForeignReservations() {
        let config = Configuration(entries: [Self.entry("radius", [PortRange(1812, 1813)])])
        let plan = Planner.plan(configuration: config, current: Self.ports("5000,40000-40010"),
                                previous: ReservationState(), localPortRange: Self.range)
        #expect(plan.target == Self.ports("1812-1813,5000,40000-40010"))
        #expect(plan.added == Self.ports("1812-1813"))
        #expect(plan.released.isEmpty)
        #expect(plan.foreign == Self.ports("5000,40000-40010"))
        #expect(plan.owned == Self.ports("1812-1813"))
        #expect(plan.state.owned == [.init(ports: "1812-1813", entry: "radius", file: "/etc/portward/ports.conf", line: 1)])
    }

    /// 400 scattered foreign ports (odd 50001-50799): with them a `pendingForeign` has more
    /// ranges than fit in the first chunk of a write (`Planner.foreignRangesSafeInFirstChunk`),
    /// as a write that could drop some of them must.
    static let scattered = PortSet(Array(stride(from: UInt16(50001), through: 50799, by: 2)))

    /// A state saved in the middle of a write (killed before the final save): its
    /// `pendingForeign` ports that the kernel lacks are added back as foreign, and a restored
    /// port that is also declared stays foreign, not ours. The in-flight state of the new
    /// plan records the old and new ownership and the foreign set.
    @Test func interruptedWriteRestoresTheForeignPortsItDropped() {
        let config = Configuration(entries: [Self.entry("radius", [PortRange(1812, 1813)]),
                                             Self.entry("k", [PortRange(35357, 35357)], line: 2)])
        let pending = Self.ports("5000-5010,35357").union(Self.scattered)
        let previous = ReservationState(owned: [.init(ports: "873", entry: "rsync", file: "f", line: 1)],
                                        pendingForeign: pending)
        let plan = Planner.plan(configuration: config, current: Self.ports("873,5000-5005").union(Self.scattered),
                                previous: previous, localPortRange: Self.range)
        #expect(plan.restored == Self.ports("5006-5010,35357"))
        #expect(plan.target == Self.ports("1812-1813,5000-5010,35357").union(Self.scattered))
        #expect(plan.released == Self.ports("873"))
        #expect(plan.foreign == pending)
        #expect(plan.owned == Self.ports("1812-1813"))
        #expect(plan.diagnostics.first?.message ==
            "an earlier write was interrupted after dropping 6 reserved ports of other writers; adding back 5006-5010,35357")
        #expect(plan.inFlightState.ownedPorts == Self.ports("873,1812-1813"))
        #expect(plan.inFlightState.pendingForeignPorts == pending)
        #expect(plan.state.pendingForeign == nil)
    }

    /// Other writers already cover more than half of the ephemeral range, and an interrupted
    /// write dropped some of their ports: putting them back is not "adding" for the safety
    /// rail, so no --force is needed (portward's own ports are outside the range). The data
    /// is what a cut replace leaves: the first 341 foreign ranges (one chunk), not the rest.
    @Test func restoringForeignPortsDoesNotTripTheSafetyRail() {
        let foreign = PortSet(ranges: [PortRange(32768, 47000)]).union(Self.scattered)
            .union(PortSet(ranges: [PortRange(55000, 56000)]))
        let current = PortSet(ranges: Array(foreign.ranges.prefix(Planner.foreignRangesSafeInFirstChunk)))
        let config = Configuration(entries: [Self.entry("svc", [PortRange(20000, 20000)])])
        let previous = ReservationState(pendingForeign: foreign)
        let plan = Planner.plan(configuration: config, current: current, previous: previous, localPortRange: Self.range)
        #expect(plan.restored == foreign.subtracting(current))
        #expect(plan.restored.contains(PortRange(55000, 56000)))
        #expect(!plan.isRefused, "\(plan.diagnostics)")
        #expect(plan.target == foreign.union(PortSet([20000])))
    }

    /// Issue 11 item 10: a damaged state file claiming every port as another writer's. A
    /// `pendingForeign` of one range cannot describe a write that dropped anything: ignored.
    @Test func pendingForeignThatFitsOneWriteIsIgnored() {
        let config = Configuration(entries: [Self.entry("svc", [PortRange(40000, 40000)])])
        for force in [false, true] {
            let plan = Planner.plan(configuration: config, current: Self.ports("5000"),
                                    previous: ReservationState(pendingForeign: Self.ports("1-65535")),
                                    localPortRange: Self.range, force: force)
            #expect(plan.restored.isEmpty)
            #expect(plan.target == Self.ports("5000,40000"))
            #expect(!plan.isRefused)
            #expect(plan.diagnostics.map(\.message).contains {
                $0.hasPrefix("ignoring the pendingForeign of the state file: 1 range of other writers' ports")
            }, "\(plan.diagnostics)")
        }
    }

    /// A `pendingForeign` with enough ranges to be plausible, whose restoration alone would
    /// cover more than half of the ephemeral range: nothing is added back without --force.
    @Test func restoringNeverAloneTakesThePlanPastTheSafetyRail() {
        let hostile = PortSet(Array(stride(from: UInt16(1), through: 32767, by: 2)))
            .union(PortSet(ranges: [Self.range]))
        #expect(hostile.ranges.count > Planner.foreignRangesSafeInFirstChunk)
        let config = Configuration(entries: [Self.entry("svc", [PortRange(40000, 40000)])])
        let previous = ReservationState(pendingForeign: hostile)
        let plan = Planner.plan(configuration: config, current: Self.ports("5000"), previous: previous,
                                localPortRange: Self.range)
        #expect(plan.restored.isEmpty)
        #expect(plan.target == Self.ports("5000,40000"))
        #expect(!plan.isRefused)
        #expect(plan.diagnostics.contains { $0.severity == .warning && $0.message.contains("not adding them back (use --force to)") },
                "\(plan.diagnostics)")
        let forced = Planner.plan(configuration: config, current: Self.ports("5000"), previous: previous,
                                  localPortRange: Self.range, force: true)
        #expect(forced.restored == hostile.subtracting(Self.ports("5000")))
        #expect(forced.diagnostics.contains { $0.message.contains("(added back anyway: --force)") })
    }

    /// (current, previously owned, declared) -> (target, owned)
    @Test(arguments: [
        // A port reserved by someone else before it was declared stays foreign: never ours.
        ("35357", "", "35357", "35357", ""),
        // Dropping a declaration releases only what portward added.
        ("873,1812,5000", "873,1812", "1812", "1812,5000", "1812"),
        // Drift: our port was removed by another writer; re-adding it keeps it ours.
        ("5000", "1812", "1812", "1812,5000", "1812"),
        // A released port that someone else already removed is not an error.
        ("5000", "1812", "", "5000", ""),
        // Nothing declared, nothing owned: the kernel value is left exactly as it is.
        ("1-10,20", "", "", "1-10,20", ""),
    ])
    func mergeRule(current: String, owned: String, declared: String, target: String, newOwned: String) {
        let config = Configuration(entries: declared.isEmpty ? [] : [Self.entry("x", Self.ports(declared).ranges)])
        let previous = ReservationState(owned: owned.isEmpty ? [] : [.init(ports: owned, entry: "x", file: "f", line: 1)])
        let plan = Planner.plan(configuration: config, current: Self.ports(current), previous: previous,
                                localPortRange: Self.range)
        #expect(plan.target == Self.ports(target))
        #expect(plan.owned == Self.ports(newOwned))
        #expect(plan.isNoop == (current == target))
    }

    @Test func refusesToReserveMoreThanHalfOfTheEphemeralRange() {
        let config = Configuration(entries: [Self.entry("big", [PortRange(30000, 50000)])])
        let refused = Planner.plan(configuration: config, current: PortSet(), previous: ReservationState(),
                                   localPortRange: Self.range)
        #expect(refused.isRefused)
        #expect(refused.diagnostics.contains { $0.severity == .error && $0.message.contains("more than half") })
        let forced = Planner.plan(configuration: config, current: PortSet(), previous: ReservationState(),
                                  localPortRange: Self.range, force: true)
        #expect(!forced.isRefused)
        #expect(forced.diagnostics.contains { $0.severity == .warning && $0.message.contains("--force") })
    }

    @Test func exactlyHalfIsAllowed() {
        // 32768-60999 holds 28,232 ports; half is 14,116.
        let config = Configuration(entries: [Self.entry("half", [PortRange(32768, 32768 + 14_116 - 1)])])
        let plan = Planner.plan(configuration: config, current: PortSet(), previous: ReservationState(),
                                localPortRange: Self.range)
        #expect(!plan.isRefused)
        let more = Configuration(entries: [Self.entry("more", [PortRange(32768, 32768 + 14_116)])])
        #expect(Planner.plan(configuration: more, current: PortSet(), previous: ReservationState(),
                             localPortRange: Self.range).isRefused)
    }

    @Test func alreadyAppliedBigReservationDoesNotBlockARestart() {
        // Applied earlier with --force: a plan that adds nothing inside the range is not refused.
        let config = Configuration(entries: [Self.entry("big", [PortRange(30000, 50000)])])
        let current = Self.ports("30000-50000")
        let previous = ReservationState(owned: [.init(ports: "30000-50000", entry: "big", file: "f", line: 1)])
        let plan = Planner.plan(configuration: config, current: current, previous: previous, localPortRange: Self.range)
        #expect(!plan.isRefused)
        #expect(plan.isNoop)
    }

    @Test func warnsOutsideTheEphemeralRangeAndInTheRPCRange() {
        let config = Configuration(entries: [
            Self.entry("rsync", [PortRange(873)], line: 3),
            Self.entry("inside", [PortRange(40000)], line: 4),
        ])
        let plan = Planner.plan(configuration: config, current: PortSet(), previous: ReservationState(),
                                localPortRange: Self.range)
        let warnings = plan.diagnostics.filter { $0.severity == .warning }
        #expect(warnings.count == 2)
        #expect(warnings.allSatisfy { $0.location?.line == 3 })
        #expect(warnings.contains { $0.message.contains("outside ip_local_port_range 32768-60999") })
        #expect(warnings.contains { $0.message.contains("600-1023") })
    }

    /// An entry that acknowledges a warning (`ack=`) does not get it; other entries do.
    @Test func acknowledgedWarningsAreNotPrinted() {
        func entry(_ name: String, _ port: UInt16, line: Int, _ ack: PortEntry.AcknowledgedWarnings) -> PortEntry {
            PortEntry(name: name, ports: PortSet([port]), portsText: "", protocols: .all, owner: .any,
                      location: SourceLocation(file: "f", line: line), acknowledged: ack)
        }
        let config = Configuration(entries: [
            entry("rsync", 873, line: 1, .outsideRange),
            entry("rpc", 874, line: 2, .rpcRange),
            entry("both", 875, line: 3, [.outsideRange, .rpcRange]),
            entry("none", 876, line: 4, []),
        ])
        let plan = Planner.plan(configuration: config, current: PortSet(), previous: ReservationState(),
                                localPortRange: Self.range)
        let warnings = plan.diagnostics.map { "\($0.location?.line ?? 0) \($0.message.contains("600-1023") ? "rpc" : "outside")" }
        #expect(warnings.sorted() == ["1 rpc", "2 outside", "4 outside", "4 rpc"], "\(plan.diagnostics)")
    }

    @Test func portsSharedByEntriesAreAttributedToTheFirst() {
        let config = Configuration(entries: [
            Self.entry("a", [PortRange(100, 200)], line: 1),
            Self.entry("b", [PortRange(150, 250)], line: 2),
        ])
        let plan = Planner.plan(configuration: config, current: PortSet(), previous: ReservationState(),
                                localPortRange: nil)
        #expect(plan.state.owned.map(\.ports) == ["100-200", "201-250"])
        #expect(plan.state.ownedPorts == Self.ports("100-250"))
    }
}
