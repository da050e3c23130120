import CLinux
import Glibc
import PortwardCore
import SystemPackage

/// A failure reaching a network namespace.
public enum NetnsError: Error, Equatable, CustomStringConvertible {
    /// The namespace is gone: its path no longer exists (`ENOENT`, `ESRCH`), is no longer a
    /// mount of an nsfs inode (a stale file left in a bind-mount folder), or names a
    /// different namespace than the one discovered (the pid was reused). Expected when
    /// containers stop: worth a debug line at most.
    case vanished(path: String)
    /// open(2) of the namespace path failed otherwise (e.g. `EACCES`).
    case openFailed(path: String, errno: Errno)
    /// setns(2) refused (`EPERM` without CAP_SYS_ADMIN; `EINVAL` if not a network namespace).
    case setnsFailed(path: String, errno: Errno)
    /// After setns the thread's namespace was not the target: nothing was touched.
    case notEntered(path: String)
    /// pthread_create failed.
    case threadFailed(errno: Errno)
    /// A socket or getsockopt call failed (cookie).
    case socketFailed(path: String, errno: Errno)
    /// The sysctl read or write inside the namespace failed.
    case sysctl(SysctlError)

    public var description: String {
        switch self {
        case .vanished(let path): "network namespace \(path) is gone"
        case .openFailed(let path, let errno): "cannot open network namespace \(path): \(errno)"
        case .setnsFailed(let path, let errno): "cannot enter network namespace \(path): setns: \(errno)"
        case .notEntered(let path): "entering network namespace \(path) did not take effect; nothing was changed"
        case .threadFailed(let errno): "cannot start a thread to enter a network namespace: \(errno)"
        case .socketFailed(let path, let errno): "cannot read the cookie of network namespace \(path): \(errno)"
        case .sysctl(let error): error.description
        }
    }
}

/// An open network namespace: an `O_RDONLY|O_CLOEXEC|O_NONBLOCK` descriptor of its nsfs file (which
/// keeps the namespace alive while open, even after its last process exits and its bind
/// mount is removed), and a way to run code inside it on a dedicated thread.
///
/// The calling thread's own namespace never changes: `run` starts a new thread, calls
/// `setns(fd, CLONE_NEWNET)` there, checks with `/proc/thread-self/ns/net` that the thread
/// is now in the target, runs the body, and lets the thread end (a thread's namespace dies
/// with it). Measured on 6.18 (NetnsSysctlTests): a /proc/sys file opened on such a thread
/// keeps addressing the target namespace's value when read or written later from any
/// thread, after the entering thread has ended; a file opened on the daemon's thread
/// addresses the daemon's namespace. So `NetnsSysctlIO` opens in the namespace and does the
/// I/O wherever it is called.
public final class NetnsHandle: @unchecked Sendable {
    /// The path it was opened by.
    public let path: String
    /// The `(st_dev, st_ino)` of the namespace.
    public let identity: NetnsIdentity
    private let fd: FileDescriptor

