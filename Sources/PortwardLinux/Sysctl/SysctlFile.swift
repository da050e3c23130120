import SystemPackage

/// One sysctl under /proc/sys, read and written the way the kernel's proc handlers need.
///
/// Reads use a single `read()` with a large buffer: `proc_do_large_bitmap()` returns the whole
/// value on the first read at offset 0 and EOF afterwards. Writes loop, resuming exactly at
/// the count each `write()` returns, because the kernel parses at most 4,095 bytes per call
/// and stops on a token boundary (see ../shared/kernel-facts.md).
///
/// For a bitmap sysctl the file offset decides what a write does: a write at offset 0
/// REPLACES the set with what that one call parsed, a write at an offset > 0 ORs into it.
/// `WriteMode.replace` starts at offset 0 (so the first chunk replaces and later chunks
/// add); `WriteMode.merge` starts at offset 1, so every chunk only adds and no port is ever
/// removed, even if the process is killed between chunks. `ReservedPortsSysctl.write`
/// builds its crash-safe strategy on these two.
///
/// The file operations go through `io` (`SystemSysctlIO` by default), a seam for fault
/// injection.
public struct SysctlFile: Sendable {
    /// Absolute path, e.g. `/proc/sys/net/ipv4/ip_local_reserved_ports`.
    public let path: String
    /// The file operations (the real ones unless a test injects faults).
    public let io: any SysctlIO

    /// The largest value read: the worst case for the reserved-ports bitmap (every odd
    /// port) is 191,053 bytes; 4 MiB or more gives ENOMEM.
    public static let readBufferSize = 512 * 1024

    /// The most bytes the kernel parses in one `write()` (PAGE_SIZE - 1): a value at most
    /// this long is written atomically by one call.
    public static let maximumAtomicWrite = 4095

    /// Where a write starts, and so what its chunks do to a bitmap sysctl.
    public enum WriteMode: Sendable {
        /// From offset 0: the first chunk replaces the set, later chunks add to it.
        case replace
        /// From offset 1: every chunk adds to the set (nothing is removed).
        case merge
    }

    public init(path: String, io: any SysctlIO = SystemSysctlIO()) {
        self.path = path
        self.io = io
    }

    /// The sysctl `name` (dotted, e.g. `net.ipv4.ip_local_reserved_ports`) under `procSys`.
    public init(name: String, procSys: String = "/proc/sys", io: any SysctlIO = SystemSysctlIO()) {
        self.init(path: procSys + "/" + name.split(separator: ".").joined(separator: "/"), io: io)
    }

    /// The current value as text, including the kernel's trailing newline.
    /// Throws `SysctlError.openFailed` or `.readFailed` carrying the errno.
    public func read() throws(SysctlError) -> String {
        // First with a small buffer: the kernel allocates and zeroes a buffer of the size
        // asked for at every read (proc_sys_call_handler), 512 KiB for the full one, which
        // dominated a rescan of a thousand namespaces (BENCHMARKS.md). A value that fills
        // it is read again whole.
        if let text = try read(bufferSize: Self.firstReadSize) { return text }
        return try read(bufferSize: Self.readBufferSize) ?? ""
    }

    /// The size of the first read of `read()`; most values are far shorter.
    static let firstReadSize = 16 * 1024

