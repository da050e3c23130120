/// The catalogue of what `portward run` writes to the journal: every message has a kind
/// with a fixed MESSAGE_ID (an sd-id128, usable as `journalctl MESSAGE_ID=...`; one row
/// each in docs/journal-events.md, checked by a test), a syslog priority, a human message,
/// and structured fields. The daemon logs nothing that is not built here.
public struct JournalEvent: Hashable, Sendable {
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
        /// Declared ports are missing and the repair was refused (a safety rail).
        case repairRefused = "7248dbd7290c4620b5ee3b849b630209"
        /// A diagnostic about the configuration or the plan (error, warning or note), with
        /// CONFIG_FILE, CONFIG_LINE and CONFIG_COLUMN, as systemd's `log_syntax()`.
        case configurationDiagnostic = "265eebfc7c684999a3cba5eb1471d013"
        /// The daemon stops (SIGTERM, SIGINT); the reservation stays in place, the owner
        /// guard is detached.
        case stopping = "f5a9fb41e9974ae08ec72aa34e1d9cb9"
        /// A capability is unavailable and the daemon runs without it (no lock against a
        /// second daemon, no --watch-config watch).
        case degraded = "fa13cf34bf1742bc8b5a0030ad182614"
        /// The daemon could not start (the first apply failed, another daemon runs); it
        /// exits non-zero without READY=1.
        case startFailed = "bf0a53b994d64b299e8dd5ee91acaa75"
        /// A refused repair is possible again (the safety rail no longer trips).
        case repairRecovered = "9f9766afcbbc463187ed631b1a34771e"
        /// Conflict events were left out to bound the journal (a flood); counted here once
        /// per period.
        case eventsSuppressed = "9ddcda13d7f14cd282850aafddc90bb5"
        /// The owner guard refused a bind to a guarded port (the process got EADDRINUSE),
        /// or saw one to a report-only port; aggregated per process, port and protocol.
        case guardDenied = "d0f1bb41287246d99a82b05ffa9aea84"
        /// The owner guard is in force (installed, or the pinned programs taken over) and
        /// its entries were written: logged at start-up and when a reload changes them.
        case guardActive = "f0d7cc82e3d64e8983c437c4956b8275"
        /// The daemon wrote the reservation of another network namespace that `netns=`
        /// entries select (a namespace found by a rescan, a reload, or a repair of that
        /// namespace's key), with PORTWARD_NETNS (the inode) and PORTWARD_NETNS_NAME.
        case netnsApplied = "60c1604aa15d4d66ac28f312d8050136"
        /// Applying in another network namespace failed (other than the namespace going
        /// away, which is not logged); retried at the next rescan, logged once per namespace
        /// until it succeeds.
        case netnsFailed = "2f227765ff834047948d733637c66f81"
        /// The hold fallback (the guard unavailable) holds a `unit:` owner's ports while it
        /// is not running: at start-up, after its stop hook, or when it is seen stopped.
        case portsHeld = "b3c9e0a4a0f34e0c9d0d1f7a52e6c1d8"
        /// The hold fallback released a unit's held sockets: to its start hook (the hook
        /// returned after this), or because the unit runs, or the ports are no longer held.
        case portsReleased = "5a7e2f0c3b9d4e61a8f4c2d1e0b7a936"
        /// The hold fallback cannot hold a declared port (someone else has it bound);
        /// tried again every check, logged once until it is held.
        case holdFailed = "e4d81c6f92a54b7fb03e6a9d2c15f870"

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
    /// CONFIG_LINE, CONFIG_COLUMN, PORTWARD_LOST, PORTWARD_RESTORED, PORTWARD_ERRORS,
    /// PORTWARD_NETNS, PORTWARD_NETNS_NAME.
    /// Keys are journal field names.
    public let fields: [String: String]

    private init(_ kind: Kind, _ priority: Priority, _ message: String, fields: [String: String] = [:]) {
        self.kind = kind
        self.priority = priority
        self.message = message
        self.fields = fields
    }

    /// The start or end of a conflict on one socket.
    public static func conflict(_ conflict: Conflict, started: Bool) -> JournalEvent {
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
            return JournalEvent(.conflictStarted, .warning, "\(conflict.verdict == .unattributed ? "unverified" : "conflict"): \(what) \(conflict.explanation)", fields: fields)
        }
        return JournalEvent(.conflictEnded, .info, "port \(what) is free of the conflict again (was \(conflict.holderDescription))", fields: fields)
    }
}

