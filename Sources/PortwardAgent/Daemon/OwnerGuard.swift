import PortwardCore
import PortwardLinux

/// The owner guard's kernel side as the daemon uses it: a seam, `BPFGuard` in production
/// (`GuardProvider.system`), a fake in tests.
public protocol GuardBackend: AnyObject {
    /// The network namespace the daemon guards (its own): the cookie its map keys carry.
    var netnsCookie: UInt64 { get }
    /// True when the programs a previous daemon pinned and attached were kept.
    var tookOver: Bool { get }
    /// Makes the owners map hold exactly `desired` (BPFGuard.replaceEntries).
    func replaceEntries(with desired: [GuardKey: GuardOwner]) throws(BPFGuardError)
    /// A descriptor that becomes readable when denials wait (an epoll fd), for the loop.
    var eventDescriptor: Int32 { get }
    /// The denials waiting now, without blocking.
    func drainDenials() throws(BPFGuardError) -> [GuardDenial]
    /// Detaches the programs this backend installed and removes their pins
    /// (BPFGuard.uninstall): the daemon's orderly stop. Returns the programs detached.
    func uninstall() throws(BPFGuardError) -> Int
}

extension GuardBackend {
    public func uninstall() throws(BPFGuardError) -> Int { 0 }
}

/// How the daemon gets its guard: `install` loads and attaches it (or takes over what is
/// pinned); `clearPinned` empties the owners map a previous daemon left pinned (the guard
/// switched off, or nothing to guard any more), so no stale entry keeps denying.
public struct GuardProvider {
    public var install: () throws(BPFGuardError) -> any GuardBackend
    public var clearPinned: () -> Void

    public init(install: @escaping () throws(BPFGuardError) -> any GuardBackend, clearPinned: @escaping () -> Void) {
        self.install = install
        self.clearPinned = clearPinned
    }

    /// The real guard: `BPFGuard.probe()`, then `install` at the cgroup v2 mount point
    /// (`CgroupV2.mountPoint()`, the root cgroup of this cgroup namespace) with the default
    /// pins under /sys/fs/bpf/portward, keyed by this process's network namespace cookie.
    /// Without bpffs at /sys/fs/bpf it is unavailable (it does not mount one).
    public static var system: GuardProvider {
        GuardProvider(install: { () throws(BPFGuardError) -> any GuardBackend in
            if let error = BPFGuard.probe() { throw error }
            guard let cgroup = CgroupV2.mountPoint() else {
                throw .unavailable(.noCgroup2, detail: "no cgroup2 in /proc/self/mountinfo")
            }
            let cookie = try NetnsCookie.current()
            let guardian = try BPFGuard.install(cgroup: cgroup)
            return try SystemGuardBackend(guardian, netnsCookie: cookie)
        },
        clearPinned: {
            if let pinned = try? BPFGuard.openPinned() { _ = try? pinned.replaceEntries(with: [:]) }
        })
    }
}

/// `BPFGuard` and its ring-buffer reader.
final class SystemGuardBackend: GuardBackend {
    let guardian: BPFGuard
    let reader: GuardEventReader
    let netnsCookie: UInt64

    init(_ guardian: BPFGuard, netnsCookie: UInt64) throws(BPFGuardError) {
        self.guardian = guardian
        self.netnsCookie = netnsCookie
        reader = try guardian.eventReader()
    }

    var tookOver: Bool { guardian.installation?.tookOver ?? false }
    var eventDescriptor: Int32 { reader.fileDescriptor }

    func replaceEntries(with desired: [GuardKey: GuardOwner]) throws(BPFGuardError) {
        _ = try guardian.replaceEntries(with: desired)
    }

    func drainDenials() throws(BPFGuardError) -> [GuardDenial] { try reader.drain() }

    func uninstall() throws(BPFGuardError) -> Int {
        try BPFGuard.uninstall(cgroup: guardian.installation?.cgroup, pinDirectory: guardian.pinDirectory)
    }
}

