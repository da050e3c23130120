import Glibc
import SystemPackage

/// Whole-file reads and atomic whole-file writes on regular files (not /proc: see
/// `SysctlFile`). Errors are the `Errno` of the failing call.
public enum FileContents {
    /// The whole file. Throws the errno of open/read (EISDIR for a directory).
    public static func read(_ path: String) throws(Errno) -> [UInt8] {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) }
        catch { throw Errno(error) }
        defer { try? fd.close() }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n: Int
            do { n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) } }
            catch { throw Errno(error) }
            if n == 0 { break }
            result.append(contentsOf: chunk[..<n])
        }
        return result
    }

    /// Why `readOwnFile` refused or failed.
    public enum ReadFailure: Error, Equatable, CustomStringConvertible {
        /// The file does not exist (ENOENT on the last component or a directory above).
        case missing
        /// lstat/open/fstat/read failed with this errno.
        case failed(Errno)
        /// The path is a symbolic link (to `target`, when it could be read): never followed.
        case symbolicLink(target: String?)
        /// Not a regular file: `kind` is "a FIFO", "a directory", "a character device"...
        case notRegular(kind: String)
        /// Larger than the caller's limit (`size` as fstat reports it, or `limit + 1` when
        /// the file grew while being read).
        case tooLarge(size: Int, limit: Int)

        public var description: String {
            switch self {
            case .missing: "\(Errno.noSuchFileOrDirectory)"
            case .failed(let errno): "\(errno)"
            case .symbolicLink(let target):
                "is a symbolic link\(target.map { " (to \($0))" } ?? ""), which portward does not follow for its own files"
            case .notRegular(let kind): "not a regular file (\(kind))"
            case .tooLarge(let size, let limit): "file too large (\(size) bytes; at most \(limit))"
            }
        }
    }

    /// The whole of portward's own file `path` (state file, daemon view), read without ever
    /// blocking or following a symbolic link: `lstat` first, so that a FIFO, device or
    /// symbolic link planted there is refused without being opened; then
    /// `open(O_RDONLY|O_NONBLOCK|O_NOFOLLOW|O_NOCTTY|O_CLOEXEC)` and `fstat` again (the path
    /// may have been replaced in between); at most `limit` bytes (checked against
    /// `st_size` before reading and while reading). Throws `ReadFailure`.
    public static func readOwnFile(_ path: String, limit: Int) throws(ReadFailure) -> [UInt8] {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            throw errno == ENOENT || errno == ENOTDIR ? .missing : .failed(Errno(rawValue: errno))
        }
        try checkRegular(status, path: path, limit: limit)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP { throw .symbolicLink(target: symlinkTarget(path)) }
            throw errno == ENOENT ? .missing : .failed(Errno(rawValue: errno))
        }
        defer { close(fd) }
        guard fstat(fd, &status) == 0 else { throw .failed(Errno(rawValue: errno)) }
        try checkRegular(status, path: path, limit: limit)
        var result: [UInt8] = []
        result.reserveCapacity(Int(status.st_size))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .failed(Errno(rawValue: errno))
            }
            if n == 0 { break }
            guard result.count + n <= limit else { throw .tooLarge(size: limit + 1, limit: limit) }
            result.append(contentsOf: chunk[..<n])
        }
        return result
    }

    private static func checkRegular(_ status: stat, path: String, limit: Int) throws(ReadFailure) {
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFLNK: throw .symbolicLink(target: symlinkTarget(path))
        case S_IFIFO: throw .notRegular(kind: "a FIFO")
        case S_IFDIR: throw .notRegular(kind: "a directory")
        case S_IFCHR: throw .notRegular(kind: "a character device")
        case S_IFBLK: throw .notRegular(kind: "a block device")
        case S_IFSOCK: throw .notRegular(kind: "a socket")
        default: throw .notRegular(kind: "type \(status.st_mode & S_IFMT)")
        }
        guard Int(status.st_size) <= limit else { throw .tooLarge(size: Int(status.st_size), limit: limit) }
    }

    private static func symlinkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes `bytes` to a temporary file next to `path` (`path.tmp.PID`) and renames it over
    /// `path` (readers see the old or the new content, never a mix). Creates the parent
    /// directory (mode 0755) if missing. The file gets mode 0644, whatever the umask. No fsync: the files live
    /// in /run (tmpfs), which a power loss empties anyway, as it resets the kernel value.
    /// A process killed between open and rename leaves its `path.tmp.PID` behind (removed
    /// by the next write from the same PID). The temporary file is created with
    /// `O_EXCL|O_NOFOLLOW|O_NONBLOCK`, so nothing planted at its name can make this block.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(Errno) {
        let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !parent.isEmpty { try makeDirectories(parent) }
        let temporary = path + ".tmp.\(getpid())"
        // Whatever a killed earlier process with this PID left (or someone planted: a FIFO
        // would block a plain open for writing forever) goes first; then a fresh file only
        // (O_EXCL, which also refuses a symbolic link), never blocking.
        unlink(temporary)
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(temporary), .writeOnly,
                                         options: [.create, .exclusiveCreate, .noFollow, .nonBlocking, .closeOnExec],
                                         permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch { throw Errno(error) }
        // The open's mode is masked by the umask; readers (status as a user, node_exporter's
        // textfile collector as `prometheus`) need 0644 whatever the daemon's umask is.
        guard fchmod(fd.rawValue, 0o644) == 0 else {
            let error = Errno(rawValue: errno)
            try? fd.close()
            unlink(temporary)
            throw error
        }
        do {
            _ = try fd.closeAfter { try fd.writeAll(bytes) }
        } catch {
            unlink(temporary)
            throw Errno(error)
        }
        guard rename(temporary, path) == 0 else {
            let error = Errno(rawValue: errno)
            unlink(temporary)
            throw error
        }
    }

    /// `mkdir -p` with mode 0755.
    public static func makeDirectories(_ path: String) throws(Errno) {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0, errno != EEXIST { throw Errno(rawValue: errno) }
        }
    }
}
