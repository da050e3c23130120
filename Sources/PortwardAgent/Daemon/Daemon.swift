import Glibc
import Logging
import PortwardCore
import PortwardLinux

/// What `portward run` is told on its command line.
public struct DaemonOptions: Sendable {
    /// Apply even past the safety rail (`--force`).
    public var force: Bool
    /// Seconds between watch cycles (`--interval`).
    public var interval: Double
    /// The proc mount scanned for socket holders (`--procfs`).
    public var procRoot: String
    /// Reload when the configuration directories change (`--watch-config`).
    public var watchConfig: Bool
    /// node_exporter textfile to keep current (`--metrics-file`), nil for none.
    public var metricsFile: MetricsFile?
    /// The owner guard (`--guard`, `--no-guard`): nil is on for the root `/` and off with
    /// `--root` (the guard acts on the whole host: the cgroup root and this network namespace).
    public var ownerGuard: Bool?
    /// The hold fallback (`--hold`, `--no-hold`): nil is on for the root `/` and off with
    /// `--root` (held sockets act on this network namespace).
    public var hold: Bool?

    /// Binds and key writes as they happen, from the guard's BPF programs (`--events`,
    /// `--no-events`; docs/events.md). They come with the guard: off when it is.
    public var events: Bool
    /// Seconds between the full checks while the events are in force (`--safety-interval`):
    /// the safety net for what events cannot show. Without events, `interval` applies.
    public var safetyInterval: Double

    public init(force: Bool = false, interval: Double = 1, procRoot: String = "/proc", watchConfig: Bool = false,
                metricsFile: MetricsFile? = nil, ownerGuard: Bool? = nil, hold: Bool? = nil, events: Bool = true,
                safetyInterval: Double = 120) {
        self.hold = hold
        self.force = force
        self.interval = interval
        self.procRoot = procRoot
        self.watchConfig = watchConfig
        self.metricsFile = metricsFile
        self.ownerGuard = ownerGuard
        self.events = events
        self.safetyInterval = safetyInterval
    }

    /// Whether the hold fallback may hold ports for `context`.
    func holdEnabled(_ context: TargetContext) -> Bool { hold ?? (context.root == "/") }

    /// Whether a daemon switched off (`--no-guard`) empties the owners map a previous daemon
    /// left pinned. The pins are the host's: only a daemon for `/` does; a `--root` one
    /// (tests, image builds) never touches them.
    func clearsPinnedGuard(_ context: TargetContext) -> Bool { ownerGuard == false && context.root == "/" }

    /// Why the owner guard is off by switch for `context`, or nil when it is on.
    func guardSwitchedOff(_ context: TargetContext) -> String? {
        switch ownerGuard {
        case false?: "the guard is switched off (--no-guard)"
        case true?: nil
        case nil: context.root == "/" ? nil : "the guard is off with --root (it would act on the whole host; --guard turns it on)"
        }
    }
}

/// The daemon's dependencies, as seams: the real ones by default (`system`), fakes in tests.
public struct DaemonEnvironment {
    /// READY=1, RELOADING=1, STATUS=, STOPPING=1.
    public var notifier: any ServiceNotifier
    public var clock: any ClockSource
    /// The journal (every message is a `JournalEvent`).
    public var logger: Logger
    /// The kernel key; nil: the target's (`/proc/sys` of its namespace).
    public var sysctl: ReservedPortsSysctl?
    /// Opens the holder lookup (sock_diag + /proc); called again after a failed cycle.
    public var makeHolderLookup: () throws -> HolderLookup
    /// Reads the configuration of the target (files under its root).
    public var loadConfiguration: () -> ConfigLoader.Result
    /// The daemon's pid, for daemon.json.
    public var pid: Int32
    /// The owner guard's kernel side; nil: none (every owner entry is report-only).
    public var guardProvider: GuardProvider?
    /// Where `unit:` owners' cgroups and drop-ins are found; nil: none (unit: entries are
    /// report-only).
    public var ownerRegistry: OwnerRegistry?
    /// The hold fallback's sockets; nil: none (nothing is held).
    public var portHolder: (any PortHolder)?
    /// Finds the network namespaces on the host, for `netns=` entries (`NetnsDiscovery`);
    /// called only when some entry reaches other namespaces (or state of one is left).
    /// The argument: whether to scan processes too (false: the bind-mount folders only).
    public var discoverNamespaces: (_ includeProcesses: Bool) -> [DiscoveredNetns]
    /// Opens the key of a discovered namespace (entering it: `NetnsSysctlIO`) and reads its
    /// cookie (`NetnsSysctl.open`).
    public var openNamespace: (DiscoveredNetns) throws(NetnsError) -> NetnsKeys

