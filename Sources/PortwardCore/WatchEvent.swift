/// The events `portward run` reports, each with a fixed journal MESSAGE_ID (an sd-id128,
/// usable as `journalctl MESSAGE_ID=...`; catalogued in docs/journal-events.md), a syslog
/// priority, a human message, and structured fields.
public struct WatchEvent: Hashable, Sendable {
    /// An event kind and its MESSAGE_ID.
    public enum Kind: String, CaseIterable, Hashable, Sendable {
        /// The reservation was applied (start-up or reload).
        case applied = "6e1ebdaf87a14322acfe405643ed1046"
        /// A declared port is held by the wrong process or grabbed as an ephemeral port.
        case conflictStarted = "e562e6ddc60c4493ad1810a89f43fe43"
        /// That conflict is over: the port is free or held by its owner.
        case conflictEnded = "737b33c3af3f4f9d8995d3bb02550c37"
        /// Declared ports were missing from the kernel value (someone rewrote it) and were
        /// restored.
        case driftRepaired = "a6ef985732c844b184124b10740eeb80"
        /// Someone else added reservations; portward keeps them as foreign.
        case foreignAdded = "3c56be0b422849bc85586ba0bf3f6c26"
        /// A reload (SIGHUP or a configuration change) failed; the running reservation is kept.
        case reloadFailed = "9d66d4fa78c043e9be8a295d5d2b695f"
        /// A poll failed (netlink, /proc, sysctl); retried next interval. Logged once.
        case pollFailed = "361a25252d2e42c286a8b151de6f1bfc"
        /// Polls succeed again after a failure.
        case pollRecovered = "4049e5ee8d45494b8deea5d2756572f6"

        /// MESSAGE_ID value: 32 lowercase hex digits.
        public var messageID: String { rawValue }
    }

    /// syslog(3) priorities used by the journal's PRIORITY= field.
    public enum Priority: Int, Hashable, Sendable {
        case error = 3, warning = 4, notice = 5, info = 6
    }

    public let kind: Kind
    public let priority: Priority
    public let message: String
    /// Journal fields besides MESSAGE, MESSAGE_ID and PRIORITY: PORTWARD_ENTRY,
    /// PORTWARD_PORT, PORTWARD_PROTOCOL, PORTWARD_HOLDER_PID, PORTWARD_HOLDER_COMM,
    /// PORTWARD_HOLDER_UNIT, PORTWARD_HOLDER_UID, PORTWARD_VERDICT, CONFIG_FILE,
    /// CONFIG_LINE, PORTWARD_LOST, PORTWARD_RESTORED. Keys are journal field names.
    public let fields: [String: String]

    public init(_ kind: Kind, _ priority: Priority, _ message: String, fields: [String: String] = [:]) {
        self.kind = kind
        self.priority = priority
        self.message = message
        self.fields = fields
    }

    /// The start or end of a conflict on one socket.
    public static func conflict(_ conflict: Conflict, started: Bool) -> WatchEvent {
        var fields: [String: String] = [
            "PORTWARD_ENTRY": conflict.entry,
            "PORTWARD_PORT": String(conflict.port),
            "PORTWARD_PROTOCOL": conflict.transport.rawValue,
            "PORTWARD_VERDICT": conflict.verdict.rawValue,
            "CONFIG_FILE": conflict.file,
            "CONFIG_LINE": String(conflict.line),
        ]
        if let holder = conflict.holder {
            fields["PORTWARD_HOLDER_PID"] = String(holder.pid)
            fields["PORTWARD_HOLDER_COMM"] = holder.command
            fields["PORTWARD_HOLDER_UID"] = String(holder.uid)
            if let unit = holder.unit { fields["PORTWARD_HOLDER_UNIT"] = unit }
        } else {
            fields["PORTWARD_HOLDER_UID"] = String(conflict.socketUID)
        }
        let what = "\(conflict.port)/\(conflict.transport.rawValue) (\(conflict.entry))"
        if started {
            return WatchEvent(.conflictStarted, .warning, "conflict: \(what) \(conflict.explanation)", fields: fields)
        }
        return WatchEvent(.conflictEnded, .info, "port \(what) is free of the conflict again (was \(conflict.holderDescription))", fields: fields)
    }
}