extension JournalEvent {
    /// The reservation was applied at start-up (`applied: SUMMARY`) or after a reload
    /// (`reloaded: SUMMARY`).
    public static func applied(_ summary: String, declared: PortSet, reload: Bool) -> JournalEvent {
        JournalEvent(.applied, .info, "\(reload ? "reloaded" : "applied"): \(summary)",
                     fields: ["PORTWARD_PORT": declared.description])
    }

    /// Declared ports were missing from the kernel value and were written back. With the
    /// writer known (events, docs/events.md): "systemd-sysctl[212] (systemd-sysctl.service)
    /// dropped 873 from net.ipv4.ip_local_reserved_ports; restored", field PORTWARD_WRITER.
    public static func driftRepaired(_ repair: PollOutcome.DriftRepair) -> JournalEvent {
        var fields = ["PORTWARD_PORT": repair.lost.description, "PORTWARD_LOST": repair.lost.description,
                      "PORTWARD_RESTORED": repair.restored.description]
        if let writer = repair.writer {
            fields["PORTWARD_WRITER"] = writer
            return JournalEvent(.driftRepaired, .warning,
                                "\(writer.escapingControlCharacters) dropped \(repair.lost) from net.ipv4.ip_local_reserved_ports; restored",
                                fields: fields)
        }
        return JournalEvent(.driftRepaired, .warning,
                            "net.ipv4.ip_local_reserved_ports lost declared ports \(repair.lost) (rewritten by another writer, e.g. sysctl --system); restored",
                            fields: fields)
    }

    /// Another writer added reservations.
    public static func foreignAdded(_ ports: PortSet) -> JournalEvent {
        JournalEvent(.foreignAdded, .info, "reservations \(ports) were added by another writer; kept as theirs",
                     fields: ["PORTWARD_PORT": ports.description])
    }

    /// A reload found configuration errors: `errors` (at least one) are the error
    /// diagnostics; the first one's location becomes CONFIG_FILE/LINE/COLUMN.
    public static func reloadFailed(configurationErrors errors: [Diagnostic]) -> JournalEvent {
        var fields = ["PORTWARD_ERRORS": String(errors.count)]
        if let first = errors.first {
            fields.merge(locationFields(first.location)) { $1 }
        }
        return JournalEvent(.reloadFailed, .error,
                            "reload failed, keeping the running reservation: \(errors.first.map { "\($0)" } ?? "configuration error")",
                            fields: fields)
    }

    /// A reload's apply failed (kernel, state file, lock, safety rail) for `reason`.
    public static func reloadFailed(reason: String) -> JournalEvent {
        JournalEvent(.reloadFailed, .error, "reload failed, keeping the running reservation: \(reason)")
    }

    /// The daemon cannot start for `reason`.
    public static func startFailed(_ reason: String) -> JournalEvent {
        JournalEvent(.startFailed, .error, reason)
    }

    /// The first failing check after successful ones; retried every `retryInterval` s.
    public static func pollFailed(_ reason: String, retryInterval: Double) -> JournalEvent {
        JournalEvent(.pollFailed, .warning, "check failed, retrying every \(retryInterval) s: \(reason)")
    }

    /// Checks succeed again.
    public static func pollRecovered() -> JournalEvent {
        JournalEvent(.pollRecovered, .notice, "checks succeed again")
    }

    /// A safety rail refused the repair of missing declared ports.
    public static func repairRefused(_ error: Diagnostic) -> JournalEvent {
        JournalEvent(.repairRefused, .error, "cannot restore the reservation: \(error.message)",
                     fields: locationFields(error.location))
    }

    /// A configuration or plan diagnostic: the message is `FILE:LINE:COLUMN: severity:
    /// message`, as on the terminal; errors at priority 3, warnings 4, notes 5.
    public static func configuration(_ diagnostic: Diagnostic) -> JournalEvent {
        let priority: Priority = switch diagnostic.severity {
        case .error: .error
        case .warning: .warning
        case .note: .notice
        }
        return JournalEvent(.configurationDiagnostic, priority, "\(diagnostic)", fields: locationFields(diagnostic.location))
    }