    public init(notifier: any ServiceNotifier, clock: any ClockSource, logger: Logger,
                sysctl: ReservedPortsSysctl? = nil, makeHolderLookup: @escaping () throws -> HolderLookup,
                loadConfiguration: @escaping () -> ConfigLoader.Result, pid: Int32,
                guardProvider: GuardProvider? = nil, ownerRegistry: OwnerRegistry? = nil, portHolder: (any PortHolder)? = nil,
                discoverNamespaces: @escaping (_ includeProcesses: Bool) -> [DiscoveredNetns] = {
                    NetnsDiscovery(includeProcesses: $0).scan()
                },
                openNamespace: @escaping (DiscoveredNetns) throws(NetnsError) -> NetnsKeys = NetnsSysctl.open) {
        self.guardProvider = guardProvider
        self.ownerRegistry = ownerRegistry
        self.portHolder = portHolder
        self.discoverNamespaces = discoverNamespaces
        self.openNamespace = openNamespace
        self.notifier = notifier
        self.clock = clock
        self.logger = logger
        self.sysctl = sysctl
        self.makeHolderLookup = makeHolderLookup
        self.loadConfiguration = loadConfiguration
        self.pid = pid
    }

    /// The real system: sd_notify, the kernel's clocks, the journal (`JournalLogHandler`),
    /// sock_diag and `procRoot`, the configuration files under `context.root`, the BPF
    /// owner guard (`GuardProvider.system`), the namespace folders under `context.runRoot`.
    /// Namespaces held only by processes are followed (`netns=all`) unless this is a
    /// `--root` daemon that sees the host's processes (the initial pid namespace): their
    /// namespaces include the host's own and every container's, which a daemon for another
    /// root must never write. A `--root` daemon in a pid namespace of its own (a test's
    /// `unshare -p --mount-proc`) sees only its own processes and follows them.
    /// - Parameter pidNamespaceInode: the inode of this process's /proc/self/ns/pid.
    static func followsProcessNamespaces(_ context: TargetContext, pidNamespaceInode: UInt64?) -> Bool {
        context.root == "/" || (pidNamespaceInode.map { $0 != PidNamespace.initialInode } ?? false)
    }

    public static func system(_ context: TargetContext, procRoot: String) -> DaemonEnvironment {
        var st = stat()
        let processes = followsProcessNamespaces(context, pidNamespaceInode: stat("/proc/self/ns/pid", &st) == 0 ? UInt64(st.st_ino) : nil)
        return DaemonEnvironment(notifier: SystemdNotifier(), clock: SystemClock(),
                          logger: Logger(label: "portward") { _ in JournalLogHandler() },
                          makeHolderLookup: { try HolderLookup(procRoot: procRoot) },
                          loadConfiguration: { ConfigLoader(root: context.root).load() },
                          pid: getpid(), guardProvider: .system, ownerRegistry: OwnerRegistry(context), portHolder: SystemPortHolder(),
                          discoverNamespaces: {
                              NetnsDiscovery(procRoot: procRoot, runRoot: context.runRoot, includeProcesses: $0 && processes).scan()
                          })
    }
}

/// The daemon's behaviour, apart from its event loop (`DaemonLoop` drives it): the first
/// apply and READY=1, one watch cycle, a reload, the stop. Every cycle's `PollOutcome` goes
/// to the reporters: the journal, STATUS=, daemon.json.
///
/// Not thread-safe: call from the loop's thread only.
public final class Daemon {
    public let context: TargetContext
    public let options: DaemonOptions
    private let environment: DaemonEnvironment
    private let transaction: ReservationTransaction
    private let journal: JournalReporter
    private let statusLine: StatusReporter
    private let publisher: DaemonViewPublisher
    private let metrics: MetricsReporter?
    private var poller: Poller?
    private let ownerGuard: OwnerGuard
    private let holdKeeper: HoldKeeper
    /// Each entry's protection by the guard, as the last `applyGuard` found it.
    private var guardProtections: [String: EntryProtection] = [:]
    private var namespaces: NetnsFollower?

