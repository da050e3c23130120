import Glibc
import SystemPackage

/// One request on the hold fallback's control socket (`/run/portward/hold.sock`): an owner
/// unit's hook asks the daemon to release the unit's held sockets (`release UNIT`, its
/// start hook) or to hold them again (`hold UNIT`, its stop hook). The peer's credentials
/// come from SO_PEERCRED, not from the message.
public struct HoldControlRequest: Equatable, Sendable {
    public enum Verb: String, Sendable {
        case release
        case hold
    }

    public var verb: Verb
    public var unit: String
    /// The requesting process (SO_PEERCRED).
    public var peerPID: Int32
    public var peerUID: UInt32

    public init(verb: Verb, unit: String, peerPID: Int32 = 0, peerUID: UInt32 = 0) {
        self.verb = verb
        self.unit = unit
        self.peerPID = peerPID
        self.peerUID = peerUID
    }

    /// `release UNIT` / `hold UNIT` (one line, no newline needed), or nil.
    public init?(parsing text: String, peerPID: Int32, peerUID: UInt32) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map { $0.trimmingSuffix("\n") }
        guard parts.count == 2, let verb = Verb(rawValue: parts[0]), !parts[1].isEmpty,
              parts[1].utf8.count <= 256, !parts[1].contains("/") else { return nil }
        self.init(verb: verb, unit: parts[1], peerPID: peerPID, peerUID: peerUID)
    }

    /// The wire form.
    public var text: String { "\(verb.rawValue) \(unit)" }
}

private extension Substring {
    func trimmingSuffix(_ suffix: Character) -> String {
        var s = String(self)
        while s.last == suffix { s.removeLast() }
        return s
    }
}

/// The daemon's end of the control socket: an AF_UNIX SOCK_SEQPACKET socket (one message
/// per request and per answer) bound at `path` with mode 0600, non-blocking, close-on-exec.
/// The daemon's event loop watches `descriptor` and calls `serve` when it is readable.
///
/// Only peers whose uid `serve`'s `allowed` accepts (root) get an answer: the others are
/// closed at once, so a local user can neither make the daemon release a port nor keep it
/// busy. A peer that sends nothing within 100 ms after connecting is dropped.
public final class HoldControlServer {
    public let path: String
    public let descriptor: Int32
    private let inode: ino_t

    /// The longest path a sockaddr_un takes.
    public static let maximumPathLength = 107

    /// Binds `path` (replacing a stale socket a killed daemon left) and listens. Throws the
    /// errno (ENAMETOOLONG for a path longer than `maximumPathLength` bytes).
    public init(path: String) throws(Errno) {
        guard path.utf8.count <= Self.maximumPathLength else { throw .fileNameTooLong }
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        var st = stat()
        if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        var address = HoldControlServer.address(path)
        let old = umask(0o077)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard rc == 0, listen(fd, 64) == 0, stat(path, &st) == 0 else {
            let error = Errno(rawValue: errno)
            close(fd)
            throw error
        }
        self.path = path
        descriptor = fd
        inode = st.st_ino
    }

    /// Closes the socket and removes its file (when it is still this socket's).
    deinit {
        close(descriptor)
        var st = stat()
        if stat(path, &st) == 0, st.st_ino == inode { unlink(path) }
    }

    /// Accepts every waiting connection; for each from a peer `allowed` accepts, reads its
    /// request and sends back `respond`'s answer (an unparsable request gets `error ...`).
    /// Returns the number of connections handled.
    @discardableResult
    public func serve(allowed: (_ uid: UInt32) -> Bool, respond: (HoldControlRequest) -> String) -> Int {
        var handled = 0
        while handled < 64 {
            // accept4(2) is not in Glibc's module without _GNU_SOURCE; the daemon never
            // execs, so FD_CLOEXEC right after accept is enough.
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { break }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            handled += 1
            defer { close(connection) }
            var credentials = PeerCredentials()
            var length = socklen_t(MemoryLayout<PeerCredentials>.size)
            guard getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0,
                  allowed(credentials.uid) else { continue }
            var poller = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) == 1 else { continue }
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = recv(connection, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { continue }
            let text = String(decoding: buffer[..<count], as: UTF8.self)
            let answer: String
            if let request = HoldControlRequest(parsing: text, peerPID: credentials.pid, peerUID: credentials.uid) {
                answer = respond(request)
            } else {
                answer = "error: not a request (release UNIT, hold UNIT)"
            }
            _ = answer.utf8CString.withUnsafeBufferPointer { send(connection, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
        }
        return handled
    }

    fileprivate static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(maximumPathLength).enumerated() { raw[i] = byte }
        }
        return address
    }
}

/// `struct ucred` (SO_PEERCRED), which Glibc's module exports only under _GNU_SOURCE.
private struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// The hooks' end of the control socket: one request, one answer.
public enum HoldControlClient {
    public enum Outcome: Equatable, Sendable {
        /// The daemon's answer (`released 2`, `held 2`, `error: ...`).
        case answered(String)
        /// No daemon listens (no socket file, or a stale one: ECONNREFUSED): nothing is held.
        case noDaemon
        /// The daemon did not answer within the timeout.
        case timedOut
        /// Another error (errno).
        case failed(Errno)
    }

    /// Sends `request` to the daemon at `path` and waits up to `timeout` seconds (for the
    /// connection and for the answer).
    public static func send(_ request: HoldControlRequest, path: String, timeout: Double) -> Outcome {
        guard path.utf8.count <= HoldControlServer.maximumPathLength else { return .failed(.fileNameTooLong) }
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed(Errno(rawValue: errno)) }
        defer { close(fd) }
        // connect(2) on a full backlog waits up to SO_SNDTIMEO.
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = HoldControlServer.address(path)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 {
            switch errno {
            case ENOENT, ECONNREFUSED, ENOTDIR: return .noDaemon
            case EAGAIN, EINPROGRESS: return .timedOut
            default: return .failed(Errno(rawValue: errno))
            }
        }
        let sent = request.text.utf8CString.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
        guard sent >= 0 else { return errno == EAGAIN ? .timedOut : .failed(Errno(rawValue: errno)) }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(timeout * 1000))
        guard ready == 1 else { return ready == 0 ? .timedOut : .failed(Errno(rawValue: errno)) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        // The daemon closed without answering: it refused the peer, or died meanwhile.
        guard count > 0 else { return count == 0 ? .answered("error: closed without an answer") : .failed(Errno(rawValue: errno)) }
        return .answered(String(decoding: buffer[..<count], as: UTF8.self))
    }
}