/// The daemon's side of the owner guard (issue 12, docs/guard.md): from the configuration,
/// which entries are guarded (`GuardPolicy`), the owners map that says so, and the denials
/// read back. Fails open: when the guard cannot be had, entries are report-only (today's
/// behaviour) and one `degraded` event says why (once per reason).
///
/// Not thread-safe: the daemon's loop only.
final class OwnerGuard {
    /// Denials kept between two cycles at most (aggregated); more are counted only.
    static let pendingLimit = 1000

    private let provider: GuardProvider?
    /// Why the guard is off by switch (nil: on).
    private let switchedOff: String?
    /// Off by an explicit switch (`--no-guard`): the pinned entries are emptied. Off only
    /// because of `--root`, the host's guard is not this daemon's to touch.
    private let clearWhenOff: Bool
    private let clock: any ClockSource
    private var backend: (any GuardBackend)?
    private var lastDegraded: String?
    /// The last entries written, with unit cgroup ids as 0.
    private var lastDesired: [GuardKey: GuardOwner]?
    private var pending: [GuardDenialRecord] = []
    /// Entry names by (protocol, port) are looked up in this configuration.
    private var configuration = Configuration()
    /// The other namespaces covered, by cookie (their denials are reported with the name).
    private var namespaces: [UInt64: NetnsGuardTarget] = [:]
    /// Called once with the backend's event descriptor when the guard is first had.
    var watchEvents: (Int32) -> Void = { _ in }

    /// Why the guard is not in force; nil when it is (or when nothing needs it).
    private(set) var unavailable: String?

    init(provider: GuardProvider?, switchedOff: String?, clearWhenOff: Bool, clock: any ClockSource) {
        self.provider = provider
        self.switchedOff = switchedOff
        self.clearWhenOff = clearWhenOff
        self.clock = clock
    }

    /// Writes the owners map for `configuration` (installing the guard when an entry needs
    /// it and it is not installed yet). Returns the events to log.
    /// - Parameters:
    ///   - hookedUnits: `unit:` owners whose generator drop-in is in place (guarded).
    ///   - unitCgroups: the cgroup id each of those may bind from (0: none yet).
    ///   - namespaces: other network namespaces (netns= entries): their entries' keys carry
    ///     their cookie.
    func apply(_ configuration: Configuration, userIDs: [String: UInt32], hookedUnits: Set<String> = [],
               unitCgroups: [String: UInt64] = [:], namespaces: [NetnsGuardTarget] = []) -> [JournalEvent] {
        self.configuration = configuration
        self.namespaces = Dictionary(namespaces.map { ($0.cookie, $0) }, uniquingKeysWith: { first, _ in first })
        let hostRules = GuardPolicy.rules(configuration, userIDs: userIDs, hookedUnits: hookedUnits)
        let otherRules = namespaces.map {
            (cookie: $0.cookie, rules: GuardPolicy.rules($0.configuration, userIDs: userIDs, hookedUnits: hookedUnits))
        }
        let rules = hostRules + otherRules.flatMap(\.rules)
        if let switchedOff {
            unavailable = switchedOff
            if clearWhenOff { provider?.clearPinned() }
            return []
        }
        guard let provider else {
            unavailable = "the guard is not available to this daemon"
            return []
        }
        if backend == nil {
            if rules.isEmpty {
                // Nothing to guard: no programs are loaded for nothing, but entries a
                // previous configuration left pinned must go.
                provider.clearPinned()
                unavailable = nil
                return []
            }
            do {
                let installed = try provider.install()
                backend = installed
                watchEvents(installed.eventDescriptor)
            } catch {
                return degrade("\(error)")
            }
        }
        guard let backend else { return [] }
        var desired: [GuardKey: GuardOwner] = [:]
        var ports = PortSet()
        for (cookie, rule) in hostRules.map({ (backend.netnsCookie, $0) })
            + otherRules.flatMap({ other in other.rules.map { (other.cookie, $0) } }) {
            let owner: GuardOwner = switch rule.owner {
            case .uid(let uid): GuardOwner(uid: uid, reportOnly: rule.reportOnly)
            // 0 before the unit's first start: no cgroup has id 0, so the port stays closed
            // to others until the owner's hook registers its cgroup.
            case .unit(let unit): GuardOwner(cgroupID: unitCgroups[unit] ?? 0, reportOnly: rule.reportOnly)
            }
            for range in rule.ranges {
                if !rule.reportOnly { ports.insert(range) }
                for port in range.lower...range.upper where port != 0 {
                    desired[GuardKey(netnsCookie: cookie, transport: rule.transport, port: port)] = owner
                }
            }
        }
        do {
            try backend.replaceEntries(with: desired)
        } catch {
            return degrade("cannot write the guard's entries: \(error)")
        }
        unavailable = nil
        lastDegraded = nil
        // Logged when the guarded ports or their kind of owner change, not when a unit's
        // cgroup id does (every restart of the unit), nor when a namespace comes or goes.
        var shape: [GuardKey: GuardOwner] = [:]
        for (key, owner) in desired {
            shape[GuardKey(netnsCookie: 0, transport: key.transport, port: key.port)] =
                GuardOwner(cgroupID: owner.cgroupID.map { _ in 0 }, uid: owner.uid, reportOnly: owner.reportOnly)
        }
        guard shape != lastDesired else { return [] }
        let first = lastDesired == nil
        lastDesired = shape
        var names: [String] = []
        for rule in rules where !rule.reportOnly && !names.contains(rule.entry) { names.append(rule.entry) }
        return [.guardActive(entries: names, ports: ports, tookOver: first && backend.tookOver)]
    }

