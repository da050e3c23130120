import Glibc
import Logging
import PortwardCore

/// The daemon's watch: each `poll()` re-reads the reserved ports (repairing drift with the
/// same merge rules as apply), finds the holders of the declared ports with one filtered
/// sock_diag dump, classifies them, and reports conflicts when they start and end.
///
/// Never throws: a failing poll is logged once (MESSAGE_ID pollFailed) and retried on the
/// next call. Not thread-safe: call from the daemon's loop only.
public final class Watcher {
    public private(set) var configuration: Configuration
    private let reconciler: Reconciler
    /// The reconcile lock without waiting: when another portward process holds it (an
    /// `apply` about to write), drift repair waits for the next poll instead of blocking the
    /// loop (signals, watchdog, holder checks).
    private let repairLock: ReconcileLock
    /// Asked under the lock before a drift repair: true when a reload is already pending
    /// (`apply` sends SIGHUP while it holds the lock), so the ports "missing" from the old
    /// configuration are the new configuration's doing, not drift. Set by the daemon loop.
    public var reloadPending: () -> Bool = { false }
    private let logger: Logger
    private let force: Bool
    private let procRoot: String
    private let viewStore: DaemonViewStore
    private var lookup: HolderLookup?
    private var tracker = ConflictTracker()
    private var lastKernel: PortSet?
    private var failing: String?
    private var userIDs: [String: UInt32] = [:]
    /// The published view (also in /run/portward/daemon.json).
    public private(set) var view: DaemonView

    public init(configuration: Configuration, reconciler: Reconciler, logger: Logger, force: Bool,
                root: String, procRoot: String = "/proc", interval: Double) {
        self.configuration = configuration
        self.reconciler = reconciler
        repairLock = ReconcileLock(directory: reconciler.store.directory, timeout: 0)
        self.logger = logger
        self.force = force
        self.procRoot = procRoot
        viewStore = DaemonViewStore(root: root)
        view = DaemonView(pid: getpid(), startedAt: Clock.realtime(), interval: interval)
        resolveUsers()
    }

    /// Replaces the configuration after a successful reload; the next poll uses it.
    public func reload(_ configuration: Configuration) {
        self.configuration = configuration
        resolveUsers()
    }

    /// The one-line summary for STATUS=: "reserved 7 ports for 5 services, 1 conflict:
    /// 1645/udp held by named[812]".
    public var summary: String {
        var text = "reserved \(configuration.declaredPorts.count) ports for \(configuration.entries.count) services"
        let conflicts = tracker.sorted
        if let first = conflicts.first {
            text += ", \(conflicts.count) conflict\(conflicts.count == 1 ? "" : "s"): \(first.port)/\(first.transport.rawValue) held by \(first.holderDescription)"
            if conflicts.count > 1 { text += ", ..." }
        }
        if let failing { text += "; last check failed: \(failing)" }
        return text
    }

    /// One watch cycle. Returns true when the summary changed.
    @discardableResult
    public func poll() -> Bool {
        let before = summary
        do {
            try checkDrift()
            try checkHolders()
            if failing != nil {
                logger.notice("checks succeed again", metadata: ["MESSAGE_ID": "\(WatchEvent.Kind.pollRecovered.messageID)"])
                failing = nil
            }
            view.pollError = nil
        } catch {
            let reason = "\(error)"
            if failing == nil {
                logger.warning("check failed, retrying every \(view.interval) s: \(reason)",
                               metadata: ["MESSAGE_ID": "\(WatchEvent.Kind.pollFailed.messageID)"])
            }
            failing = reason
            view.pollError = reason
            lookup = nil  // reopen the netlink socket next time
        }
        publish()
        return summary != before
    }

