import Glibc
import PortwardCore
import PortwardLinux

/// The running daemon as `status` sees it, from /run/portward/daemon.json.
struct DaemonStatus {
    let view: DaemonView?

    /// The view's pid exists (signal 0 succeeds, or fails with EPERM for another user).
    var isRunning: Bool {
        guard let view else { return false }
        return kill(view.pid, 0) == 0 || errno == EPERM
    }

    /// "daemon: running (pid 812) since 2026-11-29 08:12:14 UTC, last check 0.4 s ago".
    var summary: String {
        guard let view, isRunning else { return "daemon: not running" }
        var text = "daemon: running (pid \(view.pid)) since \(Clock.format(view.startedAt))"
        if let last = view.lastPollAt {
            let age = max(0, Clock.realtime() - last)
            text += ", last check \(age < 10 ? String(Double(Int(age * 10)) / 10) : String(Int(age))) s ago"
        }
        if let error = view.pollError { text += " (failed: \(error))" }
        if let drift = view.drift.last {
            text += "; last drift repair \(Clock.format(drift.at)): restored \(drift.restored)"
        }
        return text
    }

    /// Sends SIGHUP to the running daemon, so that it reloads the configuration. Only to a
    /// pid that is still a `portward run` (`/proc/PID/comm` and `cmdline`): a stale view's
    /// pid may now belong to another program, for which SIGHUP could be fatal. Returns what
    /// happened, or nil when no daemon runs.
    func askToReload() -> ReloadRequest? {
        guard let view, isRunning, Self.isPortwardRun(view.pid) else { return nil }
        if kill(view.pid, SIGHUP) == 0 { return .sent(pid: view.pid) }
        return .failed(pid: view.pid, reason: String(cString: strerror(errno)))
    }

    enum ReloadRequest {
        case sent(pid: Int32)
        case failed(pid: Int32, reason: String)
    }

    private static func isPortwardRun(_ pid: Int32) -> Bool {
        guard let comm = try? FileContents.read("/proc/\(pid)/comm"),
              String(decoding: comm, as: UTF8.self) == "portward\n",
              let cmdline = try? FileContents.read("/proc/\(pid)/cmdline") else { return false }
        return cmdline.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "run" }
    }

    /// Sockets whose holders we could not read get the daemon's attribution (same inode).
    func attribute(_ sockets: [HeldSocket]) -> [HeldSocket] {
        guard let view, isRunning, !view.holders.isEmpty else { return sockets }
        var byInode: [UInt64: [Holder]] = [:]
        for entry in view.holders { byInode[entry.inode] = entry.holders.map(\.holder) }
        return sockets.map { held in
            guard held.holders.isEmpty, held.socket.inode != 0, let holders = byInode[held.socket.inode] else { return held }
            return HeldSocket(socket: held.socket, holders: holders)
        }
    }
}
