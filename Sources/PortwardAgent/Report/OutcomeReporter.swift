import PortwardCore

/// Something that consumes what the daemon saw: the journal, STATUS=, daemon.json, and
/// later metrics. Each gets every watch cycle's outcome, with the daemon's summary line
/// after it.
protocol OutcomeReporter: AnyObject {
    func report(_ outcome: PollOutcome, summary: String)
}
