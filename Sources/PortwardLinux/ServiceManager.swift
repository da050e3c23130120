import CSystemd
import Glibc

/// Messages to the service manager over $NOTIFY_SOCKET (libsystemd `sd_notify`, see
/// sd_notify(3)). Without NOTIFY_SOCKET (not started by systemd) every call is a no-op.
public enum ServiceManager {
    /// Sends `READY=1` and a `STATUS=` line.
    public static func ready(status: String) {
        send("READY=1\nSTATUS=\(status)")
    }

    /// Sends `RELOADING=1` with `MONOTONIC_USEC=` (CLOCK_MONOTONIC, microseconds), as
    /// Type=notify-reload requires and Type=notify accepts.
    public static func reloading() {
        send("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds())")
    }

    /// Sends `STOPPING=1`.
    public static func stopping() { send("STOPPING=1") }

    /// Sends a `STATUS=` line (shown by `systemctl status`).
    public static func status(_ text: String) { send("STATUS=\(text)") }

    /// Sends `WATCHDOG=1`.
    public static func watchdog() { send("WATCHDOG=1") }

    /// The watchdog interval from $WATCHDOG_USEC/$WATCHDOG_PID in microseconds, or nil.
    public static func watchdogInterval() -> UInt64? {
        var usec: UInt64 = 0
        return sd_watchdog_enabled(0, &usec) > 0 ? usec : nil
    }

    /// Sends raw `KEY=VALUE` lines. Returns libsystemd's result (> 0 sent, 0 no socket,
    /// < 0 negative errno); callers can ignore it, as systemd-sysctl does.
    @discardableResult
    public static func send(_ message: String) -> Int32 {
        sd_notify(0, message)
    }

    private static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }
}
