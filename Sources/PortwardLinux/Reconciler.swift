import PortwardCore

/// One pass of config → plan → kernel → state, shared by `apply`, `run`, reload and drift
/// repair. Holds no configuration of its own: callers pass the validated configuration.
public struct Reconciler: Sendable {
    public let sysctl: ReservedPortsSysctl
    public let store: StateStore
    /// Held by callers around `plan` + `commit`, so that two portward processes never plan
    /// from the same kernel value.
    public let lock: ReconcileLock

    public init(root: String = "/", procSys: String = "/proc/sys") {
        sysctl = ReservedPortsSysctl(procSys: procSys)
        store = StateStore(root: root)
        lock = ReconcileLock(directory: store.directory)
    }

    /// A reconciler over the given adapters (tests inject faults through `sysctl`'s `SysctlIO`).
    public init(sysctl: ReservedPortsSysctl, store: StateStore) {
        self.sysctl = sysctl
        self.store = store
        lock = ReconcileLock(directory: store.directory)
    }

    /// Reads the kernel and the state file and computes the plan. Touches nothing.
    /// A damaged state file is reported in `warnings` and treated as empty (every port in
    /// the kernel is then foreign and kept). Throws `SysctlError` when the key cannot be read.
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

    /// Writes the plan's target value (unless the kernel already holds it), verifies it, then
    /// records ownership in the state file. Returns whether the kernel was written.
    ///
    /// Order: (1) the in-flight state (old and new records), (2) the kernel, (3) the final
    /// state. A kill or a failed chunk after (1) leaves portward's possible ports recorded
    /// as its own, so the next run releases those no longer declared. If (1) cannot be saved,
    /// the kernel is written anyway (the reservation matters more than the bookkeeping) and
    /// (3) reports the error; the new ports are then merely treated as foreign later (kept,
    /// never lost). Foreign reservations go first in a multi-chunk replace (see
    /// `ReservedPortsSysctl.write`). Throws `SysctlError` or `StateStore.Failure`.
    public func commit(_ plan: Plan) throws -> Bool {
        let wrote = !plan.isNoop
        if wrote {
            try? store.save(plan.inFlightState)
            try sysctl.write(plan.target, preserving: plan.foreign)
        }
        try store.save(plan.state)
        return wrote
    }
}