    /// Asked under the reconcile lock before a drift repair: true when a reload is already
    /// pending, so the ports "missing" from the old configuration are the new
    /// configuration's doing, not drift. The loop sets it (a pending SIGHUP).
    public var reloadPending: () -> Bool = { false }

    public init(context: TargetContext, options: DaemonOptions, environment: DaemonEnvironment) {
        self.context = context
        self.options = options
        self.environment = environment
        transaction = ReservationTransaction(context: context, sysctl: environment.sysctl)
        journal = JournalReporter(logger: environment.logger, retryInterval: options.interval)
        statusLine = StatusReporter(notifier: environment.notifier)
        ownerGuard = OwnerGuard(provider: environment.guardProvider, switchedOff: options.guardSwitchedOff(context),
                                clearWhenOff: options.clearsPinnedGuard(context),
                                clock: environment.clock,
                                holdsUnitOwners: options.holdEnabled(context) && environment.portHolder != nil,
                                events: options.events, selfPID: UInt32(bitPattern: environment.pid),
                                selfNetnsInode: NetnsFiles.identity(of: "/proc/self/ns/net")?.inode)
        if let registry = environment.ownerRegistry { ownerGuard.recordedCgroup = { registry.recorded($0) } }
        holdKeeper = HoldKeeper(holder: options.holdEnabled(context) ? environment.portHolder : nil,
                                registry: environment.ownerRegistry, procRoot: options.procRoot)
        publisher = DaemonViewPublisher(store: context.daemonViewStore,
                                        view: DaemonView(pid: environment.pid, startedAt: environment.clock.realtime(),
                                                         interval: options.interval))
        let journal = self.journal
        metrics = options.metricsFile.map { MetricsReporter(file: $0, version: PortwardVersion.current, log: journal.log) }
    }

    /// The configuration in force (empty before `start`).
    public var configuration: Configuration { poller?.configuration ?? Configuration() }

    /// The published view (also in daemon.json).
    public var view: DaemonView { publisher.view }

    /// STATUS=: "reserved 7 ports for 5 services, 1 conflict: 1645/udp held by named[812]".
    public var summary: String {
        StatusLine.text(configuration, conflicts: poller?.conflicts ?? [], failure: poller?.failure,
                        repairRefused: poller?.refusal.first?.message)
    }

    /// Called with the owner guard's event descriptor once the guard is installed (the
    /// loop watches it and calls `readGuardEvents`).
    public var watchGuardEvents: (Int32) -> Void {
        get { ownerGuard.watchEvents }
        set { ownerGuard.watchEvents = newValue }
    }

    /// Reads the guard's waiting events (docs/events.md). Denials and wrong-owner binds are
    /// journalled after `eventSettle` (a burst of one process aggregates into one line; the
    /// conflict budget applies); a bind asks for a full check within `interval`; a foreign
    /// write of the key starts the re-reads of `keyRecheckDelays`.
    public func readGuardEvents() {
        let activity = ownerGuard.readEvents()
        let now = environment.clock.monotonic()
        if activity.records > 0, !flushScheduled {
            flushScheduled = true
            requestFlush(Self.eventSettle)
        }
        if activity.binds > 0 || activity.records > 0 { requestCheck(now + options.interval) }
        checkDropped(now: now)
        if activity.keyWrites > 0 {
            keyWriters += ownerGuard.takeKeyWrites()
            if keyWriters.count > 16 { keyWriters.removeFirst(keyWriters.count - 16) }
            if recheckStartedAt == nil {
                recheckStartedAt = now
                recheckStep = 0
                requestCheck(now + Self.keyRecheckDelays[0])
            } else {
                // A series runs: its later re-reads cover this write. Restarting it would
                // give a writer in a loop one full check per write.
                lastKeyWriteAt = now
            }
        }
    }

    /// Seconds between the first record of a burst and its journal line.
    public static let eventSettle = 0.005
    /// After a foreign write of the key (the program runs before the kernel stores the
    /// value): re-read it this many seconds after the event, each a full check; a drift found
    /// meanwhile names the writer. Bounded: writes during a series do not restart it (one
    /// that came less than the first delay before its last re-read starts one more series
    /// after it), so a writer in a loop gets about one series a second.
    public static let keyRecheckDelays: [Double] = [0.001, 0.01, 0.1, 1.0]

