/// The merge rule: from what the kernel holds now, what portward added before, and what is
/// declared, compute the new value of `ip_local_reserved_ports`.
///
///     target = (current − (previouslyOwned − declared)) ∪ declared
///
/// Reservations made by others are kept; portward only ever removes ports it added itself
/// and that are no longer declared. After an interrupted write, the other writers' ports
/// that write meant to keep (`ReservationState.pendingForeign`) and the kernel lacks are
/// added back first, unless the state file's claim is implausible or would alone push the
/// plan past the safety rail (`restoration`).
public enum Planner {
    /// Builds the plan. `localPortRange` is the current `ip_local_port_range` (nil when it
    /// could not be read: range checks are then skipped). The plan's diagnostics hold
    /// warnings (ports outside the ephemeral range, ports in 600-1023; each skipped for an
    /// entry that acknowledges it, `PortEntry.acknowledged`) and, unless `force`,
    /// an error when the reservation would cover more than half of the ephemeral range.
    public static func plan(
        configuration: Configuration,
        current: PortSet,
        previous: ReservationState,
        localPortRange: PortRange?,
        force: Bool = false
    ) -> Plan {
        let declared = configuration.declaredPorts
        let previouslyOwned = previous.ownedPorts
        let released = previouslyOwned.subtracting(declared).intersection(current)
        var diagnostics: [Diagnostic] = []
        let restored = restoration(previous: previous, current: current, previouslyOwned: previouslyOwned,
                                   withoutRestoring: current.subtracting(released).union(declared),
                                   localPortRange: localPortRange, force: force, diagnostics: &diagnostics)
        let present = current.union(restored)
        let target = present.subtracting(released).union(declared)
        let owned = previouslyOwned.intersection(declared).union(declared.subtracting(present))
        let foreign = present.subtracting(previouslyOwned)
        if !restored.isEmpty {
            diagnostics.append(.warning(
                "an earlier write was interrupted after dropping \(restored.count) reserved \(restored.count == 1 ? "port" : "ports") of other writers; adding back \(restored)"))
        }

        if let range = localPortRange {
            let ephemeral = PortSet(ranges: [range])
            for entry in configuration.entries where !entry.acknowledged.contains(.outsideRange) {
                let outside = clip(entry.ranges, outside: range)
                if !outside.isEmpty {
                    diagnostics.append(.warning(
                        "\(entry.name): \(describe(outside)) outside ip_local_port_range \(range.lower)-\(range.upper); the kernel never picks these as ephemeral ports, so reserving them has no effect unless the range is widened",
                        at: entry.location))
                }
            }
            // Ports portward itself adds: not the other writers' ports an interrupted write
            // dropped (putting those back restores their choice, it does not starve anyone).
            let added = target.subtracting(present)
            let covered = target.intersection(ephemeral).count
            if !added.intersection(ephemeral).isEmpty, covered * 2 > range.count {
                let message = "the reservation would cover \(covered) of the \(range.count) ephemeral ports in ip_local_port_range \(range.lower)-\(range.upper) (more than half): outbound connections would starve"
                diagnostics.append(force ? .warning(message + " (allowed by --force)") : .error(message + "; use --force to apply anyway"))
            }
        }
        for entry in configuration.entries where !entry.acknowledged.contains(.rpcRange) {
            let low = clip(entry.ranges, inside: PortRange(600, 1023))
            if !low.isEmpty {
                diagnostics.append(.warning(
                    "\(entry.name): \(describe(low)) in 600-1023, where RPC daemons (bindresvport, sunrpc) bind explicitly: a reservation cannot stop them; consider /etc/bindresvport.blacklist",
                    at: entry.location))
            }
        }

        let state = state(owning: owned, configuration: configuration)
        return Plan(current: current, declared: declared, target: target, released: released,
                    restored: restored, owned: owned, foreign: foreign, state: state,
                    inFlightState: ReservationState(owned: previous.owned + state.owned, pendingForeign: foreign),
                    diagnostics: diagnostics)
    }

    /// Most ranges a `pendingForeign` can have and still fit, whatever the write, in the
    /// first 4,095-byte chunk of a multi-chunk replace, which the kernel applies at once:
    /// that chunk holds first the target's ranges touching the foreign ports (each foreign
    /// range lies inside one of them), each at most 12 bytes (`65534-65535,`). So 341
    /// foreign ranges or fewer cannot have been dropped by a cut write (nor by a write of
    /// 4,095 bytes or less, which is atomic).
    public static let foreignRangesSafeInFirstChunk = 4095 / 12

