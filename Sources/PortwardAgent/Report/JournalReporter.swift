import Logging
import PortwardCore

/// Writes catalogue events (`JournalEvent`) to the journal through swift-log (the
/// `JournalLogHandler` in production: sd_journal_sendv, or stderr without journald), with
/// MESSAGE_ID, PRIORITY and the event's fields.
final class JournalReporter: OutcomeReporter {
    private let logger: Logger
    private let retryInterval: Double
    private var throttle = EventThrottle()

    init(logger: Logger, retryInterval: Double) {
        self.logger = logger
        self.retryInterval = retryInterval
    }

    /// The cycle's events, bounded by the `EventThrottle` (a flood by another user costs
    /// at most 22 lines per minute).
    func report(_ outcome: PollOutcome, summary: String) {
        let events = JournalEvent.events(for: outcome, retryInterval: retryInterval)
        for event in throttle.admit(events, now: outcome.at) { log(event) }
    }

    /// Sends one event.
    func log(_ event: JournalEvent) {
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
}
