import Glibc
import PortwardCore
import PortwardLinux

/// The hold fallback (issue 12, docs/guard.md "Hold fallback"): while the owner guard is
/// unavailable, the daemon holds the declared ports of `unit:` owners itself (`HoldPolicy`
/// says which) while the owner is not running, and releases them synchronously to the
/// owner's start hook (`release UNIT` on the control socket, answered once the sockets are
/// closed); the stop hook (`hold UNIT`) has them held again.
///
/// Safety nets, checked every watch cycle (`check`): a released unit whose cgroup is gone
/// (it stopped without its stop hook reaching the daemon) is held again; a held unit whose
/// recorded cgroup changed (it started without its start hook reaching the daemon) is
/// released. A port someone else holds cannot be held: it is reported (once, `holdFailed`)
/// and tried again every cycle.
///
/// Not thread-safe: the daemon's loop only.
final class HoldKeeper {
    /// Failed ports logged one by one per check at most; the rest in one line.
    static let failureLines = 5

    private let holder: (any PortHolder)?
    private let registry: OwnerRegistry?
    private let procRoot: String
    /// The most sockets held at once.
    let limit: Int
    private var held: [HoldTarget: Int32] = [:]
    /// The socket inodes of `held`, by target.
    private var heldInodes: [HoldTarget: UInt64] = [:]
    private var failures: [HoldTarget: String] = [:]
    /// Released units, with the cgroup directory that showed them running (nil: the
    /// registry's recorded one).
    private var released: [String: String?] = [:]
    /// For held units: the recorded cgroup id when they were held (a stopping unit's
    /// directory still exists during its stop hook).
    private var heldSince: [String: UInt64] = [:]
    private var holdable: [HoldTarget] = []
    private var overLimit: [String: Int] = [:]
    private var configuration = Configuration()
    private var hooked: Set<String> = []
    /// Why the guard is unavailable, while the fallback is active; nil: inactive.
    private(set) var active: String?

    init(holder: (any PortHolder)?, registry: OwnerRegistry?, procRoot: String) {
        self.holder = holder
        self.registry = registry
        self.procRoot = procRoot
        limit = min(HoldPolicy.defaultLimit, holder?.capacity() ?? 0)
    }

    deinit { for token in held.values { holder?.release(token) } }

    /// The number of sockets held now.
    var heldCount: Int { held.count }

    /// The socket inodes of the sockets held now: not conflicts (the watch skips them).
    var inodes: Set<UInt64> { Set(heldInodes.values) }

    /// Follows the configuration and the guard's availability: `unavailable` nil (the guard
    /// is in force, or the fallback is off) releases everything. Returns the events to log.
    func update(_ configuration: Configuration, hookedUnits: Set<String>, unavailable: String?) -> [JournalEvent] {
        self.configuration = configuration
        hooked = hookedUnits
        guard let unavailable, holder != nil else {
            active = nil
            holdable = []
            overLimit = [:]
            return sync()
        }
        active = unavailable
        (holdable, overLimit) = HoldPolicy.holdable(configuration, hookedUnits: hookedUnits, limit: limit)
        let units = Set(holdable.map(\.unit))
        released = released.filter { units.contains($0.key) }
        heldSince = heldSince.filter { units.contains($0.key) }
        // Units not known yet: running now (started before portward, or before this entry)?
        let unknown = units.subtracting(released.keys).subtracting(heldSince.keys)
        if !unknown.isEmpty {
            var notRecorded: Set<String> = []
            for unit in unknown {
                if registry?.currentRecordedCgroup(unit) != nil { released[unit] = .some(nil) } else { notRecorded.insert(unit) }
            }
            if !notRecorded.isEmpty {
                for (unit, (_, path)) in OwnerRegistry.runningCgroups(of: notRecorded, procRoot: procRoot) { released[unit] = path }
            }
        }
        for unit in units where released[unit] == nil && heldSince[unit] == nil {
            heldSince[unit] = registry?.currentRecordedCgroup(unit) ?? 0
        }
        var events = sync()
        if !overLimit.isEmpty {
            let count = overLimit.values.reduce(0, +)
            events.append(.degraded("hold fallback: \(count) sockets are not held (over the limit of \(limit) sockets: " +
                                    overLimit.keys.sorted().joined(separator: ", ") + ")"))
        }
        return events
    }

    /// The start hook's request: closes `unit`'s held sockets (they are closed when this
    /// returns). `peerPID`: the hook's process, whose cgroup then shows the unit running.
    func release(_ unit: String, peerPID: Int32) -> (count: Int, events: [JournalEvent]) {
        guard active != nil else { return (0, []) }
        var path: String?
        if peerPID > 0, let mount = CgroupV2.mountPoint(), let own = CgroupV2.directory(ofProcess: peerPID, mountPoint: mount) {
            path = OwnerRegistry.unitCgroup(processCgroup: own, mountPoint: mount, unit: unit)
        }
        return releaseUnit(unit, path: path, why: "its start hook")
    }

