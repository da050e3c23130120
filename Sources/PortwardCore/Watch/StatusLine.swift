/// The daemon's one-line summary for STATUS= (`systemctl status portward`) and the
/// `applied:` journal event: "reserved 7 ports for 5 services, 1 conflict: 1645/udp held
/// by named[812]", with "; cannot restore the reservation: REASON" while a safety rail
/// refuses the drift repair, and "; last check failed: REASON" while checks fail.
public enum StatusLine {
    /// - Parameters:
    ///   - configuration: the configuration in force (counts only).
    ///   - conflicts: the current conflicts, ordered (`ConflictTracker.sorted`).
    ///   - failure: the last cycle's error, nil when it succeeded.
    ///   - repairRefused: why missing declared ports cannot be restored, nil when they can.
    public static func text(_ configuration: Configuration, conflicts: [Conflict], failure: String?,
                            repairRefused: String? = nil) -> String {
        var text = applied(configuration)
        let real = conflicts.filter(\.verdict.isConflict)
        if let first = real.first {
            text += ", \(real.count) conflict\(real.count == 1 ? "" : "s"): \(first.port)/\(first.transport.rawValue) held by \(first.holderDescription)"
            if real.count > 1 { text += ", ..." }
        }
        let unverified = conflicts.count - real.count
        if unverified > 0 {
            text += ", \(unverified) unverified (holder unknown)"
        }
        if let repairRefused { text += "; cannot restore the reservation: \(repairRefused)" }
        if let failure { text += "; last check failed: \(failure)" }
        return text
    }

    /// "reserved N ports for M services" (also `apply`'s summary).
    public static func applied(_ configuration: Configuration) -> String {
        "reserved \(configuration.declaredPorts.count) ports for \(configuration.entries.count) services"
    }
}
