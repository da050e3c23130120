import Glibc
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
    /// True when the event programs (post_bind, sysctl) are attached too (docs/events.md).
    var events: Bool { get }
    /// Why they are not, when `events` is false.
    var eventsUnavailable: String? { get }
    /// Makes the declared-ports map hold exactly `declared` (BPFGuard.replaceDeclared).
    func replaceDeclared(_ declared: [DeclaredPortsKey: PortSet]) throws(BPFGuardError)
    /// Every event waiting now (denials, binds, key writes), without blocking.
    func drainEvents() throws(BPFGuardError) -> [GuardEvent]
    /// The ring buffer records the kernel could not send (buffer full), since the maps were
    /// created; nil when unknown.
    func droppedEvents() -> UInt64?
}

extension GuardBackend {
    public func uninstall() throws(BPFGuardError) -> Int { 0 }
    public var events: Bool { false }
    public var eventsUnavailable: String? { "the guard backend has no event programs" }
    public func replaceDeclared(_ declared: [DeclaredPortsKey: PortSet]) throws(BPFGuardError) {}
    public func drainEvents() throws(BPFGuardError) -> [GuardEvent] { try drainDenials().map(GuardEvent.denial) }
    public func droppedEvents() -> UInt64? { nil }
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
            let mount = CgroupV2.mountPoint()
            if let error = BPFGuard.probe(cgroupMount: .some(mount)) { throw error }
            guard let cgroup = mount else {
                throw .unavailable(.noCgroup2, detail: "no cgroup2 in /proc/self/mountinfo")
            }
            let cookie = try NetnsCookie.current()
            let guardian = try BPFGuard.install(cgroup: cgroup)
            return try SystemGuardBackend(guardian, netnsCookie: cookie)
        },
        clearPinned: {
            if let pinned = try? BPFGuard.openPinned() {
                _ = try? pinned.replaceEntries(with: [:])
                // The event programs stay attached with the pins: with no declared ports
                // they report nothing.
                try? pinned.replaceDeclared([:])
            }
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

    func drainDenials() throws(BPFGuardError) -> [GuardDenial] {
        try reader.drain().compactMap { if case .denial(let denial) = $0 { denial } else { nil } }
    }

    var events: Bool { guardian.installation?.events ?? false }
    var eventsUnavailable: String? { guardian.installation?.eventsUnavailable }
    func replaceDeclared(_ declared: [DeclaredPortsKey: PortSet]) throws(BPFGuardError) { try guardian.replaceDeclared(declared) }
    func drainEvents() throws(BPFGuardError) -> [GuardEvent] { try reader.drain() }
    func droppedEvents() -> UInt64? { try? guardian.counters().eventsDropped }

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
    /// Other namespaces left out of the map at the last apply (no room).
    private var lastSkipped = 0
    /// Map entries kept free below the capacity.
    static let capacityMargin = 1024

    private func isUserNamespace(_ target: NetnsGuardTarget) -> Bool { !target.inRootFolder }
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

    /// True when the hold fallback takes over unit: owners while the guard is not in force
    /// (only the wording of the `degraded` event depends on it).
    private let holdsUnitOwners: Bool

    /// The event programs (docs/events.md): wanted by the daemon (`--events`), and whether
    /// they are in force (the programs attached and the declared ports written).
    private let eventsWanted: Bool
    private(set) var eventsInForce = false
    /// True when the last `apply(deferEventsOnly: true)` left the programs for later: the
    /// daemon applies again after READY=1.
    private(set) var installDeferred = false
    /// Why the events are not in force (shown by `status`); nil when they are.
    private(set) var eventsUnavailable: String? = "not started"
    /// The daemon's own pid and network namespace inode: its own key writes are not foreign,
    /// writes in other namespaces are not this daemon's drift.
    private let selfPID: UInt32
    private let selfNetnsInode: UInt64?
    private var userIDs: [String: UInt32] = [:]
    private var unitCgroups: [String: UInt64] = [:]
    /// The cgroup id the owner registry has for a unit now (`OwnerRegistry.recorded`): a
    /// hook may have registered one since the map was written here (a socket unit's, whose
    /// listeners systemd then creates in that cgroup). Set by the daemon.
    var recordedCgroup: (String) -> UInt64? = { _ in nil }
    /// Records not journalled yet (`takeUnjournalled`); a subset of `pending`.
    private var unjournalled: [GuardDenialRecord] = []
    private var keyWrites: [SysctlWrite] = []
    /// The most recent bind by each entry's owner, by entry name.
    private(set) var ownerBinds: [String: BindEvent] = [:]

    /// What one `readEvents` found, for the daemon to act on.
    struct Activity: Equatable {
        /// Binds to declared ports (a full check will look at the holders).
        var binds = 0
        /// Records to journal (denials, wrong-owner binds).
        var records = 0
        /// Writes of the keys that may be this namespace's (re-read the key).
        var keyWrites = 0
    }

    init(provider: GuardProvider?, switchedOff: String?, clearWhenOff: Bool, clock: any ClockSource,
         holdsUnitOwners: Bool = false, events: Bool = false, selfPID: UInt32 = UInt32(bitPattern: getpid()),
         selfNetnsInode: UInt64? = nil) {
        self.provider = provider
        self.holdsUnitOwners = holdsUnitOwners
        self.switchedOff = switchedOff
        self.clearWhenOff = clearWhenOff
        self.clock = clock
        self.eventsWanted = events
        self.selfPID = selfPID
        self.selfNetnsInode = selfNetnsInode
        if !events { eventsUnavailable = "the events are switched off (--no-events)" }
    }

    /// Writes the owners map for `configuration` (installing the guard when an entry needs
    /// it and it is not installed yet). Returns the events to log.
    /// - Parameters:
    ///   - hookedUnits: `unit:` owners whose generator drop-in is in place (guarded).
    ///   - unitCgroups: the cgroup id each of those may bind from (0: none yet).
    ///   - namespaces: other network namespaces (netns= entries): their entries' keys carry
    ///     their cookie.
    ///   - deferEventsOnly: the daemon's start: when no entry needs the guard and only the
    ///     events want the programs, load nothing now (`installDeferred`): the boot path
    ///     does not pay libbpf's start-up (about 6.9 M instructions, BENCHMARKS.md) for
    ///     programs that refuse nothing.
    func apply(_ configuration: Configuration, userIDs: [String: UInt32], hookedUnits: Set<String> = [],
               unitCgroups: [String: UInt64] = [:], namespaces: [NetnsGuardTarget] = [],
               deferEventsOnly: Bool = false) -> [JournalEvent] {
        self.configuration = configuration
        self.namespaces = Dictionary(namespaces.map { ($0.cookie, $0) }, uniquingKeysWith: { first, _ in first })
        let hostRules = GuardPolicy.rules(configuration, userIDs: userIDs, hookedUnits: hookedUnits)
        let otherRules = namespaces.map {
            (cookie: $0.cookie, rules: GuardPolicy.rules($0.configuration, userIDs: userIDs, hookedUnits: hookedUnits))
        }
        let rules = hostRules + otherRules.flatMap(\.rules)
        self.userIDs = userIDs
        self.unitCgroups = unitCgroups
        eventsInForce = false
        if let switchedOff {
            unavailable = switchedOff
            if eventsWanted { eventsUnavailable = "the events need the guard's programs, not loaded: \(switchedOff)" }
            if clearWhenOff { provider?.clearPinned() }
            return []
        }
        guard let provider else {
            unavailable = "the guard is not available to this daemon"
            if eventsWanted { eventsUnavailable = "BPF is not available to this daemon" }
            return []
        }
        // The events need the programs even when nothing is guarded.
        let wantsEvents = eventsWanted && !configuration.declaredPorts.isEmpty
        installDeferred = false
        if backend == nil {
            if rules.isEmpty && wantsEvents && deferEventsOnly {
                // Entries a previous daemon left pinned must not deny until then (nor for
                // good, should the install after READY fail): emptied now, nothing loaded.
                provider.clearPinned()
                installDeferred = true
                unavailable = nil
                return []
            }
            if rules.isEmpty && !wantsEvents {
                if eventsWanted { eventsUnavailable = "no ports are declared" }
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
                guard !rules.isEmpty else {
                    // Only the events wanted the programs: nothing is guarded, so the guard
                    // is not "unavailable" (and the hold fallback has nothing to take over).
                    unavailable = nil
                    let reason = "BPF unavailable: \(error)"
                    defer { eventsUnavailable = reason }
                    return reason == eventsUnavailable ? [] : [.degraded("events: \(reason); watching by polling every check interval")]
                }
                if eventsWanted { eventsUnavailable = "BPF unavailable: \(error)" }
                return degrade("\(error)")
            }
        }
        guard let backend else { return [] }
        var events: [JournalEvent] = []
        if eventsWanted {
            events += applyDeclared(configuration, backend: backend)
        } else {
            // --no-events: the programs may be attached (a previous daemon's, or the object
            // loads them all); with no declared ports they report nothing.
            try? backend.replaceDeclared([:])
        }
        var desired: [GuardKey: GuardOwner] = [:]
        var ports = PortSet()
        // The map is bounded, and anyone can make namespaces (`unshare -Urn`, links in
        // /run/user/UID/netns): the daemon's own entries always get their slots; other
        // namespaces follow, those any user can make last, each whole or not at all, while
        // they fit below the capacity (a margin is kept for the next reload's changes).
        let hostKeys = hostRules.reduce(0) { $0 + $1.ranges.reduce(0) { $0 + Int($1.upper) - Int($1.lower) + 1 } }
        var room = max(0, guardOwnersCapacity - Self.capacityMargin - hostKeys)
        var admitted: [(cookie: UInt64, rules: [GuardRule])] = []
        var skipped = 0
        for other in otherRules.enumerated().sorted(by: { a, b in
            let (ua, ub) = (isUserNamespace(namespaces[a.offset]), isUserNamespace(namespaces[b.offset]))
            return ua != ub ? !ua : a.offset < b.offset
        }).map(\.element) {
            let keys = other.rules.reduce(0) { $0 + $1.ranges.reduce(0) { $0 + Int($1.upper) - Int($1.lower) + 1 } }
            if keys > room { skipped += 1; continue }
            room -= keys
            admitted.append(other)
        }
        if skipped != lastSkipped {
            if skipped > 0 {
                events.append(.degraded("owner guard: its map (\(guardOwnersCapacity) entries) has no room for the entries of \(skipped) other network namespaces; they are not guarded (their reservation still applies), this namespace's entries are"))
            }
            lastSkipped = skipped
        }
        for (cookie, rule) in hostRules.map({ (backend.netnsCookie, $0) })
            + admitted.flatMap({ other in other.rules.map { (other.cookie, $0) } }) {
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
            return events + degrade("cannot write the guard's entries: \(error)")
        }
        if rules.isEmpty {
            unavailable = nil
            return events
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
        guard shape != lastDesired else { return events }
        let first = lastDesired == nil
        lastDesired = shape
        var names: [String] = []
        for rule in rules where !rule.reportOnly && !names.contains(rule.entry) { names.append(rule.entry) }
        return events + [.guardActive(entries: names, ports: ports, tookOver: first && backend.tookOver)]
    }

    /// Writes the declared ports of `configuration` (this network namespace, per protocol)
    /// for the post_bind programs; events are in force when that worked.
    private func applyDeclared(_ configuration: Configuration, backend: any GuardBackend) -> [JournalEvent] {
        guard backend.events else {
            let reason = backend.eventsUnavailable ?? "the event programs are not attached"
            defer { eventsUnavailable = reason }
            return reason == eventsUnavailable ? [] : [.degraded("events: \(reason); watching by polling every check interval")]
        }
        var declared: [DeclaredPortsKey: PortSet] = [:]
        for entry in configuration.entries {
            for transport in TransportProtocol.allCases where entry.protocols.contains(ProtocolSet(transport)) {
                declared[DeclaredPortsKey(netnsCookie: backend.netnsCookie, transport: transport), default: PortSet()].formUnion(entry.ports)
            }
        }
        do {
            try backend.replaceDeclared(declared)
        } catch {
            let reason = "cannot write the declared ports: \(error)"
            defer { eventsUnavailable = reason }
            return reason == eventsUnavailable ? [] : [.degraded("events: \(reason); watching by polling every check interval")]
        }
        eventsInForce = true
        eventsUnavailable = nil
        return []
    }

    /// Ring-buffer records the kernel dropped since the maps were created (nil: unknown).
    var droppedEvents: UInt64? { backend?.droppedEvents() }

    /// Reads the events waiting in the ring buffer: denials and wrong-owner binds into the
    /// pending list (and the unjournalled one), owner binds into `ownerBinds`, foreign writes
    /// of this namespace's keys into the key writes. Denials in the other namespaces the
    /// guard covers are kept, with the namespace; their binds and key writes are dropped
    /// (netns= entries are watched by their own checks).
    @discardableResult
    func readEvents() -> Activity {
        var activity = Activity()
        guard let backend, let events = try? backend.drainEvents(), !events.isEmpty else { return activity }
        let now = clock.realtime()
        var records: [GuardDenialRecord] = []
        // A bind the bind hook let through for a report-only map entry, then seen again by
        // post_bind (the same bind() call, next in the ring buffer): one report, not two.
        struct ReportedBind: Hashable { var key: GuardKey; var pid: UInt32 }
        var reportedAtBind: [ReportedBind: Int] = [:]
        for event in events {
            switch event {
            case .denial(let denial):
                let other = namespaces[denial.key.netnsCookie]
                guard denial.key.netnsCookie == backend.netnsCookie || other != nil else { continue }
                if denial.allowed { reportedAtBind[ReportedBind(key: denial.key, pid: denial.pid), default: 0] += 1 }
                records.append(record(denial, in: other, at: now))
            case .bound(let record):
                guard eventsInForce, record.key.netnsCookie == backend.netnsCookie,
                      let entry = configuration.entry(declaring: record.key.port, protocol: record.key.transport) else { continue }
                activity.binds += 1
                let pid = Int32(bitPattern: record.pid)
                let bind = BindEvent(port: record.key.port, transport: record.key.transport, pid: record.pid, uid: record.uid,
                                     cgroupID: record.cgroupID, command: record.command, unit: systemdUnit(ofPID: pid),
                                     executablePath: entry.owner.isExe ? processExecutable(pid) : nil, at: now)
                var verdict = bind.verdict(owner: entry.owner, userIDs: userIDs, ownerCgroups: unitCgroups)
                if verdict != .expected, case .unit(let unit) = entry.owner, let recorded = recordedCgroup(unit), recorded != 0,
                   recorded == record.cgroupID {
                    verdict = .expected   // registered since (a socket unit's listener, "(sd-listen)")
                }
                switch verdict {
                case .expected:
                    ownerBinds[entry.name] = bind
                case .wrongOwner, .unattributed:
                    let reported = ReportedBind(key: record.key, pid: record.pid)
                    if let count = reportedAtBind[reported], count > 0 {
                        reportedAtBind[reported] = count - 1
                        continue
                    }
                    // Unattributed: a unit: or exe: owner, and the process gone before the
                    // event was read (its unit and executable with it). Reported with what
                    // the kernel gave (pid, command, uid): a holder that binds and exits at
                    // once is still named (docs/events.md).
                    records.append(GuardDenialRecord(entry: entry.name, port: bind.port, transport: bind.transport, pid: bind.pid,
                                                     command: bind.command, uid: bind.uid, unit: bind.unit, allowed: true, at: now))
                default:
                    break
                }
            case .sysctlWrite(var write):
                guard eventsInForce, write.pid != selfPID else { continue }   // the daemon's own repair
                if let inode = write.netnsInode, let selfNetnsInode, inode != selfNetnsInode { continue }
                write.command = write.command ?? "?"
                keyWrites.append(write)
                if keyWrites.count > Self.pendingLimit { keyWrites.removeFirst(keyWrites.count - Self.pendingLimit) }
                activity.keyWrites += 1
            }
        }
        activity.records = records.count
        pending = GuardDenialRecord.aggregate(pending + records)
        if pending.count > Self.pendingLimit { pending.removeLast(pending.count - Self.pendingLimit) }
        unjournalled = GuardDenialRecord.aggregate(unjournalled + records)
        if unjournalled.count > Self.pendingLimit { unjournalled.removeLast(unjournalled.count - Self.pendingLimit) }
        return activity
    }

    /// A denial as the journal and status report it; `other` is the covered namespace it
    /// happened in (nil: the daemon's own).
    private func record(_ denial: GuardDenial, in other: NetnsGuardTarget?, at now: Double) -> GuardDenialRecord {
        var record = GuardDenialRecord(
            entry: (other?.configuration ?? configuration).entry(declaring: denial.key.port, protocol: denial.key.transport)?.name,
            port: denial.key.port, transport: denial.key.transport, pid: denial.pid,
            command: denial.command, uid: denial.uid, unit: systemdUnit(ofPID: Int32(bitPattern: denial.pid)),
            allowed: denial.allowed, at: now)
        record.netns = other?.identity.description
        record.netnsName = other?.name
        return record
    }

    /// The denials read since the last call (aggregated), and which of them are not
    /// journalled yet (`takeUnjournalled` sent the others already).
    func takeDenials() -> (all: [GuardDenialRecord], unjournalled: [GuardDenialRecord]) {
        readEvents()
        defer {
            pending.removeAll()
            unjournalled.removeAll()
        }
        return (pending, unjournalled)
    }

    /// The records read and not journalled yet; they stay pending for the next cycle's
    /// daemon.json and metrics.
    func takeUnjournalled() -> [GuardDenialRecord] {
        defer { unjournalled.removeAll() }
        return unjournalled
    }

    /// The foreign writes of the keys read since the last call, oldest first.
    func takeKeyWrites() -> [SysctlWrite] {
        defer { keyWrites.removeAll() }
        return keyWrites
    }

    private func processExecutable(_ pid: Int32) -> String? {
        guard pid > 0 else { return nil }   // 0: a pid the daemon cannot see (guard.bpf.c current_pid)
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let n = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
        let fallback = holdsUnitOwners
            ? "unit: owners' ports are held while they are stopped (hold fallback); user: owners are report-only"
            : "user: and unit: owners are report-only (conflicts are reported, binds not refused)"
        return [.degraded("owner guard: \(reason); \(fallback)")]
    }
}

private extension Owner {
    var isExe: Bool {
        if case .exe = self { return true }
        return false
    }
}