    /// Reads the denials waiting in the ring buffer into the pending list.
    func readEvents() {
        guard let backend, let denials = try? backend.drainDenials(), !denials.isEmpty else { return }
        let now = clock.realtime()
        let records = denials.compactMap { denial -> GuardDenialRecord? in
            let other = namespaces[denial.key.netnsCookie]
            guard denial.key.netnsCookie == backend.netnsCookie || other != nil else { return nil }
            var record = GuardDenialRecord(
                              entry: (other?.configuration ?? configuration).entry(declaring: denial.key.port,
                                                                                   protocol: denial.key.transport)?.name,
                              port: denial.key.port, transport: denial.key.transport, pid: denial.pid,
                              command: denial.command, uid: denial.uid, unit: systemdUnit(ofPID: Int32(bitPattern: denial.pid)),
                              allowed: denial.allowed, at: now)
            record.netns = other?.identity.description
            record.netnsName = other?.name
            return record
        }
        pending = GuardDenialRecord.aggregate(pending + records)
        if pending.count > Self.pendingLimit { pending.removeLast(pending.count - Self.pendingLimit) }
    }

    /// The denials read since the last call (aggregated).
    func takeDenials() -> [GuardDenialRecord] {
        readEvents()
        defer { pending.removeAll() }
        return pending
    }

    /// The orderly stop (SIGTERM): detaches and unpins the guard this daemon installed or
    /// took over (none when it had none: the guard off, `--root` without `--guard`).
    /// Returns the programs detached, or nil when there was no guard; throws when detaching
    /// failed (the guard then stays in force).
    func detach() throws(BPFGuardError) -> Int? {
        guard let backend else { return nil }
        let detached = try backend.uninstall()
        self.backend = nil
        return detached
    }

    private func degrade(_ reason: String) -> [JournalEvent] {
        unavailable = reason
        guard reason != lastDegraded else { return [] }
        lastDegraded = reason
        return [.degraded("owner guard: \(reason); user: and unit: owners are report-only (conflicts are reported, binds not refused)")]
    }
}
