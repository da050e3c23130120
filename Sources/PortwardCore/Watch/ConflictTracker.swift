/// Diffs conflicts between polls so each is reported once when it starts and once when it
/// ends, not every poll.
public struct ConflictTracker: Sendable {
    /// Current conflicts by identity, with their first-seen time.
    public private(set) var current: [Conflict.Key: Conflict] = [:]

    public init() {}

    /// Feeds one poll's classification; returns the conflicts that started and ended.
    public mutating func update(_ rows: [EntryStatus], now: Double) -> (started: [Conflict], ended: [Conflict]) {
        var seen: [Conflict.Key: Conflict] = [:]
        var started: [Conflict] = [], ended: [Conflict] = []
        for row in rows {
            for finding in row.findings where finding.verdict.needsReport {
                let conflict = Conflict(entry: row.entry, transport: row.transport, finding: finding, since: now)
                guard var known = current[conflict.key] else {
                    if seen[conflict.key] == nil { started.append(conflict) }
                    seen[conflict.key] = conflict
                    continue
                }
                if let was = known.holder?.pid, let pid = conflict.holder?.pid, was != pid {
                    // Another process has the socket now (it was passed on): a new conflict.
                    ended.append(known)
                    started.append(conflict)
                    known = conflict
                } else if known.holder == nil, conflict.holder != nil {
                    // The same socket: keep when it was first seen, and learn its holder
                    // once a poll could name it (a holder not named in every poll is one
                    // conflict, not a new one each time).
                    let since = known.since
                    known = conflict
                    known.since = since
                }
                seen[conflict.key] = known
            }
        }
        ended += current.filter { seen[$0.key] == nil }.values
        current = seen
        return (started.sorted(by: Self.order), ended.sorted(by: Self.order))
    }

    /// Current conflicts, ordered by port, protocol and entry.
    public var sorted: [Conflict] { current.values.sorted(by: Self.order) }

    private static func order(_ a: Conflict, _ b: Conflict) -> Bool {
        (a.port, a.transport, a.entry, a.since) < (b.port, b.transport, b.entry, b.since)
    }
}
