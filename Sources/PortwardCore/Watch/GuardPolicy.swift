/// How the owner guard (the BPF programs of docs/guard.md) protects one declared entry.
///
/// - `guarded`: only the owner can bind the entry's ports (others get EADDRINUSE).
/// - `held`: the guard is unavailable, and the daemon holds the ports' sockets itself while
///   the owner is not running (the hold fallback, `HoldPolicy`; `reason` says what is not
///   held now).
/// - `reportOnly`: the entry has an owner, but the guard does not act for it (`reason`
///   says why: the guard is unavailable or switched off, the owner kind cannot be guarded
///   without a race, the user does not exist); the daemon reports conflicts, as before.
/// - `unguarded`: the entry has no owner (`-`): reservation only.
public struct EntryProtection: Codable, Hashable, Sendable, CustomStringConvertible {
    public enum State: String, Codable, Hashable, Sendable {
        case guarded
        case held
        case reportOnly = "report-only"
        case unguarded = "none"
    }

    public var state: State
    /// Why the entry is not guarded; nil when it is.
    public var reason: String?

    public init(_ state: State, reason: String? = nil) {
        self.state = state
        self.reason = reason
    }

    /// `guarded`, `held`, `held: REASON`, `report-only: REASON`, `none: REASON`.
    public var description: String { state.rawValue + (reason.map { ": \($0)" } ?? "") }
}

/// One line of the guard's owners map, before it is keyed by network namespace: the
/// `ports` of `transport` may be bound only by `owner`.
public struct GuardRule: Hashable, Sendable {
    /// Who may bind: a uid, or the processes of a systemd service (its cgroup, registered
    /// by the unit's `ExecStartPre=` hook).
    public enum Owner: Hashable, Sendable {
        case uid(UInt32)
        case unit(String)
    }

    public var entry: String
    public var transport: TransportProtocol
    public var ranges: [PortRange]
    public var owner: Owner
    /// `guard=report-only`: the map entry lets everyone bind, and reports the non-owners'
    /// binds (the programs' report-only flag).
    public var reportOnly: Bool

    public init(entry: String, transport: TransportProtocol, ranges: [PortRange], owner: Owner, reportOnly: Bool = false) {
        self.entry = entry
        self.transport = transport
        self.ranges = ranges
        self.owner = owner
        self.reportOnly = reportOnly
    }

    /// The uid, for a `user:` rule.
    public var uid: UInt32? {
        if case .uid(let uid) = owner { return uid }
        return nil
    }
}

/// Which entries the owner guard protects, and how (pure).
///
/// Guarded:
/// - entries whose owner is `user:NAME` (resolved to a uid) or `user:UID`: the uid is known
///   before the owner starts, so there is no race with the owner's start (the kernel
///   compares the binding process's uid);
/// - entries whose owner is `unit:NAME.service` when the generator's drop-in for the unit
///   is loaded (`hookedUnits`): its `ExecStartPre=` hook registers the unit's new cgroup
///   before the unit's own processes start, so the owner always gets through.
/// `exe:` owners stay report-only (an executable is not known at bind time without a race),
/// as do units of other types (no `ExecStartPre=`) and units without the drop-in.
public enum GuardPolicy {
    /// The protection of `entry` when the guard's availability is `unavailable` (nil: the
    /// guard is in force; otherwise why not, e.g. "BPF guard unavailable: permission
    /// denied" or "the guard is switched off (--no-guard)").
    /// - Parameter userIDs: the uid of each `user:NAME` that could be resolved.
    /// - Parameter hookedUnits: the `unit:` owners whose generator drop-in is in place.
    public static func protection(of entry: PortEntry, userIDs: [String: UInt32], unavailable: String?,
                                  hookedUnits: Set<String> = []) -> EntryProtection {
        if entry.guardMode == .reportOnly, entry.owner != .any {
            return EntryProtection(.reportOnly, reason: "guard=report-only in the configuration")
        }
        switch entry.owner {
        case .any:
            return EntryProtection(.unguarded, reason: "no owner (reservation only)")
        case .exe:
            return EntryProtection(.reportOnly, reason: "exe: owners are not guarded (no race-free way to know a binder's executable)")
        case .unit(let name):
            guard OwnerDropIn.canRegister(name) else {
                return EntryProtection(.reportOnly, reason: "only a .service owner can register its cgroup (ExecStartPre=); \(name) cannot")
            }
            guard hookedUnits.contains(name) else {
                return EntryProtection(.reportOnly, reason: "the generator's drop-in for \(name) is missing: run systemctl daemon-reload")
            }
            if let unavailable { return EntryProtection(.reportOnly, reason: unavailable) }
            return EntryProtection(.guarded)
        case .user(let user):
            if case .name(let name) = user, userIDs[name] == nil {
                return EntryProtection(.reportOnly, reason: "user '\(name)' is unknown to this host")
            }
            if let unavailable { return EntryProtection(.reportOnly, reason: unavailable) }
            return EntryProtection(.guarded)
        }
    }