    /// The refused repair went through: the safety rail no longer trips.
    public static func repairRecovered() -> JournalEvent {
        JournalEvent(.repairRecovered, .notice, "the reservation can be restored again")
    }

    /// The start or end of a group of conflicts (one holder, one entry and protocol): a
    /// group of one is `conflict(_:started:)`; a larger one names the count, the ports
    /// (PORTWARD_PORT in kernel notation, PORTWARD_COUNT) and the first few.
    public static func conflicts(_ group: ConflictGroup, started: Bool) -> JournalEvent {
        let first = group.first
        guard group.conflicts.count > 1 else { return conflict(first, started: started) }
        var event = conflict(first, started: started)
        let ports = group.ports
        let shown = ports.ranges.prefix(5).map(\.description).joined(separator: ",") + (ports.ranges.count > 5 ? ",..." : "")
        let what = "\(group.conflicts.count) sockets on \(ports.count) ports \(shown)/\(first.transport.rawValue) (\(first.entry))"
        var fields = event.fields
        fields["PORTWARD_PORT"] = ports.description
        fields["PORTWARD_COUNT"] = String(group.conflicts.count)
        let message = started
            ? "conflict: \(what) \(first.explanation)"
            : "\(what) are free of the conflict again (were held by \(first.holderDescription))"
        event = JournalEvent(event.kind, event.priority, message, fields: fields)
        return event
    }

    /// `count` more drift repairs within `seconds` after the one reported. `writers`: who
    /// wrote the key before them, where known (events), the first few; `moreWriters`: how
    /// many others. The message then ends "...; written by systemd-sysctl[212]
    /// (systemd-sysctl.service) and 2 others", and PORTWARD_WRITER has the named ones,
    /// separated by ", ".
    public static func driftRepairedAgain(_ count: Int, lost: PortSet, restored: PortSet, seconds: Double,
                                          writers: [String] = [], moreWriters: Int = 0) -> JournalEvent {
        var fields = ["PORTWARD_PORT": lost.description, "PORTWARD_LOST": lost.description,
                      "PORTWARD_RESTORED": restored.description, "PORTWARD_COUNT": String(count)]
        var message = "net.ipv4.ip_local_reserved_ports lost declared ports \(count) more \(count == 1 ? "time" : "times") in the last \(Int(seconds)) s (\(lost)); restored each time"
        if !writers.isEmpty {
            fields["PORTWARD_WRITER"] = writers.joined(separator: ", ")
            message += "; written by " + writers.map(\.escapingControlCharacters).joined(separator: ", ")
            if moreWriters > 0 { message += " and \(moreWriters) \(moreWriters == 1 ? "other" : "others")" }
        }
        return JournalEvent(.driftRepaired, .warning, message, fields: fields)
    }

    /// `count` conflict events were not logged within `seconds`.
    public static func eventsSuppressed(_ count: Int, seconds: Double) -> JournalEvent {
        JournalEvent(.eventsSuppressed, .warning,
                     "\(count) more conflict \(count == 1 ? "event was" : "events were") not logged in the last \(Int(seconds)) s (rate limit); portward status shows every current conflict",
                     fields: ["PORTWARD_COUNT": String(count)])
    }