    /// Ring-buffer records the kernel dropped: a full check catches up on what they said;
    /// one `degraded` line per `safetyInterval` at most says how many.
    private func checkDropped(now: Double) {
        guard ownerGuard.eventsInForce, let dropped = ownerGuard.droppedEvents else { return }
        defer { lastDropped = dropped }
        guard let last = lastDropped, dropped > last else { return }
        droppedUnlogged += dropped - last
        requestCheck(now + options.interval)
        if now - lastDroppedLog >= options.safetyInterval {
            log(.degraded("events: \(droppedUnlogged) ring-buffer records were dropped (buffer full); a full check catches up"))
            droppedUnlogged = 0
            lastDroppedLog = now
        }
    }

    private var lastDropped: UInt64?
    private var droppedUnlogged: UInt64 = 0
    private var lastDroppedLog = -Double.infinity
    private var flushScheduled = false
    private var keyWriters: [SysctlWrite] = []
    private var recheckStartedAt: Double?
    private var recheckStep = 0
    /// The last foreign write of the key seen while a series ran.
    private var lastKeyWriteAt: Double?

    /// Set by the loop: run the check no later than this CLOCK_MONOTONIC time.
    public var requestCheck: (_ at: Double) -> Void = { _ in }
    /// Set by the loop: call `flushEvents` after this many seconds.
    public var requestFlush: (_ after: Double) -> Void = { _ in }

    /// Journals the records read since the last flush (the event loop's settle timer).
    public func flushEvents() {
        flushScheduled = false
        let records = ownerGuard.takeUnjournalled()
        guard !records.isEmpty else { return }
        var outcome = PollOutcome(at: environment.clock.realtime(), declared: configuration.declaredPorts)
        outcome.guardDenials = records
        journal.report(outcome, summary: summary)
    }

    /// How the daemon watches now: events (a full check every `safetyInterval`) or polling
    /// (every `interval`).
    public var watchMode: DaemonView.WatchView {
        if ownerGuard.eventsInForce {
            return DaemonView.WatchView(mode: .events, reason: "binds and writes of the key are reported by the guard's BPF programs",
                                        checkInterval: options.safetyInterval, droppedEvents: ownerGuard.droppedEvents,
                                        ownerBinds: ownerGuard.ownerBinds)
        }
        return DaemonView.WatchView(mode: .polling, reason: ownerGuard.eventsUnavailable ?? "the events are not in force",
                                    checkInterval: options.interval)
    }

    /// Seconds from now to the next check the daemon wants: the check interval of its watch
    /// mode, or sooner while a key re-read series runs.
    public func nextCheckDelay() -> Double {
        let interval = ownerGuard.eventsInForce ? options.safetyInterval : options.interval
        if let started = recheckStartedAt, recheckStep < Self.keyRecheckDelays.count {
            let due = started + Self.keyRecheckDelays[recheckStep] - environment.clock.monotonic()
            return min(interval, max(0, due))
        }
        return interval
    }

    /// Each entry's protection by the owner guard, by entry name.
    public var protections: [String: EntryProtection] {
        view.ownerGuard?.entries ?? [:]
    }

    /// True when the hold fallback may hold ports (a holder, and not off by switch): the
    /// loop then opens the control socket.
    public var holdsPorts: Bool { options.holdEnabled(context) && environment.portHolder != nil }

    /// Answers a request of an owner's hook on the control socket (`HoldControlServer`):
    /// `release UNIT` closes the unit's held sockets before it answers `released N`;
    /// `hold UNIT` holds them again and answers `held N`.
    public func controlRequest(_ request: HoldControlRequest) -> String {
        let answer: String
        switch request.verb {
        case .release:
            let (count, events) = holdKeeper.release(request.unit, peerPID: request.peerPID)
            for event in events { log(event) }
            answer = "released \(count)"
        case .hold:
            let (count, events) = holdKeeper.hold(request.unit)
            for event in events { log(event) }
            answer = "held \(count)"
        }
        publishProtections()
        return answer
    }

    /// Logs a catalogue event.
    public func log(_ event: JournalEvent) { journal.log(event) }

