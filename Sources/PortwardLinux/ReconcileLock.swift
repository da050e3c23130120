import Glibc

/// The exclusive lock that serialises read-plan-write of `ip_local_reserved_ports` between
/// portward processes (`apply`, the daemon's drift repair and reload): `flock(2)` on
/// `/run/portward/lock` (under `--root`). Without it, two of them could plan from the same
/// kernel value and the later write would drop the earlier one's ports, or they could both
/// rewrite the state file.
///
/// Writers other than portward (systemd-sysctl, sysctl -w) do not take it; the daemon's
/// drift repair covers them.
public struct ReconcileLock: Sendable {
    /// Absolute path of the lock file, including the root prefix.
    public let path: String
    /// How long `withLock` waits for another holder, in seconds.
    public let timeout: Int

    /// The lock file `lock` in `directory` (the state file's directory, `/run/portward`
    /// under `--root`); `timeout` in seconds.
    public init(directory: String, timeout: Int = 5) {
        path = directory + "/lock"
        self.timeout = timeout
    }

    /// Runs `body` holding the lock. Waits up to `timeout` seconds for another portward
    /// process to release it, then throws `Failure.busy`. When the lock file cannot be
    /// created (read-only or missing /run, no permission), `body` runs without it: the
    /// reservation matters more than the serialisation, and the state-file write that
    /// follows reports the same cause.
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        try? FileContents.makeDirectories(String(path[..<path.lastIndex(of: "/")!]))
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return try body() }
        defer { close(fd) }   // closing the last descriptor releases the lock
        let deadline = Clock.monotonic() + Double(timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            guard error == EWOULDBLOCK || error == EINTR else { return try body() }
            guard Clock.monotonic() < deadline else { throw Failure.busy(path: path, seconds: timeout) }
            usleep(10_000)
        }
        return try body()
    }

    public enum Failure: Error, CustomStringConvertible {
        /// Another portward process held the lock for the whole timeout.
        case busy(path: String, seconds: Int)

        public var description: String {
            switch self {
            case .busy(let path, let seconds):
                "another portward process is changing the reservation (it has held \(path) for \(seconds) s); nothing was written"
            }
        }
    }
}
