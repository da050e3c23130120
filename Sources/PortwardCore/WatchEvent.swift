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

/// One socket in the wrong hands, as the watcher tracks it between polls.
public struct Conflict: Hashable, Sendable, Codable {
    public var entry: String
    public var file: String
    public var line: Int
    public var port: UInt16
    public var transport: TransportProtocol
    public var verdict: SocketFinding.Verdict
    /// The first holder (lowest pid), nil when unknown (TIME_WAIT, or not root).
    public var holder: HolderInfo?
    public var socketUID: UInt32
    public var socketState: String
    public var remote: String?
    /// CLOCK_REALTIME seconds when first seen.
    public var since: Double

    /// The identity of a conflict across polls: the same socket on the same declared port.
    public struct Key: Hashable, Sendable {
        public let entry: String
        public let port: UInt16
        public let transport: TransportProtocol
        public let socket: String
    }

    public var key: Key {
        Key(entry: entry, port: port, transport: transport,
            socket: "\(socketState) \(remote ?? "-") \(holder.map { String($0.pid) } ?? "?")")
    }

    /// Codable copy of the holder's identity.
    public struct HolderInfo: Hashable, Sendable, Codable {
        public init(pid: Int32, command: String, unit: String?, uid: UInt32) {
            self.pid = pid
            self.command = command
            self.unit = unit
            self.uid = uid
        }

        public var pid: Int32
        public var command: String
        public var unit: String?
        public var uid: UInt32
    }

    public init(entry: ServiceEntry, transport: TransportProtocol, finding: SocketFinding, since: Double) {
        self.entry = entry.name
        file = entry.location.file
        line = entry.location.line
        port = finding.socket.localPort
        self.transport = transport
        verdict = finding.verdict
        holder = finding.holders.first.map(HolderInfo.init)
        socketUID = finding.socket.uid
        socketState = finding.socket.state.description
        remote = finding.socket.remotePort == 0 ? nil : "\(finding.socket.remoteAddress):\(finding.socket.remotePort)"
        self.since = since
    }

    /// `named[812] (named.service)`, or `an unknown process (uid 0)`.
    public var holderDescription: String {
        guard let holder else {
            return socketState == "TIME_WAIT" ? "a TIME_WAIT socket" : "an unknown process (uid \(socketUID))"
        }
        return "\(holder.command)[\(holder.pid)]" + (holder.unit.map { " (\($0))" } ?? "")
    }

    /// Why it is a conflict, for messages.
    public var explanation: String {
        switch verdict {
        case .ephemeralGrab:
            "taken as the local port of a \(socketState) connection to \(remote ?? "?") by \(holderDescription), before the reservation"
        default:
            "held by \(holderDescription), not by the declared owner"
        }
    }
}

extension SocketFinding.Verdict: Codable {}

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
            for finding in row.findings where finding.verdict.isConflict {
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