    /// Loads the configuration and applies it, then READY=1 and the first watch cycle.
    /// Throws (after logging why) `.configurationError` when the configuration has errors,
    /// `.refused` when a safety rail refuses the plan, `.failure` when the kernel, the state
    /// file or the lock fails: nothing is reported ready then.
    public func start() throws(ExitStatus) {
        let loaded = environment.loadConfiguration()
        for diagnostic in loaded.diagnostics { log(.configuration(diagnostic)) }
        if loaded.hasErrors { throw .configurationError }
        let applied: PortSet
        switch transaction.run(loaded.configuration, force: options.force, wait: 5) {
        case .success(let committed):
            for diagnostic in committed.warnings + committed.plan.diagnostics { log(.configuration(diagnostic)) }
            applied = committed.plan.target
        case .failure(let failure):
            for diagnostic in failure.diagnostics { log(.configuration(diagnostic)) }
            if case .refused = failure { throw .refused }
            log(.startFailed("\(failure)"))
            throw .failure
        }
        // The value just written is the first cycle's baseline: a port another writer adds
        // before that cycle is still reported as theirs.
        poller = Poller(configuration: loaded.configuration, transaction: transaction, force: options.force,
                        clock: environment.clock, applied: applied, makeLookup: environment.makeHolderLookup)
        poller?.excludedInodes = { [holdKeeper] in holdKeeper.inodes }
        log(.applied(summary, declared: loaded.configuration.declaredPorts, reload: false))
        // The guard before READY: units ordered after portward.service find it in place.
        // Programs only the events want (no entry is guarded) load after READY.
        applyGuard(loaded.configuration, refreshHooks: true, deferEventsOnly: true)
        namespaces = NetnsFollower(context: context, configuration: loaded.allEntries, force: options.force,
                                   discover: environment.discoverNamespaces, open: environment.openNamespace,
                                   log: { [journal] in journal.log($0) },
                                   now: { [clock = environment.clock] in clock.monotonic() })
        // READY first: the boot path waits for it, not for the first holder scan nor for
        // the other namespaces.
        ready()
        if ownerGuard.installDeferred { applyGuard(loaded.configuration) }
        poll()
        rescanNamespaces()
    }

    /// Finds the network namespaces `netns=` entries reach and applies their entries there
    /// (`NetnsFollower.rescan`): at start, after a reload, and on the loop's rescan timer.
    /// `foldersOnly`: after an inotify event on a bind-mount folder (`NetnsFolderWatch`).
    /// The owner guard's map follows: it is rewritten when the namespaces it covers (their
    /// cookies, or the entries selecting them) changed.
    public func rescanNamespaces(foldersOnly: Bool = false) {
        guard let namespaces else { return }
        let covered = namespaces.coverageGeneration
        namespaces.rescan(foldersOnly: foldersOnly)
        metrics?.setNetworkNamespaces(1 + namespaces.managedCount, at: environment.clock.realtime())
        if namespaces.coverageGeneration != covered, let configuration = poller?.configuration { applyGuard(configuration) }
    }

    /// Starts a full rescan of the other network namespaces that the loop runs in slices
    /// (`continueNamespaceRescan`), so that a new namespace's inotify event is handled
    /// between two slices. One still in progress (more namespaces than a period can cover)
    /// is left to finish.
    public func beginNamespaceRescan() {
        guard let namespaces, !namespaces.isRescanning else { return }
        rescanCoverage = namespaces.coverageGeneration
        namespaces.beginRescan()
    }

    /// Runs the next slice (`DaemonLoop.rescanSlice` namespaces entered) of the rescan
    /// `beginNamespaceRescan` started; true when it is finished (the owner guard's map is
    /// then rewritten if the covered namespaces changed).
    public func continueNamespaceRescan() -> Bool {
        guard let namespaces else { return true }
        guard namespaces.continueRescan(limit: DaemonLoop.rescanSlice) else { return false }
        metrics?.setNetworkNamespaces(1 + namespaces.managedCount, at: environment.clock.realtime())
        if let covered = rescanCoverage, namespaces.coverageGeneration != covered,
           let configuration = poller?.configuration {
            applyGuard(configuration)
        }
        rescanCoverage = nil
        return true
    }

    /// The coverage generation when the sliced rescan began.
    private var rescanCoverage: Int?

    /// True when some entry in force reaches other network namespaces (`netns=` all or a
    /// name glob): the loop then watches the namespace bind-mount folders.
    public var followsNamespaces: Bool { namespaces?.configuration.followsNamespaces ?? false }

    /// The other namespaces the last rescan found selected by some entry.
    public var followedNamespaces: [DiscoveredNetns] { namespaces?.followed ?? [] }

    /// One watch cycle, reported.
    public func poll() {
        poll(updatingStatus: true)
    }