    /// One read of at most `bufferSize` bytes; nil when it filled the buffer (the value may
    /// be longer) and a larger one is left to try.
    private func read(bufferSize: Int) throws(SysctlError) -> String? {
        // Not zero-filled: zeroing 512 KiB cost more than the rest of a poll, and the
        // pages read() does not reach are never touched (BENCHMARKS.md).
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 1)
        defer { buffer.deallocate() }
        let count = try io.read(path, into: buffer)
        if count >= bufferSize, bufferSize < Self.readBufferSize { return nil }
        return String(decoding: buffer[..<max(0, min(count, buffer.count))], as: UTF8.self)
    }

    /// Writes `text`: with `.replace` (the default) the value becomes `text`; with `.merge`
    /// the ports of `text` are added. A value longer than one kernel parse is written in
    /// consecutive `write()` calls on one open file. Throws `SysctlError.openFailed`,
    /// `.writeRejected` (with the errno and the byte offset the kernel refused), or
    /// `.writeStalled`.
    public func write(_ text: String, mode: WriteMode = .replace) throws(SysctlError) {
        let handle: any SysctlWriteHandle
        do { handle = try io.openForWriting(path, offset: mode == .merge ? 1 : 0) }
        catch { throw SysctlError.openFailed(path: path, errno: error) }
        defer { handle.close() }
        try Self.writeAll(Array(text.utf8), path: path) { chunk throws(Errno) in try handle.write(chunk) }
    }

    /// The resume-at-short-count loop, with the system call injected (a seam for tests).
    /// `write` returns how many bytes the kernel consumed; 0 for a non-empty chunk is a
    /// stall (it would loop forever) and throws `SysctlError.writeStalled`.
    public static func writeAll(
        _ bytes: [UInt8], path: String,
        write: (UnsafeRawBufferPointer) throws(Errno) -> Int
    ) throws(SysctlError) {
        var offset = 0
        repeat {
            let written: Int
            do {
                written = try bytes.withUnsafeBytes { all throws(Errno) in
                    try write(UnsafeRawBufferPointer(rebasing: all[offset...]))
                }
            } catch {
                throw SysctlError.writeRejected(path: path, errno: Errno(error), offset: offset)
            }
            if written <= 0, offset < bytes.count {
                throw SysctlError.writeStalled(path: path, offset: offset)
            }
            offset += written
        } while offset < bytes.count
    }
}

extension Errno {
    /// The `Errno` inside an error thrown by swift-system, or EIO for anything else.
    init(_ error: any Error) { self = (error as? Errno) ?? .ioError }
}

/// A failure reading or writing a sysctl. Each case names the path and the kernel's errno.
public enum SysctlError: Error, Equatable, CustomStringConvertible {
    case openFailed(path: String, errno: Errno)
    case readFailed(path: String, errno: Errno)
    /// The kernel refused a write; `offset` is the byte offset of the refused chunk.
    case writeRejected(path: String, errno: Errno, offset: Int)
    /// The kernel consumed nothing of a non-empty chunk.
    case writeStalled(path: String, offset: Int)
    /// The value read back is not what was written.
    case verifyFailed(path: String, missing: String)
    /// The value read is not in the expected format.
    case malformed(path: String, reason: String)

    public var description: String {
        switch self {
        case .openFailed(let path, let errno):
            "cannot open \(path): \(errno.hint)"
        case .readFailed(let path, let errno):
            "cannot read \(path): \(errno.hint)"
        case .writeRejected(let path, let errno, let offset):
            "the kernel rejected the write to \(path) at byte \(offset): \(errno.hint)"
        case .writeStalled(let path, let offset):
            "the kernel accepted no bytes writing \(path) at byte \(offset)"
        case .verifyFailed(let path, let missing):
            "\(path) does not hold the written ports after the write; missing: \(missing)"
        case .malformed(let path, let reason):
            "\(path) has an unexpected value: \(reason)"
        }
    }
}

extension Errno {
    /// `strerror` text plus what usually causes it for a sysctl write.
    var hint: String {
        switch self {
        case .permissionDenied, .notPermitted:
            "\(self) (writing needs root or CAP_NET_ADMIN in the network namespace's user namespace)"
        case .readOnlyFileSystem:
            // Container runtimes mount /proc/sys read-only both with the host's network
            // namespace and with a private one (Docker, Podman, nspawn without
            // --private-network): only the runtime, from outside, can set the key then.
            "\(self) (/proc/sys is mounted read-only, as container runtimes do, with or without a private network namespace: set the key from outside, e.g. docker run --sysctl net.ipv4.ip_local_reserved_ports=..., or run portward where /proc/sys/net is writable)"
        default:
            "\(self)"
        }
    }
}
