/// The daemon's decisions about the kernel value between two looks at it: drift (declared
/// ports another writer removed, e.g. `sysctl --system` replacing the whole key) and ports
/// another writer added. Pure; the daemon reads the kernel and acts on the answer.
public enum Drift {
    /// What to do about the kernel value just read.
    public enum Action: Hashable, Sendable {
        /// Every declared port is in the kernel.
        case none
        /// `missing` declared ports are gone: plan and commit the configuration again.
        case repair(missing: PortSet)
        /// Ports are missing, but a reload is already pending (`apply` sends SIGHUP while it
        /// holds the lock): the "missing" ports are the new configuration's doing, and a
        /// repair with the old one would undo it. The reload comes first.
        case awaitReload(missing: PortSet)
    }

    /// The action for `kernel` (the value now) against `declared`.
    public static func action(declared: PortSet, kernel: PortSet, reloadPending: Bool) -> Action {
        let missing = declared.subtracting(kernel)
        if missing.isEmpty { return .none }
        return reloadPending ? .awaitReload(missing: missing) : .repair(missing: missing)
    }

    /// Ports that appeared in the kernel since `previous` (the value at the last look; nil
    /// at the first) and that are not declared: another writer's reservations, kept as
    /// theirs and reported once.
    public static func foreignAdded(previous: PortSet?, kernel: PortSet, declared: PortSet) -> PortSet {
        guard let previous else { return PortSet() }
        return kernel.subtracting(previous).subtracting(declared)
    }
}
