import Glibc
import SystemPackage

/// The file operations `SysctlFile` performs on a /proc/sys file, behind a protocol so
/// tests can inject kernel faults (EINVAL on a later chunk, a write of 0, EACCES, EROFS,
/// ENOMEM on read, a truncated value). `SystemSysctlIO` is the real thing.
public protocol SysctlIO: Sendable {
    /// Opens `path` read-only and makes ONE `read()` at offset 0 into `buffer` (the kernel
    /// returns a bitmap sysctl's whole value on the first read and EOF afterwards).
    /// Returns the byte count. Throws `SysctlError.openFailed` or `.readFailed`.
    func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer) throws(SysctlError) -> Int

    /// Opens `path` write-only with the file offset at `offset` bytes (0: the first write
    /// replaces the value; > 0: every write ORs into it, see `SysctlFile.WriteMode`).
    /// Throws the errno of open(2) or lseek(2).
    func openForWriting(_ path: String, offset: Int) throws(Errno) -> any SysctlWriteHandle
}

/// One open sysctl file, written chunk by chunk.
public protocol SysctlWriteHandle {
    /// One `write()`: returns how many bytes the kernel consumed. Throws its errno.
    func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int
    /// Closes the file (errors ignored: proc handlers act on write, not on close).
    func close()
}

/// `SysctlIO` over the real file system (swift-system `FileDescriptor`).
public struct SystemSysctlIO: SysctlIO {
    public init() {}

    public func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer) throws(SysctlError) -> Int {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) }
        catch { throw SysctlError.openFailed(path: path, errno: Errno(error)) }
        defer { try? fd.close() }
        do { return try fd.read(into: buffer) }
        catch { throw SysctlError.readFailed(path: path, errno: Errno(error)) }
    }

    public func openForWriting(_ path: String, offset: Int) throws(Errno) -> any SysctlWriteHandle {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.closeOnExec]) }
        catch { throw Errno(error) }
        if offset > 0 {
            do { _ = try fd.seek(offset: Int64(offset), from: .start) } catch {
                try? fd.close()
                throw Errno(error)
            }
        }
        return Handle(fd: fd)
    }

    private struct Handle: SysctlWriteHandle {
        let fd: FileDescriptor
        func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
            do { return try fd.write(bytes) } catch { throw Errno(error) }
        }
        func close() { try? fd.close() }
    }
}