    /// A bind the owner guard refused (`record.allowed`: saw, on a report-only map entry).
    /// Fields: PORTWARD_ENTRY (when declared), PORTWARD_PORT, PORTWARD_PROTOCOL,
    /// PORTWARD_HOLDER_PID, PORTWARD_HOLDER_COMM, PORTWARD_HOLDER_UID, PORTWARD_HOLDER_UNIT,
    /// PORTWARD_COUNT, PORTWARD_VERDICT (`denied` or `reported`), PORTWARD_NETNS and
    /// PORTWARD_NETNS_NAME (a bind in another network namespace).
    public static func guardDenied(_ record: GuardDenialRecord) -> JournalEvent {
        var fields: [String: String] = [
            "PORTWARD_PORT": String(record.port),
            "PORTWARD_PROTOCOL": record.transport.rawValue,
            "PORTWARD_HOLDER_PID": String(record.pid),
            "PORTWARD_HOLDER_UID": String(record.uid),
            "PORTWARD_COUNT": String(record.count),
            "PORTWARD_VERDICT": record.allowed ? "reported" : "denied",
        ]
        if let entry = record.entry { fields["PORTWARD_ENTRY"] = entry }
        if let command = record.command { fields["PORTWARD_HOLDER_COMM"] = command }
        if let unit = record.unit { fields["PORTWARD_HOLDER_UNIT"] = unit }
        if let netns = record.netns { fields["PORTWARD_NETNS"] = netns }
        if let name = record.netnsName { fields["PORTWARD_NETNS_NAME"] = name }
        let process = "pid \(record.pid == 0 ? "?" : String(record.pid)) (\((record.command ?? "?").escapingControlCharacters)) uid \(record.uid)"
            + (record.unit.map { " unit \($0.escapingControlCharacters)" } ?? "")
        let what = "\(record.port)/\(record.transport.rawValue)" + (record.entry.map { " (\($0))" } ?? "")
            + (record.netns.map { " in network namespace \($0)" + (record.netnsName.map { " \($0.escapingControlCharacters)" } ?? "") } ?? "")
        let times = record.count == 1 ? "" : " \(record.count) times"
        let message = record.allowed
            ? "guard: \(process) bound the report-only port \(what)\(times)"
            : "guard: denied \(what) to \(process)\(times) (EADDRINUSE)"
        return JournalEvent(.guardDenied, .warning, message, fields: fields)
    }

    /// The owner guard is in force for `entries` (names) on `ports`; `tookOver`: the
    /// programs a previous daemon pinned were kept.
    public static func guardActive(entries: [String], ports: PortSet, tookOver: Bool) -> JournalEvent {
        let list = entries.isEmpty ? "no entries" : entries.joined(separator: ", ")
        return JournalEvent(.guardActive, .info,
                            "owner guard in force for \(list)" + (tookOver ? " (took over the pinned programs)" : ""),
                            fields: ["PORTWARD_PORT": ports.description, "PORTWARD_ENTRY": entries.joined(separator: ",")])
    }

    /// The reservation of network namespace `netns` (`net:[INODE]`, shown with `name`: an
    /// `ip netns` name or the path it was reached by) now holds `added` (and the ports it
    /// already held): `restored` when they had been there before (a repair).
    /// `name` comes from a file name (another user's, in `/run/user/UID/netns`): its control
    /// characters are escaped in the message.
    public static func netnsApplied(_ netns: NetnsIdentity, name: String, added: PortSet, repair: Bool) -> JournalEvent {
        let name = name.escapingControlCharacters
        return JournalEvent(.netnsApplied, repair ? .warning : .info,
                     repair
                        ? "network namespace \(netns) \(name) lost declared ports \(added); restored"
                        : "network namespace \(netns) \(name): reserved \(added)",
                     fields: ["PORTWARD_NETNS": String(netns.inode), "PORTWARD_NETNS_NAME": name,
                              "PORTWARD_PORT": added.description])
    }

    /// `count` more namespaces were written in one rescan than were logged one by one.
    public static func netnsAppliedMore(_ count: Int) -> JournalEvent {
        JournalEvent(.netnsApplied, .info,
                     "\(count) more network \(count == 1 ? "namespace" : "namespaces") reserved in this rescan (not logged one by one)",
                     fields: ["PORTWARD_COUNT": String(count)])
    }

    /// `count` network namespace lines (applied, failed) of the last period were not logged:
    /// over the budget of `budget` a period (a user making namespaces one by one).
    public static func netnsLinesSuppressed(_ count: Int, budget: Int) -> JournalEvent {
        JournalEvent(.netnsApplied, .info,
                     "\(count) more network namespace \(count == 1 ? "line was" : "lines were") not logged in the last minute (over the budget of \(budget) a minute)",
                     fields: ["PORTWARD_COUNT": String(count)])
    }

    /// Applying in network namespace `netns` failed for `reason`.
    public static func netnsFailed(_ netns: NetnsIdentity, name: String, reason: String) -> JournalEvent {
        let name = name.escapingControlCharacters
        return JournalEvent(.netnsFailed, .warning,
                     "network namespace \(netns) \(name): cannot apply the reservation, retrying at the next rescan: \(reason.escapingControlCharacters)",
                     fields: ["PORTWARD_NETNS": String(netns.inode), "PORTWARD_NETNS_NAME": name])
    }

