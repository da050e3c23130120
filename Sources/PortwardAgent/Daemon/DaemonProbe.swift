import Glibc
import PortwardCore
import PortwardLinux

/// The running daemon as `status` and `apply` see it: whether one runs (its lifetime lock,
/// `TargetContext.isDaemonRunning`) and what it published in daemon.json.
public struct DaemonProbe {
    /// The published view; nil when there is none or it cannot be used.
    public let view: DaemonView?
    /// True while a daemon holds the target's lifetime lock.
    public let isRunning: Bool
    private let clock: any ClockSource

    public init(view: DaemonView?, isRunning: Bool, clock: any ClockSource = SystemClock()) {
        self.view = view
        self.isRunning = isRunning
        self.clock = clock
    }

    /// Probes `context`: the lock, then daemon.json.
    public init(_ context: TargetContext) {
        self.init(view: context.daemonViewStore.load(), isRunning: context.isDaemonRunning)
    }

    /// The view, when a daemon runs.
    private var running: DaemonView? { isRunning ? view : nil }

    /// "daemon: running (pid 812) since 2026-11-29 08:12:14 UTC, last check 0.4 s ago".
    public var summary: String {
        guard let view = running else { return "daemon: not running" }
        var text = "daemon: running (pid \(view.pid)) since \(SystemClock.format(view.startedAt))"
        if let last = view.lastPollAt {
            let age = max(0, clock.realtime() - last)
            text += ", last check \(age < 10 ? String(Double(Int(age * 10)) / 10) : String(Int(age))) s ago"
        }
        if let error = view.pollError { text += " (failed: \(error))" }
        if let refused = view.repairRefused { text += "; cannot restore the reservation: \(refused)" }
        if let drift = view.drift.last {
            text += "; last drift repair \(SystemClock.format(drift.at)): restored \(drift.restored)"
        }
        return text
    }

    /// What `askToReload` did.
    public enum ReloadRequest: Equatable {
        case sent(pid: Int32)
        case failed(pid: Int32, reason: String)
    }

    /// Sends SIGHUP to the running daemon, so that it reloads the configuration. Only to a
    /// pid that is still a `portward run` (`/proc/PID/comm` and `cmdline`): a view written
    /// by an earlier daemon may name a pid that now belongs to another program, for which
    /// SIGHUP could be fatal. Nil when no daemon runs.
    public func askToReload() -> ReloadRequest? {
        guard let view = running, Self.isPortwardRun(view.pid) else { return nil }
        if kill(view.pid, SIGHUP) == 0 { return .sent(pid: view.pid) }
        return .failed(pid: view.pid, reason: String(cString: strerror(errno)))
    }

    private static func isPortwardRun(_ pid: Int32) -> Bool {
        guard let comm = try? FileContents.read("/proc/\(pid)/comm"),
              String(decoding: comm, as: UTF8.self) == "portward\n",
              let cmdline = try? FileContents.read("/proc/\(pid)/cmdline") else { return false }
        return cmdline.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "run" }
    }

    /// Sockets whose holders we could not read get the daemon's attribution (same inode).
    /// `sockets` without the running daemon's own held sockets (the hold fallback's: they
    /// protect the declared ports, they are not conflicts).
    public func withoutHeld(_ sockets: [HeldSocket]) -> [HeldSocket] {
        guard let held = running?.ownerGuard?.heldInodes, !held.isEmpty else { return sockets }
        let set = Set(held)
        return sockets.filter { !set.contains($0.socket.inode) }
    }

    public func attribute(_ sockets: [HeldSocket]) -> [HeldSocket] {
        guard let view = running, !view.holders.isEmpty else { return sockets }
        var byInode: [UInt64: [Holder]] = [:]
        for entry in view.holders { byInode[entry.inode] = entry.holders.map(\.holder) }
        return sockets.map { held in
            guard held.holders.isEmpty, held.socket.inode != 0, let holders = byInode[held.socket.inode] else { return held }
            // The daemon scanned as root: its answer is complete.
            return HeldSocket(socket: held.socket, holders: holders, attribution: .complete)
        }
    }
}
