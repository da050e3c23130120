import PortwardCore
import PortwardLinux

/// The one way portward changes the kernel: read (kernel value, state file,
/// `ip_local_port_range`), plan (the pure `Planner`), commit (state, kernel, state), under
/// the target's reconcile lock so that two portward processes never plan from the same
/// kernel value. Used by `apply` and by the daemon's start, reload and drift repair. It does
/// the I/O only; every decision is the planner's.
public struct ReservationTransaction: Sendable {
    public let context: TargetContext
    public let sysctl: ReservedPortsSysctl
    public let store: StateStore

    /// A transaction on `context`'s kernel key and state file; `sysctl` defaults to the
    /// key under `context.procSys` (tests inject kernel faults through its `SysctlIO`).
    public init(context: TargetContext, sysctl: ReservedPortsSysctl? = nil) {
        self.context = context
        self.sysctl = sysctl ?? ReservedPortsSysctl(procSys: context.procSys)
        store = context.stateStore
    }

    /// A committed plan.
    public struct Committed: Sendable {
        public let plan: Plan
        /// Warnings about the inputs (a damaged state file), before the plan's own.
        public let warnings: [Diagnostic]
        /// False when the kernel already held the target value.
        public let wrote: Bool
    }

    /// Why nothing (or not everything) was committed.
    public enum Failure: Error, CustomStringConvertible {
        /// Another portward process held the reconcile lock for the whole wait.
        case busy(FileLock.Failure)
        /// `proceed` said no, under the lock (e.g. a reload is pending).
        case skipped
        /// The kernel value could not be read: nothing was planned.
        case unreadable(SysctlError, warnings: [Diagnostic])
        /// A safety rail refused the plan (its error diagnostics say why); nothing written.
        case refused(Plan, warnings: [Diagnostic])
        /// The kernel or state write failed (`SysctlError` or `StateStore.Failure`).
        case commitFailed(any Error, Plan, warnings: [Diagnostic])

        public var description: String {
            switch self {
            case .busy(let lock):
                if case .busy(let path, let waited) = lock {
                    "another portward process is changing the reservation (it has held \(path) for \(Int(waited)) s); nothing was written"
                } else { "\(lock)" }
            case .skipped: "skipped"
            case .unreadable(let error, _): "\(error)"
            case .refused(let plan, _): plan.diagnostics.first { $0.severity == .error }.map { "\($0)" } ?? "refused"
            case .commitFailed(let error, _, _): "\(error)"
            }
        }

        /// The diagnostics to show: input warnings, then the plan's (none for busy/skipped).
        public var diagnostics: [Diagnostic] {
            switch self {
            case .busy, .skipped: []
            case .unreadable(_, let warnings): warnings
            case .refused(let plan, let warnings), .commitFailed(_, let plan, let warnings): warnings + plan.diagnostics
            }
        }
    }

    /// Plans and commits `configuration` holding the reconcile lock, waiting up to `wait`
    /// seconds for it (0: give up at once). When the lock file cannot be created (no
    /// writable /run), runs without it: the reservation matters more than the
    /// serialisation, and the state-file write reports the same cause.
    ///
    /// - Parameters:
    ///   - proceed: asked first under the lock; false gives `.skipped` without reading.
    ///   - whileLocked: runs after a successful commit, still under the lock (`apply` tells
    ///     the daemon to reload there, so it cannot repair "drift" in between).
    public func run(_ configuration: Configuration, force: Bool, wait: Double,
                    proceed: () -> Bool = { true },
                    whileLocked: (Plan) -> Void = { _ in }) -> Result<Committed, Failure> {
        let lock: FileLock?
        do { lock = try context.lockReconcile(wait: wait) } catch {
            if case .busy = error { return .failure(.busy(error)) }
            lock = nil
        }
        defer { lock?.release() }
        guard proceed() else { return .failure(.skipped) }
        let plan: Plan, warnings: [Diagnostic]
        do { (plan, warnings) = try self.plan(configuration, force: force) } catch {
            return .failure(.unreadable(error, warnings: []))
        }
        if plan.isRefused { return .failure(.refused(plan, warnings: warnings)) }
        let wrote: Bool
        do { wrote = try commit(plan) } catch {
            return .failure(.commitFailed(error, plan, warnings: warnings))
        }
        whileLocked(plan)
        return .success(Committed(plan: plan, warnings: warnings, wrote: wrote))
    }

    /// Reads the kernel and the state file and computes the plan. Touches nothing, takes no
    /// lock (`check`). A damaged state file is reported in `warnings` and treated as empty
    /// (every port in the kernel is then foreign and kept). Throws `SysctlError` when the
    /// key cannot be read.
    public func plan(_ configuration: Configuration, force: Bool) throws(SysctlError) -> (plan: Plan, warnings: [Diagnostic]) {
        let current = try sysctl.read()
        var warnings: [Diagnostic] = []
        let previous: ReservationState
        do { previous = try store.load() } catch {
            warnings.append(.warning(error.description))
            previous = ReservationState()
        }
        if let pending = previous.pendingForeign, (try? ReservedPortsValue.decode(pending)) == nil {
            warnings.append(.warning("ignoring the damaged pendingForeign of state file \(store.path); no other writer's port is added back"))
        }
        let plan = Planner.plan(configuration: configuration, current: current, previous: previous,
                                localPortRange: sysctl.readLocalPortRange(), force: force)
        return (plan, warnings)
    }

    /// Writes the plan's target value (unless the kernel already holds it), verifies it,
    /// then records ownership in the state file. Returns whether the kernel was written.
    ///
    /// Order: (1) the in-flight state (old and new records), (2) the kernel, (3) the final
    /// state. A kill or a failed chunk after (1) leaves portward's possible ports recorded
    /// as its own, so the next run releases those no longer declared. If (1) cannot be
    /// saved, the kernel is written anyway (the reservation matters more than the
    /// bookkeeping) and (3) reports the error; the new ports are then merely treated as
    /// foreign later (kept, never lost). Foreign reservations go first in a multi-chunk
    /// replace (see `ReservedPortsSysctl.write`). Throws `SysctlError` or
    /// `StateStore.Failure`. Callers hold the reconcile lock (`run`).
    ///
    /// The final state also records when each owned port went into the kernel
    /// (`ReservationState.reservedSince`, `ReservationTimes`): owned ports the kernel
    /// already held keep their earlier time, the ones this write added get the time right
    /// after the write (`now`, CLOCK_REALTIME seconds). When the kernel is not written and
    /// the state file already holds the final state, it is not rewritten.
    public func commit(_ plan: Plan, now: () -> Double = { SystemClock().realtime() }) throws -> Bool {
        let wrote = !plan.isNoop
        let saved = try? store.load()
        let times = ReservationTimes(saved?.reservedSince ?? [])
        if wrote {
            var inFlight = plan.inFlightState
            inFlight.reservedSince = times.records
            try? store.save(inFlight)
            try sysctl.write(plan.target, preserving: plan.foreign)
        }
        var state = plan.state
        state.reservedSince = times.updated(kept: plan.owned.intersection(plan.current),
                                            added: plan.owned.subtracting(plan.current), at: now()).records
        // Nothing to record: the file already says it (a rescan of 1,000 namespaces would
        // otherwise rewrite 1,000 files).
        if !wrote, state == saved { return false }
        try store.save(state)
        return wrote
    }
}
