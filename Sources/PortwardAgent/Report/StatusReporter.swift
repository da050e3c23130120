import PortwardCore
import PortwardLinux

/// Keeps the service manager's STATUS= current: sends the summary line when it changed.
final class StatusReporter: OutcomeReporter {
    private let notifier: any ServiceNotifier
    private var last: String?

    init(notifier: any ServiceNotifier) {
        self.notifier = notifier
    }

    /// Records `summary` as sent (READY=1 and the reload's READY=1 carry it).
    func sent(_ summary: String) { last = summary }

    func report(_ outcome: PollOutcome, summary: String) {
        guard summary != last else { return }
        notifier.notify(.status(summary))
        last = summary
    }
}
