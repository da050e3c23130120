/// Everything the Prometheus textfile (`PrometheusText.render`) shows, as one value the
/// daemon fills after every poll or event. Pure data: no clock, no I/O. The metric names
/// and meanings are documented in docs/metrics.md.
public struct MetricsSnapshot: Equatable, Sendable {
    /// portward's version, the `version` label of `portward_build_info` (e.g. `0.1.0`).
    public var version: String
    /// One per declared entry and protocol, in configuration order. Must be unique by
    /// (`name`, `transport`); `render` keeps the first of duplicates.
    public var entries: [Entry]
    /// Current conflicts grouped by holder (see `ConflictHolder`), in the order they are
    /// rendered; at most `conflictSeriesLimit` of them get a series of their own.
    public var conflicts: [ConflictHolder]
    /// Counters since the daemon started (a restart resets them, which Prometheus's
    /// `rate`/`increase` handle).
    public var counters: Counters
    /// CLOCK_REALTIME seconds since the Unix epoch when the last check (poll or safety-net
    /// check) succeeded; nil before the first, and then the series is left out.
    public var lastSuccessfulCheck: Double?
    /// Whether the configuration loaded last (at start or reload) had no errors. After a
    /// broken reload the daemon keeps the previous configuration and this is false.
    public var configurationValid: Bool
    /// How the daemon sees changes.
    public var watchMode: WatchMode
    /// Network namespaces whose reserved ports the daemon manages (1: the host's only).
    public var networkNamespaces: Int
    /// Holder series past this many are folded into `portward_conflict_omitted_sockets`
    /// (per entry and protocol) and counted in `portward_conflict_omitted_holders`.
    public var conflictSeriesLimit: Int

    /// The default `conflictSeriesLimit`: enough for every real incident on one host,
    /// small enough that a storm of short-lived grabbers cannot flood the TSDB.
    public static let defaultConflictSeriesLimit = 50

    public init(version: String, entries: [Entry], conflicts: [ConflictHolder], counters: Counters = Counters(),
                lastSuccessfulCheck: Double?, configurationValid: Bool, watchMode: WatchMode,
                networkNamespaces: Int = 1, conflictSeriesLimit: Int = MetricsSnapshot.defaultConflictSeriesLimit) {
        self.version = version
        self.entries = entries
        self.conflicts = conflicts
        self.counters = counters
        self.lastSuccessfulCheck = lastSuccessfulCheck
        self.configurationValid = configurationValid
        self.watchMode = watchMode
        self.networkNamespaces = networkNamespaces
        self.conflictSeriesLimit = conflictSeriesLimit
    }

    /// A snapshot from the classifier's rows (one poll's `PortClassifier.classify` result):
    /// `entries` and `conflicts` are derived from `statuses` (`Entry.init(_:protection:)`,
    /// `ConflictHolder.grouping(_:)`); `protection` says how each row's entry is protected
    /// (`.none` until the guard of issue 12 exists).
    public init(version: String, statuses: [EntryStatus],
                protection: (EntryStatus) -> Protection = { _ in .none },
                counters: Counters = Counters(), lastSuccessfulCheck: Double?, configurationValid: Bool,
                watchMode: WatchMode, networkNamespaces: Int = 1,
                conflictSeriesLimit: Int = MetricsSnapshot.defaultConflictSeriesLimit) {
        self.init(version: version, entries: statuses.map { Entry($0, protection: protection($0)) },
                  conflicts: ConflictHolder.grouping(statuses), counters: counters,
                  lastSuccessfulCheck: lastSuccessfulCheck, configurationValid: configurationValid,
                  watchMode: watchMode, networkNamespaces: networkNamespaces,
                  conflictSeriesLimit: conflictSeriesLimit)
    }

    /// The state of one entry and protocol (`portward_entry_state{state=...}`); the raw
    /// values are the label values, as `status` prints them.
    public enum EntryState: String, CaseIterable, Hashable, Sendable {
        /// Reserved and held by the expected owner.
        case ok
        /// Reserved and not in use.
        case free
        /// A socket on a declared port is in the wrong hands.
        case conflict
        /// Some declared ports are not reserved in the kernel.
        case unreserved
        /// A holder could not be identified, so the owner is not verified.
        case unverified

        public init(_ state: EntryStatus.State) {
            switch state {
            case .ok: self = .ok
            case .free: self = .free
            case .conflict: self = .conflict
            case .unreserved: self = .unreserved
            case .unverified: self = .unverified
            }
        }
    }

    /// How an entry's ports are protected (`portward_entry_protection{protection=...}`).
    public enum Protection: String, CaseIterable, Hashable, Sendable {
        /// The eBPF bind guard lets only the owner bind the ports.
        case guarded
        /// portward holds the ports' sockets itself while the owner is not running.
        case held
        /// Reserved and watched; conflicts are reported, not prevented.
        case reportOnly = "report-only"
        /// Not protected (not even reserved, e.g. the entry could not be applied).
        case none
    }