    /// The stop hook's request: `unit` is stopped (its processes are gone), hold its ports
    /// again. Returns the number of its sockets held now.
    func hold(_ unit: String) -> (count: Int, events: [JournalEvent]) {
        guard active != nil else { return (0, []) }
        guard released.removeValue(forKey: unit) != nil || heldSince[unit] == nil else {
            return (held.keys.filter { $0.unit == unit }.count, [])
        }
        heldSince[unit] = registry?.currentRecordedCgroup(unit) ?? 0
        let events = sync(why: "its stop hook")
        return (held.keys.filter { $0.unit == unit }.count, events)
    }

    /// The safety nets (one stat(2) per holdable unit); then failed ports are tried again.
    func check() -> [JournalEvent] {
        guard active != nil else { return [] }
        var events: [JournalEvent] = []
        for (unit, path) in released {
            let running = path.map { access($0, F_OK) == 0 } ?? (registry?.currentRecordedCgroup(unit) != nil)
            if !running {
                released[unit] = nil
                heldSince[unit] = 0
                events += sync(why: "\(unit) is no longer running")
            }
        }
        if let registry {
            for (unit, since) in heldSince where released[unit] == nil {
                if let now = registry.currentRecordedCgroup(unit), now != since {
                    events += releaseUnit(unit, path: nil, why: "\(unit) started without its start hook reaching portward").events
                }
            }
        }
        return events + sync()
    }

    /// Each holdable entry's protection by the fallback (and report-only reasons for the
    /// other owner entries), by entry name; empty while inactive.
    func protections() -> [String: EntryProtection] {
        guard let active else { return [:] }
        var result: [String: EntryProtection] = [:]
        let running = Set(released.keys)
        for entry in configuration.entries where entry.owner != .any {
            result[entry.name] = HoldPolicy.protection(of: entry, unavailable: active, hookedUnits: hooked, holdable: holdable,
                                                       overLimit: overLimit, running: running, failures: failures, limit: limit)
        }
        return result
    }

    private func releaseUnit(_ unit: String, path: String?, why: String) -> (count: Int, events: [JournalEvent]) {
        released[unit] = .some(path)
        heldSince[unit] = nil
        var count = 0
        for (target, token) in held where target.unit == unit {
            holder?.release(token)
            held[target] = nil
            heldInodes[target] = nil
            count += 1
        }
        for target in failures.keys where target.unit == unit { failures[target] = nil }
        guard count > 0 else { return (0, []) }
        return (count, [.portsReleased(unit: unit, sockets: count, why: why)])
    }

    /// Closes what is no longer wanted and binds what is wanted and not held.
    private func sync(why: String? = nil) -> [JournalEvent] {
        let wanted = active == nil ? [] : HoldPolicy.wanted(holdable, running: Set(released.keys))
        let wantedSet = Set(wanted)
        var events: [JournalEvent] = []
        var dropped: [String: Int] = [:]
        for (target, token) in held where !wantedSet.contains(target) {
            holder?.release(token)
            held[target] = nil
            heldInodes[target] = nil
            dropped[target.unit, default: 0] += 1
        }
        failures = failures.filter { wantedSet.contains($0.key) }
        for (unit, count) in dropped.sorted(by: { $0.key < $1.key }) {
            events.append(.portsReleased(unit: unit, sockets: count, why: active == nil ? "no longer held: the owner guard is in force, or no entry needs holding" : "no longer declared"))
        }
        guard let holder else { return events }
        var newlyHeld: [String: [HoldTarget]] = [:]
        var newlyFailed: [HoldTarget] = []
        for target in wanted where held[target] == nil {
            do {
                let token = try holder.hold(target.transport, port: target.port)
                held[target] = token
                heldInodes[target] = holder.inode(of: token)
                failures[target] = nil
                newlyHeld[target.unit, default: []].append(target)
            } catch {
                // SCTP without the sctp module (entries declaring every protocol, `-`): said
                // in status, not journalled on every start.
                let noSCTP = target.transport == .sctp && (error == .protocolNotSupported || error == .socketTypeNotSupported)
                let reason = error == .addressInUse ? "in use by another socket (EADDRINUSE)"
                    : noSCTP ? "SCTP is not available in this kernel" : "\(error)"
                if failures[target] != reason && !noSCTP { newlyFailed.append(target) }
                failures[target] = reason
            }
        }
        for (unit, targets) in newlyHeld.sorted(by: { $0.key < $1.key }) {
            events.append(.portsHeld(unit: unit, entries: Self.names(targets), sockets: targets.count, why: why))
        }
        for target in newlyFailed.sorted().prefix(Self.failureLines) {
            events.append(.holdFailed(target, reason: failures[target] ?? ""))
        }
        if newlyFailed.count > Self.failureLines {
            events.append(.holdFailedMore(newlyFailed.count - Self.failureLines))
        }
        return events
    }

    private static func names(_ targets: [HoldTarget]) -> [String] {
        var names: [String] = []
        for target in targets where !names.contains(target.entry) { names.append(target.entry) }
        return names
    }
}
