import CSystemd
import Glibc

/// A message to the service manager (sd_notify(3)).
public enum ServiceNotification: Hashable, Sendable {
    /// `READY=1` with a `STATUS=` line.
    case ready(status: String)
    /// `RELOADING=1` with `MONOTONIC_USEC=` (CLOCK_MONOTONIC, microseconds), as
    /// Type=notify-reload requires and Type=notify accepts.
    case reloading(monotonicMicroseconds: UInt64)
    /// `STOPPING=1`.
    case stopping
    /// A `STATUS=` line (shown by `systemctl status`).
    case status(String)

    /// The datagram: `KEY=VALUE` lines.
    public var message: String {
        switch self {
        case .ready(let status): "READY=1\nSTATUS=\(status)"
        case .reloading(let usec): "RELOADING=1\nMONOTONIC_USEC=\(usec)"
        case .stopping: "STOPPING=1"
        case .status(let text): "STATUS=\(text)"
        }
    }
}

/// Where the daemon's notifications go: `SystemdNotifier` in production, a recorder in
/// tests.
public protocol ServiceNotifier: AnyObject {
    func notify(_ notification: ServiceNotification)
}

/// Notifications over $NOTIFY_SOCKET (libsystemd `sd_notify`). Without NOTIFY_SOCKET (not
/// started by systemd) every call is a no-op; errors are ignored, as systemd-sysctl does.
/// WATCHDOG=1 is sent by the event loop itself (`EventLoop.enableWatchdog`).
public final class SystemdNotifier: ServiceNotifier {
    public init() {}

    public func notify(_ notification: ServiceNotification) {
        sd_notify(0, notification.message)
    }
}
