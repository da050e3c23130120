/// Bounds what the daemon writes to the journal per minute, whatever other users do, so
/// that its own alerts still get through (and journald's per-unit rate limit, 10,000
/// messages per 30 s by default, is never what drops them).
///
/// Per `period` (60 s):
/// - conflict events (started and ended, already grouped per holder) and guard denials
///   (aggregated per process and port): together at most
///   `conflictBudget`; the rest are counted and summed up in one `eventsSuppressed` event
///   at the end of the period;
/// - drift repairs: the first is reported, later ones within the period are counted and
///   summed up in one event at its end, which names the writers seen (events), the first
///   `writerLimit` of them;
/// - every other event passes: start, reload, failures and refused repairs change state at
///   most once per cause, and other writers' additions need root (CAP_NET_ADMIN) anyway.
/// So a flood by another user costs at most `conflictBudget` + 2 lines per minute.
///
/// Pure: the caller passes the time (CLOCK_REALTIME seconds) and emits what it returns.
public struct EventThrottle: Sendable {
    public let period: Double
    public let conflictBudget: Int

    private var windowStart: Double?
    private var conflictsSent = 0
    private var conflictsSuppressed = 0
    private var driftSent = false
    private var drift: (count: Int, lost: PortSet, restored: PortSet) = (0, PortSet(), PortSet())
    /// The distinct writers of the summed-up repairs (PORTWARD_WRITER), in order, at most
    /// `writerLimit`; and how many more there were.
    private var driftWriters: [String] = []
    private var driftWritersOmitted = 0

    /// The most writers a drift summary names.
    public static let writerLimit = 3

    public init(period: Double = 60, conflictBudget: Int = 20) {
        self.period = period
        self.conflictBudget = conflictBudget
    }

    /// The events to send now out of `events` (met at `now`), with the summaries of a
    /// period that has ended first.
    public mutating func admit(_ events: [JournalEvent], now: Double) -> [JournalEvent] {
        var out = flush(now: now)
        for event in events {
            switch event.kind {
            case .conflictStarted, .conflictEnded, .guardDenied:
                if conflictsSent < conflictBudget {
                    conflictsSent += 1
                    out.append(event)
                } else {
                    conflictsSuppressed += 1
                }
            case .driftRepaired:
                if !driftSent {
                    driftSent = true
                    out.append(event)
                } else {
                    drift.count += 1
                    drift.lost.formUnion(event.ports("PORTWARD_LOST"))
                    drift.restored.formUnion(event.ports("PORTWARD_RESTORED"))
                    if let writer = event.fields["PORTWARD_WRITER"], !driftWriters.contains(writer) {
                        if driftWriters.count < Self.writerLimit { driftWriters.append(writer) } else { driftWritersOmitted += 1 }
                    }
                }
            default:
                out.append(event)
            }
        }
        return out
    }

    /// The summaries of the period, if it has ended at `now` (and a new period starts).
    /// Call it on every watch cycle, with or without events.
    public mutating func flush(now: Double) -> [JournalEvent] {
        guard let start = windowStart else {
            windowStart = now
            return []
        }
        guard now - start >= period else { return [] }
        var out: [JournalEvent] = []
        if drift.count > 0 {
            out.append(.driftRepairedAgain(drift.count, lost: drift.lost, restored: drift.restored, seconds: period,
                                           writers: driftWriters, moreWriters: driftWritersOmitted))
        }
        if conflictsSuppressed > 0 {
            out.append(.eventsSuppressed(conflictsSuppressed, seconds: period))
        }
        windowStart = now
        conflictsSent = 0
        conflictsSuppressed = 0
        driftSent = drift.count > 0   // a series still running: the next period sums up too
        drift = (0, PortSet(), PortSet())
        driftWriters = []
        driftWritersOmitted = 0
        return out
    }
}

extension JournalEvent {
    /// The ports of a field in kernel notation (empty when absent or malformed).
    func ports(_ field: String) -> PortSet {
        fields[field].flatMap { try? ReservedPortsValue.decode($0) } ?? PortSet()
    }
}