    /// Re-reads the configuration and re-applies it (RELOADING=1 ... READY=1). On any
    /// error keeps the running reservation and configuration and logs why.
    public func reload() {
        environment.notifier.notify(.reloading(monotonicMicroseconds: UInt64(environment.clock.monotonic() * 1e6)))
        let loaded = environment.loadConfiguration()
        for diagnostic in loaded.diagnostics { log(.configuration(diagnostic)) }
        metrics?.reloaded(configurationValid: !loaded.hasErrors)
        if loaded.hasErrors {
            log(.reloadFailed(configurationErrors: loaded.diagnostics.filter { $0.severity == .error }))
        } else {
            switch transaction.run(loaded.configuration, force: options.force, wait: 5) {
            case .success(let committed):
                for diagnostic in committed.warnings + committed.plan.diagnostics { log(.configuration(diagnostic)) }
                poller?.reload(loaded.configuration)
                applyGuard(loaded.configuration, refreshHooks: true)
                poll(updatingStatus: false)
                let guardedElsewhere = !(namespaces?.guardTargets.isEmpty ?? true)
                namespaces?.reload(loaded.allEntries)
                if guardedElsewhere || !(namespaces?.guardTargets.isEmpty ?? true) { applyGuard(loaded.configuration) }
                log(.applied(summary, declared: loaded.configuration.declaredPorts, reload: true))
            case .failure(let failure):
                for diagnostic in failure.diagnostics { log(.configuration(diagnostic)) }
                log(.reloadFailed(reason: "\(failure)"))
            }
        }
        ready()
    }

    /// STOPPING=1; the reservation stays in place; the owner guard this daemon installed
    /// or took over is detached and unpinned (kill -9 keeps it: the pins stay).
    public func stop() {
        environment.notifier.notify(.stopping)
        do {
            log(.stopping(guardDetached: try ownerGuard.detach()))
        } catch {
            log(.degraded("owner guard: cannot detach it on stop (\(error)); it stays in force"))
            log(.stopping())
        }
    }

    /// The unit owners' cgroup ids the map holds (for `checkUnitOwners`).
    private var writtenUnitCgroups: [String: UInt64] = [:]
    /// The unit owners of the last `applyGuard`, and those of them whose generator drop-in
    /// existed then.
    private var ownerUnits: [String] = []
    private var hookedUnits: Set<String> = []

    /// The safety net for a unit owner whose hook did not run or failed: when the unit's
    /// recorded cgroup directory now has another id (the unit restarted) than the map
    /// holds, the map is written again (one stat(2) per unit owner and cycle). The hook
    /// normally got there first, and then this only confirms it. Likewise when a unit's
    /// generator drop-in appeared (`systemctl daemon-reload` after the entry was added: the
    /// entry is guarded from the next check on, without a reload of portward; a few
    /// access(2) per unhooked unit owner and cycle). A drop-in that went is not acted on
    /// here: `daemon-reload` empties the generator directory and runs the generators again,
    /// and a check in that gap must not take the guard away; start and reload see it.
    private func checkUnitOwners() {
        guard let registry = environment.ownerRegistry, let configuration = poller?.configuration else { return }
        let unhooked = ownerUnits.filter { !hookedUnits.contains($0) }
        if !unhooked.isEmpty, !registry.hooked(unhooked).isEmpty {
            applyGuard(configuration)
            return
        }
        for (unit, written) in writtenUnitCgroups {
            if let now = registry.currentRecordedCgroup(unit), now != written {
                applyGuard(configuration)
                return
            }
        }
    }

