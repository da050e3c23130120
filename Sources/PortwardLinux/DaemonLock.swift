import Glibc

/// One `portward run` per root: an exclusive `flock(2)` on `/run/portward/daemon.lock`
/// (under `--root`), held for the daemon's lifetime. Two daemons with the same files would
/// each restore their own configuration as "drift" against the other's, and `apply` could
/// tell only one of them to reload.
public final class DaemonLock {
    private let fd: Int32

    /// Takes the lock in `directory` (the state directory, created if missing). Throws
    /// `Failure.held` when another process holds it, `.unavailable` with the errno when the
    /// lock file cannot be opened.
    public init(directory: String) throws(Failure) {
        try? FileContents.makeDirectories(directory)
        let path = directory + "/daemon.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .unavailable(path: path, reason: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            close(fd)
            if error == EWOULDBLOCK { throw .held(path: path) }
            throw .unavailable(path: path, reason: String(cString: strerror(error)))
        }
        self.fd = fd
    }

    deinit { close(fd) }   // releases the lock

    public enum Failure: Error, CustomStringConvertible {
        case held(path: String)
        case unavailable(path: String, reason: String)

        public var description: String {
            switch self {
            case .held(let path): "another portward run is already running for this root (it holds \(path))"
            case .unavailable(let path, let reason): "cannot lock \(path): \(reason)"
            }
        }
    }
}
