import PortwardCore
import PortwardLinux

/// Each entry's protection by the owner guard as `status` and `check` show it.
public enum GuardReport {
    /// The guard's owners map as pinned under /sys/fs/bpf/portward (readable by root), with
    /// this process's network namespace cookie; nil when it cannot be read.
    public static func pinnedEntries() -> (entries: [GuardKey: GuardOwner], netnsCookie: UInt64)? {
        guard let pinned = try? BPFGuard.openPinned(), let entries = try? pinned.entries(),
              let cookie = try? NetnsCookie.current() else { return nil }
        return (entries, cookie)
    }

    /// By entry name: the running daemon's view of its guard when it has one; without a
    /// running daemon, the pinned map (`pinned`, root only: a killed daemon's guard stays in
    /// force) or "the daemon is not running".
    /// - Parameter hookedUnits: the `unit:` owners whose generator drop-in is in place.
    public static func protections(_ configuration: Configuration, daemon: DaemonProbe,
                                   pinned: (entries: [GuardKey: GuardOwner], netnsCookie: UInt64)?,
                                   hookedUnits: Set<String> = []) -> [String: EntryProtection] {
        let userIDs = UserDatabase.uids(of: configuration)
        if daemon.isRunning, let view = daemon.view?.ownerGuard {
            var result = GuardPolicy.protections(configuration, userIDs: userIDs, unavailable: view.unavailable,
                                                 hookedUnits: hookedUnits)
            result.merge(view.entries) { $1 }
            return result
        }
        let notRunning = "the daemon is not running"
        var result = GuardPolicy.protections(configuration, userIDs: userIDs, unavailable: notRunning, hookedUnits: hookedUnits)
        guard let pinned else { return result }
        for rule in GuardPolicy.rules(configuration, userIDs: userIDs, hookedUnits: hookedUnits) where !rule.reportOnly {
            guard let first = rule.ranges.first?.lower else { continue }
            let key = GuardKey(netnsCookie: pinned.netnsCookie, transport: rule.transport, port: first)
            let held: Bool = switch rule.owner {
            case .uid(let uid): pinned.entries[key]?.uid == uid
            case .unit: pinned.entries[key]?.cgroupID != nil
            }
            if held {
                result[rule.entry] = EntryProtection(.guarded, reason: "\(notRunning); its pinned guard stays in force")
            }
        }
        return result
    }

    /// The GUARD column: `guarded`, `held`, `report-only`, `-`.
    static func cell(_ protection: EntryProtection?) -> String {
        switch protection?.state {
        case .guarded?: "guarded"
        case .held?: "held"
        case .reportOnly?: "report-only"
        case .unguarded?, nil: "-"
        }
    }

    /// One line per owner entry that is not guarded, in configuration order:
    /// `report-only: radius: unit: owners are not guarded yet`.
    static func reasons(_ configuration: Configuration, _ protections: [String: EntryProtection]) -> String {
        var text = ""
        for entry in configuration.entries {
            guard let p = protections[entry.name] else { continue }
            if p.state == .reportOnly {
                text += "report-only: \(entry.name): \(p.reason ?? "not guarded")\n"
            } else if p.state == .held {
                text += "held: \(entry.name): " + (p.reason ?? "the daemon holds its ports while the owner is not running") + "\n"
            }
        }
        return text
    }

    /// The daemon's most recent denials, newest last (at most `limit`):
    /// `denied: 7001/tcp (svc) to pid 1635 (python3) uid 4243 at 2026-12-01 11:40:02 UTC`;
    /// a bind in another network namespace adds `in network namespace net:[INODE] NAME`.
    static func denials(_ daemon: DaemonProbe, limit: Int = 5) -> String {
        guard daemon.isRunning, let view = daemon.view?.ownerGuard else { return "" }
        return view.denials.suffix(limit).map { d in
            let process = "pid \(d.pid == 0 ? "?" : String(d.pid)) (\(d.command ?? "?")) uid \(d.uid)" + (d.unit.map { " \($0)" } ?? "")
            let what = "\(d.port)/\(d.transport.rawValue)" + (d.entry.map { " (\($0))" } ?? "")
                + (d.netns.map { " in network namespace \($0)" + (d.netnsName.map { " \($0.escapingControlCharacters)" } ?? "") } ?? "")
            let times = d.count == 1 ? "" : " \(d.count) times"
            return "\(d.allowed ? "reported" : "denied"): \(what) to \(process.escapingControlCharacters)\(times), last at \(SystemClock.format(d.at))\n"
        }.joined()
    }

    /// The watch mode line, and the owners' most recent binds the events showed:
    /// `watch: events (binds and writes of the key are reported by the guard's BPF programs); full check every 120s`,
    /// `watch: polling every 1 s: the events are switched off (--no-events)`,
    /// `bound: rsync 873/tcp by rsync.service (rsync[812]) at 2026-12-01 11:40:02 UTC, 3 s after the daemon started`.
    static func watch(_ daemon: DaemonProbe) -> String {
        guard daemon.isRunning, let view = daemon.view, let watch = view.watch else { return "" }
        var text: String
        switch watch.mode {
        case .events:
            text = "watch: events (\(watch.reason)); full check every \(Interval(seconds: watch.checkInterval))"
            if let dropped = watch.droppedEvents, dropped > 0 { text += "; \(dropped) events dropped (ring buffer full)" }
        case .polling:
            text = "watch: polling every \(Interval(seconds: watch.checkInterval)): \(watch.reason.escapingControlCharacters)"
        }
        text += "\n"
        for (entry, bind) in watch.ownerBinds.sorted(by: { $0.key < $1.key }) {
            let after = max(0, Int((bind.at - view.startedAt).rounded()))
            text += "bound: \(entry.escapingControlCharacters) \(bind.port)/\(bind.transport.rawValue) by \(bind.holderDescription)"
                + " at \(SystemClock.format(bind.at)), \(after) s after the daemon started\n"
        }
        return text
    }
}