    /// `refreshHooks`: the owners' drop-ins as they are now (start, reload); otherwise a
    /// unit hooked before stays hooked (see `checkUnitOwners`: `daemon-reload` removes the
    /// drop-ins for a moment). `deferEventsOnly`: see `OwnerGuard.apply`.
    private func applyGuard(_ configuration: Configuration, refreshHooks: Bool = false, deferEventsOnly: Bool = false) {
        // Other namespaces' entries (netns=) are guarded there too, with their cookies.
        let others = namespaces?.guardTargets ?? []
        var userIDs = UserDatabase.uids(of: configuration)
        var units = GuardPolicy.ownerUnits(configuration)
        for other in others {
            userIDs.merge(UserDatabase.uids(of: other.configuration)) { host, _ in host }
            units += GuardPolicy.ownerUnits(other.configuration).filter { !units.contains($0) }
        }
        var hooked = environment.ownerRegistry?.hooked(units) ?? []
        if !refreshHooks { hooked.formUnion(hookedUnits.intersection(units)) }
        ownerUnits = units
        hookedUnits = hooked
        var cgroups: [String: UInt64] = [:]
        var lock: FileLock?
        if let registry = environment.ownerRegistry, !hooked.isEmpty {
            // Held while the map is written: an owner's hook waits, then writes its newer id.
            lock = try? registry.lock()
            cgroups = registry.cgroupIDs(hooked.sorted(), procRoot: options.procRoot)
        }
        for event in ownerGuard.apply(configuration, userIDs: userIDs, hookedUnits: hooked, unitCgroups: cgroups,
                                      namespaces: others, deferEventsOnly: deferEventsOnly) { log(event) }
        lock?.release()
        writtenUnitCgroups = ownerGuard.unavailable == nil ? cgroups : [:]
        guardProtections = GuardPolicy.protections(configuration, userIDs: userIDs, unavailable: ownerGuard.unavailable,
                                                   hookedUnits: hooked)
        // The hold fallback where the guard is not in force.
        for event in holdKeeper.update(configuration, hookedUnits: hooked, unavailable: ownerGuard.unavailable) { log(event) }
        publishProtections()
    }

    /// The guard's protections, with the hold fallback's over them while it is active.
    private func publishProtections() {
        let entries = guardProtections.merging(holdKeeper.protections()) { $1 }
        publisher.setGuard(unavailable: ownerGuard.unavailable, entries: entries, heldInodes: holdKeeper.inodes)
        metrics?.protections = entries
    }

    /// Moves the key re-read series on past the steps that are due (one check covers them).
    private func advanceRecheck() {
        guard let started = recheckStartedAt else { return }
        let now = environment.clock.monotonic()
        let elapsed = now - started
        while recheckStep < Self.keyRecheckDelays.count, Self.keyRecheckDelays[recheckStep] <= elapsed + 0.0005 { recheckStep += 1 }
        guard recheckStep >= Self.keyRecheckDelays.count else { return }
        recheckStartedAt = nil
        // A write this last re-read may come too early for (the kernel stores the value
        // after the program ran): one more series, from now.
        if let last = lastKeyWriteAt, last > now - Self.keyRecheckDelays[0] - 0.0005 {
            recheckStartedAt = now
            recheckStep = 0
        }
        lastKeyWriteAt = nil
    }

    /// "systemd-sysctl[212] (systemd-sysctl.service)", "sysctl[212] uid 0".
    static func describe(_ write: SysctlWrite) -> String {
        let process = "\(write.command ?? "?")[\(write.pid)]"
        if let unit = write.unit { return "\(process) (\(unit.escapingControlCharacters))" }
        return "\(process) uid \(write.uid)"
    }

    private func ready() {
        let summary = self.summary
        environment.notifier.notify(.ready(status: summary))
        statusLine.sent(summary)
    }

    private func poll(updatingStatus: Bool) {
        guard let poller else { return }
        checkUnitOwners()
        for event in holdKeeper.check() { log(event) }
        publishProtections()
        advanceRecheck()
        var outcome = poller.poll(reloadPending: reloadPending)
        let denials = ownerGuard.takeDenials()
        outcome.guardDenials = denials.all
        if outcome.drift != nil, let writer = keyWriters.last {
            outcome.drift?.writer = Self.describe(writer)
            keyWriters.removeAll()
        }
        // The series is over: a later drift is not these writers'.
        if recheckStartedAt == nil { keyWriters.removeAll() }
        checkDropped(now: environment.clock.monotonic())
        let watch = watchMode
        publisher.setWatch(watch)
        metrics?.setWatch(watch.mode == .events ? .events : .polling, droppedEvents: watch.droppedEvents)
        metrics?.setNetworkNamespaces(1 + (namespaces?.managedCount ?? 0), at: outcome.at)
        let summary = self.summary
        var journalled = outcome
        journalled.guardDenials = denials.unjournalled
        journal.report(journalled, summary: summary)
        publisher.setNetns(unavailable: namespaces?.unavailable)
        publisher.report(outcome, summary: summary)
        metrics?.report(outcome, summary: summary)
        if updatingStatus { statusLine.report(outcome, summary: summary) }
    }
}