    /// How the daemon learns of changes (`portward_watch_mode{mode=...}`).
    public enum WatchMode: String, CaseIterable, Hashable, Sendable {
        /// Kernel events (eBPF, netlink) with a slow safety-net poll.
        case events
        /// Periodic polls only.
        case polling
    }

    /// One declared entry and protocol.
    public struct Entry: Equatable, Sendable {
        /// The entry's NAME.
        public var name: String
        public var transport: TransportProtocol
        /// Declared ports, kernel notation (`1812-1813`): the `ports` label of conflicts.
        public var ports: String
        /// True when every declared port is reserved in the kernel (`partly` is false).
        public var reserved: Bool
        public var state: EntryState
        public var protection: Protection
        /// Distinct processes (by pid) holding a socket on the declared ports for this
        /// protocol, whatever their verdict; sockets whose holder is unknown count none.
        public var holders: Int

        public init(name: String, transport: TransportProtocol, ports: String, reserved: Bool,
                    state: EntryState, protection: Protection, holders: Int) {
            self.name = name
            self.transport = transport
            self.ports = ports
            self.reserved = reserved
            self.state = state
            self.protection = protection
            self.holders = holders
        }

        /// From one classifier row.
        public init(_ status: EntryStatus, protection: Protection) {
            self.init(name: status.entry.name, transport: status.transport, ports: status.entry.portsDescription,
                      reserved: status.reserved == .yes, state: EntryState(status.state), protection: protection,
                      holders: Set(status.findings.flatMap { $0.holders.map(\.pid) }).count)
        }
    }

    /// The conflicting sockets of one entry and protocol held by one kind of process: same
    /// command and unit. Pids are not a label (they churn); two processes with the same
    /// command and unit are one holder series whose value is their sockets.
    public struct ConflictHolder: Hashable, Sendable {
        public var entry: String
        public var transport: TransportProtocol
        /// The entry's declared ports, kernel notation.
        public var ports: String
        /// `/proc/PID/comm` of the socket's first holder; `""` when unknown (TIME_WAIT,
        /// not attributable).
        public var command: String
        /// The holder's systemd unit; `""` when none or unknown.
        public var unit: String
        /// Conflicting sockets (at least 1).
        public var sockets: Int

        public init(entry: String, transport: TransportProtocol, ports: String, command: String, unit: String,
                    sockets: Int) {
            self.entry = entry
            self.transport = transport
            self.ports = ports
            self.command = command
            self.unit = unit
            self.sockets = sockets
        }

        /// The conflicting findings (`verdict.isConflict`) of `statuses`, grouped by entry,
        /// protocol and first holder's command and unit (the holder `Conflict` records):
        /// rows in their order, holders of one row sorted by command, then unit.
        public static func grouping(_ statuses: [EntryStatus]) -> [ConflictHolder] {
            var result: [ConflictHolder] = []
            for status in statuses {
                var counts: [HolderKey: Int] = [:]
                for finding in status.findings where finding.verdict.isConflict {
                    let first = finding.holders.min { $0.pid < $1.pid }
                    counts[HolderKey(command: first?.command ?? "", unit: first?.unit ?? ""), default: 0] += 1
                }
                if counts.isEmpty { continue }
                let ports = status.entry.portsDescription
                for (key, sockets) in counts.sorted(by: { ($0.key.command, $0.key.unit) < ($1.key.command, $1.key.unit) }) {
                    result.append(ConflictHolder(entry: status.entry.name, transport: status.transport, ports: ports,
                                                 command: key.command, unit: key.unit, sockets: sockets))
                }
            }
            return result
        }

        private struct HolderKey: Hashable {
            let command: String
            let unit: String
        }
    }

    /// Event counts since the daemon started; each is a `_total` counter.
    public struct Counters: Equatable, Sendable {
        /// Times the daemon found declared ports missing from the kernel value and wrote
        /// them back (one per repair, however many ports).
        public var driftRepairs: UInt64
        /// bind() calls the guard denied to a non-owner.
        public var guardDenials: UInt64
        /// Conflicts first seen (a socket in the wrong hands appearing), not polls seeing them.
        public var conflictsStarted: UInt64
        /// Kernel events lost (ring buffer full, netlink overrun) and caught up by a poll.
        public var eventsDropped: UInt64
        /// Reloads whose configuration had errors (the previous one stayed in force).
        public var configurationErrors: UInt64

        public init(driftRepairs: UInt64 = 0, guardDenials: UInt64 = 0, conflictsStarted: UInt64 = 0,
                    eventsDropped: UInt64 = 0, configurationErrors: UInt64 = 0) {
            self.driftRepairs = driftRepairs
            self.guardDenials = guardDenials
            self.conflictsStarted = conflictsStarted
            self.eventsDropped = eventsDropped
            self.configurationErrors = configurationErrors
        }
    }
}
