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

    /// Writes `bytes` to a temporary file next to `path` (`path.tmp.PID`) and renames it over
    /// `path` (readers see the old or the new content, never a mix). Creates the parent
    /// directory (mode 0755) if missing. The file gets mode 0644, whatever the umask. No fsync: the files live
    /// in /run (tmpfs), which a power loss empties anyway, as it resets the kernel value.
    /// A process killed between open and rename leaves its `path.tmp.PID` behind.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(Errno) {
        let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !parent.isEmpty { try makeDirectories(parent) }
        let temporary = path + ".tmp.\(getpid())"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(temporary), .writeOnly,
                                         options: [.create, .truncate, .closeOnExec],
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
