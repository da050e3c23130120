import PortwardCore
import PortwardLinux

/// Publishes the daemon's view (`DaemonView`) in daemon.json after every watch cycle, for
/// `portward status`. A failed write is not fatal: status falls back to its own live check.
final class DaemonViewPublisher: OutcomeReporter {
    private let store: DaemonViewStore
    private(set) var view: DaemonView

    init(store: DaemonViewStore, view: DaemonView) {
        self.store = store
        self.view = view
    }

    /// Records the owner guard's state (kept with its denials until the next call).
    func setGuard(unavailable: String?, entries: [String: EntryProtection], heldInodes: Set<UInt64> = []) {
        var state = view.ownerGuard ?? DaemonView.GuardView(unavailable: unavailable, entries: entries)
        state.unavailable = unavailable
        state.entries = entries
        state.heldInodes = heldInodes.isEmpty ? nil : heldInodes.sorted()
        view.ownerGuard = state
    }

    /// The watch mode the next save publishes.
    func setWatch(_ watch: DaemonView.WatchView) {
        view.watch = watch
    }

    /// Records why other network namespaces cannot be reached (nil: they can).
    func setNetns(unavailable: String?) {
        view.netnsUnavailable = unavailable
    }

    func report(_ outcome: PollOutcome, summary: String) {
        view.update(with: outcome)
        try? store.save(view)
    }
}
