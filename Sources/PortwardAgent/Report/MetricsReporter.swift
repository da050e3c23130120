import PortwardCore
import PortwardLinux

/// Keeps `portward run --metrics-file PATH` (node_exporter's textfile collector) current:
/// builds a `MetricsSnapshot` from each watch cycle's outcome and the daemon's counters,
/// and replaces the file when a value other than the last-check time changed, and at
/// least every `refresh` seconds (so its mtime, `node_textfile_mtime_seconds`, shows the
/// daemon alive without rewriting the file every second). A failed write is logged once
/// per failure series and retried on the next cycle.
final class MetricsReporter: OutcomeReporter {
    private let file: MetricsFile
    private let version: String
    private let refresh: Double
    private let log: (JournalEvent) -> Void
    private var counters = MetricsSnapshot.Counters()
    private var configurationValid = true
    private var lastSuccessfulCheck: Double?
    private var lastBody: String?
    private var lastWrite: Double = -.infinity
    private var failing = false
    /// Each entry's protection (guard, hold fallback), by entry name.
    var protections: [String: EntryProtection] = [:]
    private var watchMode = MetricsSnapshot.WatchMode.polling

    init(file: MetricsFile, version: String, refresh: Double = 30, log: @escaping (JournalEvent) -> Void) {
        self.file = file
        self.version = version
        self.refresh = refresh
        self.log = log
    }

    /// A reload kept the old configuration (errors), or applied a new one.
    func reloaded(configurationValid valid: Bool) {
        configurationValid = valid
        if !valid { counters.configurationErrors += 1 }
    }

    /// The daemon's watch mode and the ring-buffer records dropped so far (the guard's
    /// counter, which survives daemon restarts while the maps stay pinned).
    func setWatch(_ mode: MetricsSnapshot.WatchMode, droppedEvents: UInt64?) {
        watchMode = mode
        if let droppedEvents { counters.eventsDropped = droppedEvents }
    }

    func report(_ outcome: PollOutcome, summary: String) {
        if outcome.drift != nil { counters.driftRepairs += 1 }
        counters.conflictsStarted += UInt64(outcome.conflictsStarted.filter(\.verdict.isConflict).count)
        if outcome.failure == nil { lastSuccessfulCheck = outcome.at }
        var snapshot = MetricsSnapshot(version: version, statuses: outcome.statuses,
                                       protection: { [protections] status in
                                           switch protections[status.entry.name]?.state {
                                           case .guarded?: .guarded
                                           case .held?: .held
                                           case .reportOnly?, .unguarded?, nil: status.reserved == .yes ? .reportOnly : .none
                                           }
                                       },
                                       counters: counters, lastSuccessfulCheck: nil,
                                       configurationValid: configurationValid, watchMode: watchMode)
        let body = PrometheusText.render(snapshot)
        guard body != lastBody || outcome.at - lastWrite >= refresh else { return }
        snapshot.lastSuccessfulCheck = lastSuccessfulCheck
        do {
            try file.write(snapshot)
            lastBody = body
            lastWrite = outcome.at
            failing = false
        } catch {
            if !failing { log(.degraded("cannot write the metrics file \(file.path): \(error); retrying")) }
            failing = true
        }
    }
}
