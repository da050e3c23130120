import Glibc

/// An exclusive `flock(2)` lock on a file, held until the `FileLock` is released or
/// deinitialised (or the process exits or is killed: the lock belongs to the open file).
///
/// One type for both of portward's locks (paths in `TargetContext`): the reconcile lock
/// around plan + commit (`/run/portward/lock`, waited for) and the daemon's lifetime lock
/// (`/run/portward/daemon.lock`). flock(2), so that `flock(1)` in a script (and an older
/// portward) takes the same lock. `isHeld(_:)` asks by taking a shared lock for an instant;
/// a daemon starting at that very moment therefore waits briefly (`acquire`'s `wait`)
/// instead of taking the probe for another daemon.
public final class FileLock {
    /// The lock file's path.
    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { release() }

    /// Releases the lock (closing the file). Idempotent.
    public func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    /// Why a lock was not taken.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// Another process holds it (and `wait` was 0, or ran out).
        case busy(path: String, waited: Double)
        /// The lock file cannot be created or opened, or the lock call failed otherwise
        /// (read-only or missing /run, no permission).
        case unavailable(path: String, reason: String)

        public var description: String {
            switch self {
            case .busy(let path, let waited):
                waited > 0 ? "\(path) has been held by another process for \(Self.seconds(waited)) s"
                    : "\(path) is held by another process"
            case .unavailable(let path, let reason): "cannot lock \(path): \(reason)"
            }
        }

        private static func seconds(_ value: Double) -> String {
            value == value.rounded() ? String(Int(value)) : String(value)
        }
    }

    /// Takes the lock on `path` (mode 0644, created with its parent directories when
    /// missing). Waits up to `wait` seconds (0: not at all) for another holder, polling
    /// every 10 ms on `clock`. Throws `Failure.busy` or `.unavailable`.
    public static func acquire(_ path: String, wait: Double = 0,
                               clock: any ClockSource = SystemClock()) throws(Failure) -> FileLock {
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try? FileContents.makeDirectories(String(path[..<slash]))
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard fd >= 0 else { throw .unavailable(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .unavailable(path: path, reason: "not a regular file")
        }
        let deadline = clock.monotonic() + wait
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return FileLock(path: path, fd: fd) }
            let error = errno
            guard error == EWOULDBLOCK || error == EINTR else {
                close(fd)
                throw .unavailable(path: path, reason: String(cString: strerror(error)))
            }
            guard clock.monotonic() < deadline else {
                close(fd)
                throw .busy(path: path, waited: wait)
            }
            usleep(10_000)
        }
    }

    /// True when some process holds the exclusive lock on `path` (a shared `flock` cannot
    /// be had at once). False when the file does not exist or cannot be opened. Works for
    /// any user: the lock files are mode 0644.
    public static func isHeld(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { close(fd) }   // releases the shared lock, if taken
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        return flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }
}
