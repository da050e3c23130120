import PortwardCore
import PortwardLinux

/// One watch cycle of the daemon, as a value: re-reads the reserved ports, repairs drift
/// through the `ReservationTransaction` (without waiting for the lock: when an `apply` holds
/// it, the next cycle looks again), finds the holders of the declared ports with one
/// filtered sock_diag dump, classifies them, and diffs the conflicts against the previous
/// cycle. Reports nothing itself: the `PollOutcome` goes to the reporters.
///
/// Not thread-safe: call from the daemon's loop only.
final class Poller {
    private(set) var configuration: Configuration
    private let transaction: ReservationTransaction
    private let force: Bool
    private let clock: any ClockSource
    private let makeLookup: () throws -> HolderLookup
    private var lookup: HolderLookup?
    private var tracker = ConflictTracker()
    private var lastKernel: PortSet?
    private var lastHolders: [DaemonView.SocketHolders] = []
    private var lastStatuses: [EntryStatus] = []
    private var userIDs: [String: UInt32] = [:]
    /// The error of the last cycle, nil when it succeeded.
    private(set) var failure: String?
    /// Socket inodes the watch skips: the daemon's own held sockets (`HoldKeeper.inodes`).
    var excludedInodes: () -> Set<UInt64> = { [] }
    /// Why the last drift repair was refused (the safety rail's errors); empty when none.
    private(set) var refusal: [Diagnostic] = []

    /// - Parameters:
    ///   - makeLookup: opens the holder lookup (sock_diag socket); called again after a
    ///     failing cycle, so a broken netlink socket is replaced.
    ///   - applied: the kernel value the start-up apply left (the baseline against which
    ///     the first cycle tells other writers' additions apart); nil when unknown.
    init(configuration: Configuration, transaction: ReservationTransaction, force: Bool,
         clock: any ClockSource, applied: PortSet? = nil, makeLookup: @escaping () throws -> HolderLookup) {
        self.configuration = configuration
        lastKernel = applied
        self.transaction = transaction
        self.force = force
        self.clock = clock
        self.makeLookup = makeLookup
        resolveUsers()
    }

    /// Replaces the configuration after a successful reload; the next cycle uses it.
    func reload(_ configuration: Configuration) {
        self.configuration = configuration
        resolveUsers()
    }

    /// The current conflicts, ordered.
    var conflicts: [Conflict] { tracker.sorted }

    /// One cycle. `reloadPending` is asked under the reconcile lock before a drift repair.
    func poll(reloadPending: () -> Bool) -> PollOutcome {
        var outcome = PollOutcome(at: 0, declared: configuration.declaredPorts)
        do {
            try checkDrift(&outcome, reloadPending: reloadPending)
            try checkHolders(&outcome)
            outcome.recovered = failure != nil
            failure = nil
        } catch {
            outcome.failure = "\(error)"
            outcome.failureStarted = failure == nil
            failure = outcome.failure
            lookup = nil  // reopen the netlink socket next time
        }
        outcome.conflicts = tracker.sorted
        outcome.holders = lastHolders
        outcome.statuses = lastStatuses
        outcome.at = clock.realtime()
        return outcome
    }

    private func checkDrift(_ outcome: inout PollOutcome, reloadPending: () -> Bool) throws {
        // Known this cycle unless the repair did not run (lock busy, reload pending).
        var refusal: [Diagnostic]? = []
        defer {
            if let refusal, refusal != self.refusal {
                outcome.repairRefusedStarted = !refusal.isEmpty
                outcome.repairRecovered = refusal.isEmpty
                self.refusal = refusal
            }
            outcome.repairRefused = self.refusal
        }
        let declared = configuration.declaredPorts
        var kernel = try transaction.sysctl.read()
        if case .repair(let missing) = Drift.action(declared: declared, kernel: kernel, reloadPending: false) {
            // Asked again under the lock: `apply` sends SIGHUP while it holds it.
            let stillDrift = {
                if case .repair = Drift.action(declared: declared, kernel: kernel, reloadPending: reloadPending()) { return true }
                return false
            }
            switch transaction.run(configuration, force: force, wait: 0, proceed: stillDrift) {
            case .success(let committed):
                outcome.repairWarnings = committed.warnings
                kernel = committed.plan.target
                // Nothing to write means another portward process restored the ports first.
                if committed.wrote {
                    outcome.drift = .init(lost: missing, restored: committed.plan.added)
                }
            case .failure(.refused(let plan, let warnings)):
                outcome.repairWarnings = warnings
                refusal = plan.diagnostics.filter { $0.severity == .error }
            case .failure(.busy), .failure(.skipped):
                refusal = nil
            case .failure(.unreadable(let error, _)):
                refusal = nil
                throw error
            case .failure(.commitFailed(let error, _, let warnings)):
                refusal = nil
                outcome.repairWarnings = warnings
                throw error
            }
        }
        outcome.foreignAdded = Drift.foreignAdded(previous: lastKernel, kernel: kernel, declared: declared)
        lastKernel = kernel
        outcome.reserved = kernel
    }

    private func checkHolders(_ outcome: inout PollOutcome) throws {
        if lookup == nil { lookup = try makeLookup() }
        // The hold fallback's own sockets are protection, not conflicts: dropped before
        // their holders are looked up (thousands of them for a large range).
        let report = try lookup!.holders(of: configuration.declaredPorts, excluding: excludedInodes())
        // Reservation times only matter for a connected socket on a declared port.
        let times = report.sockets.contains { !$0.socket.isListening }
            ? ReservationTimes((try? transaction.store.load())?.reservedSince ?? []) : ReservationTimes()
        let rows = PortClassifier.classify(configuration: configuration, reserved: lastKernel ?? PortSet(),
                                           sockets: report.sockets, userIDs: userIDs, reservationTimes: times)
        lastStatuses = rows
        let (started, ended) = tracker.update(rows, now: clock.realtime())
        outcome.conflictsStarted = started
        outcome.conflictsEnded = ended
        lastHolders = report.sockets.filter { !$0.holders.isEmpty }.map {
            DaemonView.SocketHolders(inode: $0.socket.inode, port: $0.socket.localPort,
                                     transport: $0.socket.transport, holders: $0.holders.map(Conflict.HolderInfo.init))
        }
    }

    private func resolveUsers() {
        userIDs = UserDatabase.uids(of: configuration)
    }
}
