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
    /// Network namespaces whose reserved ports the daemon manages: its own plus the other
    /// namespaces it follows and could open (`netns=` entries).
    private var networkNamespaces = 1
    /// The last snapshot written, for a change between cycles (`setNetworkNamespaces`).
    private var lastSnapshot: MetricsSnapshot?

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

    /// The namespaces managed changed (a rescan found or lost some): rewrites the file with
    /// the last cycle's values and the new count, without waiting for the next cycle (with
    /// events in force that may be a `--safety-interval` away).
    func setNetworkNamespaces(_ count: Int, at now: Double) {
        guard count != networkNamespaces else { return }
        networkNamespaces = count
        guard var snapshot = lastSnapshot else { return }
        snapshot.networkNamespaces = count
        var compared = snapshot
        compared.lastSuccessfulCheck = nil
        write(snapshot, body: PrometheusText.render(compared), at: now)
    }

    func report(_ outcome: PollOutcome, summary: String) {
        if outcome.drift != nil { counters.driftRepairs += 1 }
        counters.conflictsStarted += UInt64(outcome.conflictsStarted.filter(\.verdict.isConflict).count)
        // Refused binds, counted before aggregation (as status's `denied`); a report-only
        // entry's binds were let through, they are no denial.
        counters.guardDenials += UInt64(outcome.guardDenials.filter { !$0.allowed }.reduce(0) { $0 + $1.count })
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
                                       configurationValid: configurationValid, watchMode: watchMode,
                                       networkNamespaces: networkNamespaces)
        let body = PrometheusText.render(snapshot)
        guard body != lastBody || outcome.at - lastWrite >= refresh else { return }
        snapshot.lastSuccessfulCheck = lastSuccessfulCheck
        write(snapshot, body: body, at: outcome.at)
    }

    /// `body`: the snapshot rendered without the last-check time (what a change is judged by).
    private func write(_ snapshot: MetricsSnapshot, body: String, at now: Double) {
        lastSnapshot = snapshot
        do {
            try file.write(snapshot)
            lastBody = body
            lastWrite = now
            failing = false
        } catch {
            if !failing { log(.degraded("cannot write the metrics file \(file.path): \(error); retrying")) }
            failing = true
        }
    }
}