    /// Opens the namespace at `path` (`/run/netns/NAME`, `/proc/PID/ns/net`, ...). When
    /// `expecting` is given (the identity discovery saw) and the path now names another
    /// namespace, throws `.vanished`. Throws `.vanished` for ENOENT/ESRCH or a non-nsfs file
    /// (opened non-blocking, so a FIFO planted at the path cannot hang the caller),
    /// `.openFailed` otherwise.
    public init(path: String, expecting: NetnsIdentity? = nil) throws(NetnsError) {
        let fd: FileDescriptor
        // Non-blocking: a folder another user can write (/run/user/UID/netns) may hold a
        // FIFO by the time of the open; O_NONBLOCK has no effect on an nsfs file.
        do { fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec, .nonBlocking]) } catch {
            let errno = Errno(error)
            if errno == .noSuchFileOrDirectory || errno == .noSuchProcess { throw .vanished(path: path) }
            throw .openFailed(path: path, errno: errno)
        }
        var fs = statfs()
        var st = stat()
        guard fstatfs(fd.rawValue, &fs) == 0, fs.f_type == NetnsFiles.nsfsMagic,
              fstat(fd.rawValue, &st) == 0 else {
            try? fd.close()
            throw .vanished(path: path)
        }
        let identity = NetnsIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        if let expecting, expecting != identity {
            try? fd.close()
            throw .vanished(path: path)
        }
        self.path = path
        self.identity = identity
        self.fd = fd
    }

    deinit { try? fd.close() }

    /// Runs `body` on a new thread that has entered this namespace, and returns its result.
    /// Blocks the caller until the thread ends. Throws `.threadFailed`, `.setnsFailed`,
    /// `.notEntered`, or what `body` throws.
    public func run<T>(_ body: () throws(NetnsError) -> T) throws(NetnsError) -> T {
        var outcome: Result<T, NetnsError>?
        let fd = fd.rawValue, path = path, identity = identity
        try withoutActuallyEscaping(body) { (body) throws(NetnsError) in
            try NetnsFiles.onNewThread {
                guard setns(fd, Int32(CLONE_NEWNET)) == 0 else {
                    outcome = .failure(.setnsFailed(path: path, errno: Errno(rawValue: errno)))
                    return
                }
                guard NetnsFiles.identity(of: "/proc/thread-self/ns/net") == identity else {
                    outcome = .failure(.notEntered(path: path))
                    return
                }
                do throws(NetnsError) { outcome = .success(try body()) } catch { outcome = .failure(error) }
            }
        }
        return try outcome!.get()
    }

    /// The namespace's cookie (`SO_NETNS_COOKIE`, Linux 5.14+): a 64-bit number unique for
    /// the boot, never reused, the key BPF programs see via `bpf_get_netns_cookie`. Read
    /// from a socket created inside the namespace. Throws `.socketFailed` (ENOPROTOOPT on
    /// older kernels) or what `run` throws.
    public func cookie() throws(NetnsError) -> UInt64 {
        let path = path
        return try run { () throws(NetnsError) -> UInt64 in try Self.currentCookie(path: path) }
    }

    /// The cookie of the calling thread's network namespace (`SO_NETNS_COOKIE` on a new
    /// AF_UNIX socket); `path` names it in errors. For use inside `run`.
    static func currentCookie(path: String) throws(NetnsError) -> UInt64 {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw .socketFailed(path: path, errno: Errno(rawValue: errno)) }
        defer { close(socket) }
        var cookie: UInt64 = 0
        var length = socklen_t(MemoryLayout<UInt64>.size)
        guard getsockopt(socket, SOL_SOCKET, NetnsFiles.soNetnsCookie, &cookie, &length) == 0 else {
            throw .socketFailed(path: path, errno: Errno(rawValue: errno))
        }
        return cookie
    }
}

/// Small file-system helpers for network namespaces.
public enum NetnsFiles {
    /// `NSFS_MAGIC` (linux/magic.h): `f_type` of a namespace file.
    static let nsfsMagic = 0x6e73_6673
    /// `SO_NETNS_COOKIE` (asm-generic/socket.h).
    static let soNetnsCookie: Int32 = 71

    /// The identity of the namespace file at `path` (following links, so
    /// `/proc/PID/ns/net` works), or nil when it is missing or not an nsfs inode.
    public static func identity(of path: String) -> NetnsIdentity? {
        var fs = statfs()
        var st = stat()
        guard statfs(path, &fs) == 0, fs.f_type == nsfsMagic, stat(path, &st) == 0 else { return nil }
        return NetnsIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// The namespace of the calling process (`/proc/self/ns/net`: the thread-group
    /// leader's; portward never moves its own threads).
    public static func own(procRoot: String = "/proc") -> NetnsIdentity? {
        identity(of: procRoot + "/self/ns/net")
    }

    private final class Job: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Runs `body` on a new joinable pthread and waits for it.
    static func onNewThread(_ body: @escaping () -> Void) throws(NetnsError) {
        let job = Unmanaged.passRetained(Job(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            Unmanaged<Job>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, job)
        guard rc == 0 else {
            Unmanaged<Job>.fromOpaque(job).release()
            throw .threadFailed(errno: Errno(rawValue: rc))
        }
        pthread_join(thread, nil)
    }
}