    /// The protection of every entry, by entry name.
    public static func protections(_ configuration: Configuration, userIDs: [String: UInt32],
                                   unavailable: String?, hookedUnits: Set<String> = []) -> [String: EntryProtection] {
        var result: [String: EntryProtection] = [:]
        for entry in configuration.entries {
            result[entry.name] = protection(of: entry, userIDs: userIDs, unavailable: unavailable, hookedUnits: hookedUnits)
        }
        return result
    }

    /// The rules the guard's map must hold for `configuration`: one per guardable entry and
    /// declared protocol, in configuration order; a `guard=report-only` entry's rules are
    /// `reportOnly` (its non-owners' binds are let through and reported).
    public static func rules(_ configuration: Configuration, userIDs: [String: UInt32],
                             hookedUnits: Set<String> = []) -> [GuardRule] {
        configuration.entries.flatMap { entry -> [GuardRule] in
            let owner: GuardRule.Owner
            switch entry.owner {
            case .user(.uid(let value)): owner = .uid(value)
            case .user(.name(let name)):
                guard let uid = userIDs[name] else { return [] }
                owner = .uid(uid)
            case .unit(let name) where OwnerDropIn.canRegister(name) && hookedUnits.contains(name):
                owner = .unit(name)
            default:
                return []
            }
            return entry.protocols.members.map {
                GuardRule(entry: entry.name, transport: $0, ranges: entry.ranges, owner: owner, reportOnly: entry.guardMode == .reportOnly)
            }
        }
    }

    /// The `unit:` owners of `configuration` that can register their cgroup (services),
    /// each once, in configuration order.
    public static func ownerUnits(_ configuration: Configuration) -> [String] {
        var units: [String] = []
        for entry in configuration.entries {
            if case .unit(let name) = entry.owner, OwnerDropIn.canRegister(name), !units.contains(name) { units.append(name) }
        }
        return units
    }
}

/// Binds the guard refused (or let through, for a report-only map entry), aggregated per
/// process, port and protocol: what the daemon reports (journal, daemon.json, `status`).
/// Times are CLOCK_REALTIME seconds since the Unix epoch.
public struct GuardDenialRecord: Codable, Hashable, Sendable {
    /// The entry declaring the port (nil when the configuration no longer declares it).
    public var entry: String?
    public var port: UInt16
    public var transport: TransportProtocol
    public var pid: UInt32
    /// The process's command name (`/proc/PID/comm`), nil when it was already gone.
    public var command: String?
    public var uid: UInt32
    /// The systemd unit of the process, when it has one.
    public var unit: String?
    /// How many binds were refused (at least 1).
    public var count: Int
    /// True when the binds were let through (a report-only map entry).
    public var allowed: Bool
    /// When the (last) denial was read.
    public var at: Double
    /// The network namespace of the bind when it is not the daemon's own (a `netns=` entry
    /// guarded there): `net:[INODE]`; nil for the daemon's own.
    public var netns: String?
    /// That namespace's first `ip netns` name, else the path it was reached by.
    public var netnsName: String?

    public init(entry: String?, port: UInt16, transport: TransportProtocol, pid: UInt32, command: String?,
                uid: UInt32, unit: String?, count: Int = 1, allowed: Bool = false, at: Double,
                netns: String? = nil, netnsName: String? = nil) {
        self.entry = entry
        self.port = port
        self.transport = transport
        self.pid = pid
        self.command = command
        self.uid = uid
        self.unit = unit
        self.count = count
        self.allowed = allowed
        self.at = at
        self.netns = netns
        self.netnsName = netnsName
    }

    /// Merges records of the same process, port, protocol and verdict, keeping the first
    /// one's order (a `bindresvport()` loop that tries a guarded port twice is one record).
    public static func aggregate(_ records: [GuardDenialRecord]) -> [GuardDenialRecord] {
        struct Key: Hashable {
            var pid: UInt32; var port: UInt16; var transport: TransportProtocol; var allowed: Bool; var netns: String?
        }
        var order: [Key] = []
        var merged: [Key: GuardDenialRecord] = [:]
        for record in records {
            let key = Key(pid: record.pid, port: record.port, transport: record.transport, allowed: record.allowed,
                          netns: record.netns)
            if var existing = merged[key] {
                existing.count += record.count
                existing.at = max(existing.at, record.at)
                if existing.command == nil { existing.command = record.command }
                if existing.unit == nil { existing.unit = record.unit }
                merged[key] = existing
            } else {
                order.append(key)
                merged[key] = record
            }
        }
        return order.compactMap { merged[$0] }
    }
}
