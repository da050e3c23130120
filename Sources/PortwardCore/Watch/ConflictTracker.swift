/// Diffs conflicts between polls so each is reported once when it starts and once when it
/// ends, not every poll.
public struct ConflictTracker: Sendable {
    /// Current conflicts by identity, with their first-seen time.
    public private(set) var current: [Conflict.Key: Conflict] = [:]

    public init() {}

    /// Feeds one poll's classification; returns the conflicts that started and ended.
    public mutating func update(_ rows: [EntryStatus], now: Double) -> (started: [Conflict], ended: [Conflict]) {
        var seen: [Conflict.Key: Conflict] = [:]
        for row in rows {
            for finding in row.findings where finding.verdict.needsReport {
                let conflict = Conflict(entry: row.entry, transport: row.transport, finding: finding, since: now)
                seen[conflict.key] = current[conflict.key] ?? conflict
            }
        }
        let started = seen.filter { current[$0.key] == nil }.values.sorted(by: Self.order)
        let ended = current.filter { seen[$0.key] == nil }.values.sorted(by: Self.order)
        current = seen
        return (started, ended)
    }

    /// Current conflicts, ordered by port, protocol and entry.
    public var sorted: [Conflict] { current.values.sorted(by: Self.order) }

    private static func order(_ a: Conflict, _ b: Conflict) -> Bool {
        (a.port, a.transport, a.entry, a.since) < (b.port, b.transport, b.entry, b.since)
    }
}
