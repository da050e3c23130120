/// One socket of the hold fallback: `port` of `transport`, held for `entry`, whose owner is
/// the systemd service `unit`.
public struct HoldTarget: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var entry: String
    public var unit: String
    public var transport: TransportProtocol
    public var port: UInt16

    public init(entry: String, unit: String, transport: TransportProtocol, port: UInt16) {
        self.entry = entry
        self.unit = unit
        self.transport = transport
        self.port = port
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.port, a.transport) < (b.port, b.transport)
    }

    /// `873/tcp`.
    public var description: String { "\(port)/\(transport.rawValue)" }
}

/// What the hold fallback holds (pure): when the owner guard is unavailable (no BPF, no
/// `bpf_set_retval()`, the guard switched off), the daemon binds the declared ports of
/// `unit:` owners itself while the owner is not running, and releases them to the owner's
/// start hook (docs/guard.md, "Hold fallback").
///
/// Held: the ports of each declared protocol of entries whose owner is a `.service` with
/// its generator drop-in loaded (`hookedUnits`: its `ExecStartPre=` hook releases the
/// sockets before the owner's own processes start, its `ExecStopPost=` hook has them held
/// again), unless the entry says `guard=report-only`. Not held:
/// - `user:` owners: no start hook tells portward when the user's program is about to
///   bind, so a held port would lock the owner out (report-only);
/// - `exe:` owners, other unit types, units without the drop-in: no hook either;
/// - entries without an owner (reservation only);
/// - sockets past `limit`, counted over every holdable socket in configuration order
///   (entry, then port, then protocol), running owners included, so which ports are held
///   does not depend on which owners run.
public enum HoldPolicy {
    /// Sockets held at most by default: each is a descriptor, and a range such as
    /// 30000-32767 tcp,udp alone needs 5536. The unit's LimitNOFILE= (16384) leaves room
    /// for the daemon's other descriptors.
    public static let defaultLimit = 8192

    /// Why an entry is not held, or nil when it is holdable.
    /// - Parameter hookedUnits: the `unit:` owners whose generator drop-in is in place.
    public static func notHoldable(_ entry: PortEntry, hookedUnits: Set<String>) -> String? {
        switch entry.owner {
        case .any: return "no owner (reservation only)"
        case .user: return "user: owners are not held: no start hook releases the port to the user's program"
        case .exe: return "exe: owners are not held: no start hook releases the port to the program"
        case .unit(let name):
            if entry.guardMode == .reportOnly { return "guard=report-only in the configuration" }
            guard OwnerDropIn.canRegister(name) else {
                return "only a .service owner has the start hook that releases its ports; \(name) cannot be held for"
            }
            guard hookedUnits.contains(name) else {
                return "the generator's drop-in for \(name) is missing: run systemctl daemon-reload"
            }
            return nil
        }
    }

    /// The sockets the hold fallback may hold for `configuration` (every holdable entry's,
    /// running owners included), at most `limit`; `overLimit` counts, per entry name, the
    /// sockets left out by the limit.
    public static func holdable(_ configuration: Configuration, hookedUnits: Set<String>,
                                limit: Int = defaultLimit) -> (targets: [HoldTarget], overLimit: [String: Int]) {
        var targets: [HoldTarget] = []
        var overLimit: [String: Int] = [:]
        var seen = Set<HoldTarget>()
        for entry in configuration.entries where notHoldable(entry, hookedUnits: hookedUnits) == nil {
            guard case .unit(let unit) = entry.owner else { continue }
            for range in entry.ranges {
                for port in range.lower...range.upper where port != 0 {
                    for transport in entry.protocols.members {
                        let target = HoldTarget(entry: entry.name, unit: unit, transport: transport, port: port)
                        // Two entries may not declare the same port (the parser refuses it),
                        // but a unit's entry and its protocols are counted once each.
                        guard seen.insert(HoldTarget(entry: "", unit: "", transport: transport, port: port)).inserted else { continue }
                        if targets.count < limit { targets.append(target) } else { overLimit[entry.name, default: 0] += 1 }
                    }
                }
            }
        }
        return (targets, overLimit)
    }

    /// The sockets to hold now: the holdable ones whose owner unit is not `running`.
    public static func wanted(_ holdable: [HoldTarget], running: Set<String>) -> [HoldTarget] {
        holdable.filter { !running.contains($0.unit) }
    }

    /// The protection of `entry` by the hold fallback (call when the guard is unavailable):
    /// `held` (reason nil when every socket is held now; otherwise what is missing: the
    /// owner is running and has them, some ports are in use by others, some are over the
    /// limit), or `report-only` with the reason when nothing of it can be held.
    /// - Parameters:
    ///   - unavailable: why the guard is unavailable (prefixes a report-only reason).
    ///   - failures: the holdable sockets that could not be bound, with why (`EADDRINUSE`...).
    public static func protection(of entry: PortEntry, unavailable: String, hookedUnits: Set<String>,
                                  holdable: [HoldTarget], overLimit: [String: Int], running: Set<String>,
                                  failures: [HoldTarget: String], limit: Int = defaultLimit) -> EntryProtection {
        if let reason = notHoldable(entry, hookedUnits: hookedUnits) {
            if entry.owner == .any { return EntryProtection(.unguarded, reason: reason) }
            return EntryProtection(.reportOnly, reason: "\(unavailable); \(reason)")
        }
        let mine = holdable.filter { $0.entry == entry.name }
        let skipped = overLimit[entry.name] ?? 0
        if mine.isEmpty {
            return EntryProtection(.reportOnly, reason: "\(unavailable); over the hold limit of \(limit) sockets")
        }
        var notes: [String] = []
        if case .unit(let unit) = entry.owner, running.contains(unit) {
            notes.append("released: \(unit) is running")
        } else {
            let failed = mine.filter { failures[$0] != nil }.sorted()
            if !failed.isEmpty {
                let shown = failed.prefix(3).map { "\($0) (\(failures[$0]!))" }.joined(separator: ", ")
                notes.append("\(failed.count) of \(mine.count) sockets not held: \(shown)" + (failed.count > 3 ? ", ..." : ""))
            }
        }
        if skipped > 0 { notes.append("\(skipped) sockets over the hold limit of \(limit) not held") }
        return EntryProtection(.held, reason: notes.isEmpty ? nil : notes.joined(separator: "; "))
    }
}