    /// The other writers' ports that an interrupted write may have dropped and that are
    /// added back: `previous.pendingForeign` minus what the kernel holds and what portward
    /// owned. The state file is not trusted to push a plan past the safety rail:
    /// - a `pendingForeign` of at most `foreignRangesSafeInFirstChunk` ranges cannot describe
    ///   a write that dropped any of them: nothing is restored (warning);
    /// - restoring never takes the reservation past half of `ip_local_port_range` when the
    ///   plan without it is not past half: nothing is restored (warning), unless `force`.
    private static func restoration(previous: ReservationState, current: PortSet, previouslyOwned: PortSet,
                                    withoutRestoring: PortSet, localPortRange: PortRange?, force: Bool,
                                    diagnostics: inout [Diagnostic]) -> PortSet {
        let pending = previous.pendingForeignPorts
        let candidate = pending.subtracting(current).subtracting(previouslyOwned)
        guard !candidate.isEmpty else { return candidate }
        let ranges = pending.ranges.count
        guard ranges > foreignRangesSafeInFirstChunk else {
            diagnostics.append(.warning(
                "ignoring the pendingForeign of the state file: \(ranges) \(ranges == 1 ? "range" : "ranges") of other writers' ports always fit in the first write the kernel applies at once, so no interrupted write can have dropped them; not adding back \(candidate)"))
            return PortSet()
        }
        if let range = localPortRange {
            let ephemeral = PortSet(ranges: [range])
            let before = withoutRestoring.intersection(ephemeral).count
            let after = withoutRestoring.union(candidate).intersection(ephemeral).count
            if before * 2 <= range.count, after * 2 > range.count {
                let message = "adding back the \(candidate.count) ports of other writers that the state file says an interrupted write dropped would cover \(after) of the \(range.count) ephemeral ports in ip_local_port_range \(range.lower)-\(range.upper) (more than half)"
                if force {
                    diagnostics.append(.warning(message + " (added back anyway: --force)"))
                } else {
                    diagnostics.append(.warning(message + "; not adding them back (use --force to)"))
                    return PortSet()
                }
            }
        }
        return candidate
    }

    /// Attributes each owned port to the first entry (in configuration order) declaring it.
    /// Works on each entry's sorted ranges (no 8 KiB set per entry: 65,535 entries must
    /// stay cheap).
    private static func state(owning owned: PortSet, configuration: Configuration) -> ReservationState {
        var remaining = owned
        var records: [ReservationState.OwnedPorts] = []
        for entry in configuration.entries {
            var mine: [PortRange] = []
            for range in entry.ranges {
                for port in range.lower...range.upper where remaining.contains(port) {
                    remaining.remove(port)
                    if let last = mine.last, Int(last.upper) + 1 == Int(port) {
                        mine[mine.count - 1] = PortRange(last.lower, port)
                    } else {
                        mine.append(PortRange(port))
                    }
                }
            }
            guard !mine.isEmpty else { continue }
            records.append(.init(ports: describe(mine), entry: entry.name,
                                 file: entry.location.file, line: entry.location.line))
        }
        return ReservationState(owned: records)
    }

    /// The parts of sorted, merged `ranges` inside `bounds`.
    private static func clip(_ ranges: [PortRange], inside bounds: PortRange) -> [PortRange] {
        ranges.compactMap { r in
            let lo = max(r.lower, bounds.lower), hi = min(r.upper, bounds.upper)
            return lo <= hi ? PortRange(lo, hi) : nil
        }
    }

    /// The parts of sorted, merged `ranges` outside `bounds`.
    private static func clip(_ ranges: [PortRange], outside bounds: PortRange) -> [PortRange] {
        var result: [PortRange] = []
        for r in ranges {
            if r.lower < bounds.lower { result.append(PortRange(r.lower, min(r.upper, bounds.lower - 1))) }
            if r.upper > bounds.upper { result.append(PortRange(max(r.lower, bounds.upper + 1), r.upper)) }
        }
        return result
    }

    /// Kernel notation of sorted, merged ranges (as `PortSet.description`).
    private static func describe(_ ranges: [PortRange]) -> String {
        ranges.map(\.description).joined(separator: ",")
    }
}

/// The outcome of `Planner.plan`: the new kernel value and how it differs from the current.
public struct Plan: Sendable {
    /// The kernel value before the change.
    public let current: PortSet
    /// Every declared port.
    public let declared: PortSet
    /// The value to write.
    public let target: PortSet
    /// Ports portward added earlier that are no longer declared: removed from the kernel.
    public let released: PortSet
    /// Other writers' ports that an interrupted earlier write dropped: added back.
    public let restored: PortSet
    /// Ports portward will own after the change (for the state file).
    public let owned: PortSet
    /// Ports in the kernel that portward did not add (kept as they are), with `restored`.
    public let foreign: PortSet
    /// The state file content after a successful write.
    public let state: ReservationState
    /// The state file content while the write is under way: the previous records and the
    /// new ones, and `foreign` as `pendingForeign`. Saved before the kernel is written, so
    /// that a kill (or a failed chunk) between the write and the final save leaves every
    /// port the write may have added, and every port it may not yet have released, recorded
    /// as portward's (the next run can still release them instead of taking them for someone
    /// else's), and the other writers' ports it must keep recorded too (the next run adds
    /// back any that a cut multi-chunk replace left out).
    public let inFlightState: ReservationState
    /// Warnings, and an error when a safety rail refuses the plan.
    public let diagnostics: [Diagnostic]

    /// Ports the write adds.
    public var added: PortSet { target.subtracting(current) }
    /// True when the kernel already holds the target value.
    public var isNoop: Bool { target == current }
    /// True when a diagnostic is an error (the plan must not be applied).
    public var isRefused: Bool { diagnostics.contains { $0.severity == .error } }
}