    /// The hold fallback holds `sockets` sockets of `unit`'s entries now (`why`: after its
    /// stop hook, or when it was seen stopped; nil at start-up or a reload).
    public static func portsHeld(unit: String, entries: [String], sockets: Int, why: String?) -> JournalEvent {
        JournalEvent(.portsHeld, .info,
                     "hold fallback: holding \(sockets) \(sockets == 1 ? "socket" : "sockets") of \(entries.joined(separator: ", ")) for \(unit) while it is not running" +
                        (why.map { " (\($0))" } ?? ""),
                     fields: ["PORTWARD_ENTRY": entries.joined(separator: ","), "PORTWARD_UNIT": unit, "PORTWARD_COUNT": String(sockets)])
    }

    /// The hold fallback closed `sockets` held sockets of `unit` (`why`: "its start hook"...).
    public static func portsReleased(unit: String, sockets: Int, why: String) -> JournalEvent {
        JournalEvent(.portsReleased, .info,
                     "hold fallback: released \(sockets) \(sockets == 1 ? "socket" : "sockets") to \(unit) (\(why))",
                     fields: ["PORTWARD_UNIT": unit, "PORTWARD_COUNT": String(sockets)])
    }

    /// The hold fallback cannot hold `target` (`reason`: "in use by another socket (EADDRINUSE)").
    public static func holdFailed(_ target: HoldTarget, reason: String) -> JournalEvent {
        JournalEvent(.holdFailed, .warning,
                     "hold fallback: cannot hold \(target) (\(target.entry)) for \(target.unit): \(reason); tried again every check",
                     fields: ["PORTWARD_ENTRY": target.entry, "PORTWARD_PORT": String(target.port),
                              "PORTWARD_PROTOCOL": target.transport.rawValue, "PORTWARD_UNIT": target.unit])
    }

    /// `count` more ports could not be held in the same check than were logged one by one.
    public static func holdFailedMore(_ count: Int) -> JournalEvent {
        JournalEvent(.holdFailed, .warning, "hold fallback: \(count) more ports cannot be held (not logged one by one)",
                     fields: ["PORTWARD_COUNT": String(count)])
    }

    /// The daemon stops; the reservation stays. `guardDetached`: the number of owner guard
    /// programs detached on the way out (nil: the daemon had no guard).
    public static func stopping(guardDetached: Int? = nil) -> JournalEvent {
        JournalEvent(.stopping, .info, "stopping; the reservation stays in place" +
                     (guardDetached.map { "; the owner guard is detached (\($0) programs)" } ?? ""))
    }

    /// The daemon runs without a capability; `message` says which and why.
    public static func degraded(_ message: String) -> JournalEvent {
        JournalEvent(.degraded, .warning, message)
    }

    /// The events one watch cycle gives, in the order it met them: repair warnings,
    /// refused repair, drift, foreign additions, conflicts started, conflicts ended, guard
    /// denials (aggregated per process, port and protocol), then
    /// the cycle's failure (the first of a series) or recovery.
    public static func events(for outcome: PollOutcome, retryInterval: Double) -> [JournalEvent] {
        var events: [JournalEvent] = []
        events += outcome.repairWarnings.map(JournalEvent.configuration)
        if outcome.repairRefusedStarted { events += outcome.repairRefused.map(JournalEvent.repairRefused) }
        if outcome.repairRecovered { events.append(.repairRecovered()) }
        if let drift = outcome.drift { events.append(.driftRepaired(drift)) }
        if !outcome.foreignAdded.isEmpty { events.append(.foreignAdded(outcome.foreignAdded)) }
        events += ConflictGroup.group(outcome.conflictsStarted).map { .conflicts($0, started: true) }
        events += ConflictGroup.group(outcome.conflictsEnded).map { .conflicts($0, started: false) }
        events += GuardDenialRecord.aggregate(outcome.guardDenials).map(JournalEvent.guardDenied)
        if outcome.recovered { events.append(.pollRecovered()) }
        if let failure = outcome.failure, outcome.failureStarted {
            events.append(.pollFailed(failure, retryInterval: retryInterval))
        }
        return events
    }

    private static func locationFields(_ location: SourceLocation?) -> [String: String] {
        guard let location else { return [:] }
        return ["CONFIG_FILE": location.file, "CONFIG_LINE": String(location.line), "CONFIG_COLUMN": String(location.column)]
    }
}