    /// Re-applies the configuration under the reconcile lock. Nil when another portward
    /// process holds the lock (an `apply` about to write: look again next poll), when a
    /// reload is pending, or when a safety rail refuses the plan (logged).
    private func repairDrift() throws -> Plan? {
        do {
            return try repairLock.withLock { () throws -> Plan? in
                if reloadPending() { return nil }
                let (plan, warnings) = try reconciler.plan(configuration, force: force)
                for warning in warnings { logger.warning("\(warning)") }
                if plan.isRefused {
                    for diagnostic in plan.diagnostics where diagnostic.severity == .error {
                        logger.error("cannot restore the reservation: \(diagnostic.message)")
                    }
                    return nil
                }
                _ = try reconciler.commit(plan)
                return plan
            }
        } catch is ReconcileLock.Failure {
            return nil
        }
    }

    private func checkDrift() throws {
        let declared = configuration.declaredPorts
        var kernel = try reconciler.sysctl.read()
        let missing = declared.subtracting(kernel)
        if !missing.isEmpty {
            let repaired = try repairDrift()
            if let plan = repaired { kernel = plan.target }
            // Nothing to write means another portward process restored the ports first.
            if let plan = repaired, !plan.isNoop {
                report(WatchEvent(.driftRepaired, .warning,
                                  "net.ipv4.ip_local_reserved_ports lost declared ports \(missing) (rewritten by another writer, e.g. sysctl --system); restored",
                                  fields: ["PORTWARD_PORT": missing.description, "PORTWARD_LOST": missing.description,
                                           "PORTWARD_RESTORED": plan.added.description]))
                view.drift.append(.init(at: Clock.realtime(), lost: missing.description, restored: plan.added.description))
                if view.drift.count > DaemonView.driftHistory { view.drift.removeFirst() }
            }
        }
        if let last = lastKernel {
            let foreign = kernel.subtracting(last).subtracting(declared)
            if !foreign.isEmpty {
                report(WatchEvent(.foreignAdded, .info,
                                  "reservations \(foreign) were added by another writer; kept as theirs",
                                  fields: ["PORTWARD_PORT": foreign.description]))
            }
        }
        lastKernel = kernel
        view.reservedPorts = kernel.description
        view.declaredPorts = configuration.declaredPorts.description
    }

    private func checkHolders() throws {
        if lookup == nil { lookup = try HolderLookup(procRoot: procRoot) }
        let report = try lookup!.holders(of: configuration.declaredPorts)
        let rows = PortClassifier.classify(configuration: configuration, reserved: lastKernel ?? PortSet(),
                                           sockets: report.sockets, userIDs: userIDs)
        let now = Clock.realtime()
        let (started, ended) = tracker.update(rows, now: now)
        for conflict in started { self.report(.conflict(conflict, started: true)) }
        for conflict in ended { self.report(.conflict(conflict, started: false)) }
        view.conflicts = tracker.sorted
        view.holders = report.sockets.filter { !$0.holders.isEmpty }.map {
            DaemonView.SocketHolders(inode: $0.socket.inode, port: $0.socket.localPort,
                                     transport: $0.socket.transport, holders: $0.holders.map(Conflict.HolderInfo.init))
        }
    }

    private func publish() {
        view.lastPollAt = Clock.realtime()
        do { try viewStore.save(view) } catch {
            // Not fatal: status falls back to its own live check.
            if failing == nil { logger.debug("cannot write \(viewStore.path): \(error)") }
        }
    }

    /// Sends an event to the log with its MESSAGE_ID and fields.
    public func report(_ event: WatchEvent) {
        var metadata: Logger.Metadata = ["MESSAGE_ID": "\(event.kind.messageID)"]
        for (key, value) in event.fields { metadata[key] = "\(value)" }
        let level: Logger.Level = switch event.priority {
        case .error: .error
        case .warning: .warning
        case .notice: .notice
        case .info: .info
        }
        logger.log(level: level, "\(event.message)", metadata: metadata)
    }

    private func resolveUsers() {
        userIDs = [:]
        for entry in configuration.entries {
            if case .user(.name(let name)) = entry.owner, let uid = UserDatabase.uid(named: name) {
                userIDs[name] = uid
            }
        }
    }
}
