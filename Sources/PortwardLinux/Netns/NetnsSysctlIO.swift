import Glibc
import PortwardCore
import SystemPackage

/// `SysctlIO` whose files are opened inside another network namespace: each `read` and
/// `openForWriting` opens the /proc/sys file on a thread that entered `netns` (see
/// `NetnsHandle`), then does the I/O on the calling thread through that descriptor, which
/// stays bound to the target namespace. So the whole of `ReservedPortsSysctl` (atomic and
/// two-phase writes, read-back verification) works unchanged for another namespace:
///
///     let netns = try NetnsHandle(path: "/run/netns/blue")
///     let sysctl = ReservedPortsSysctl(io: NetnsSysctlIO(netns))
///     try sysctl.write(plan.target, preserving: plan.foreign)
///
/// A failure to enter the namespace surfaces as `SysctlError.openFailed` with the errno of
/// setns (or EIO); use `NetnsSysctl` for errors that keep the distinction.
///
/// `prepareReads` opens the files to be read once, on one entered thread; later reads of
/// them need no thread (the daemon's rescan of many namespaces: one thread per namespace).
public struct NetnsSysctlIO: SysctlIO {
    public let netns: NetnsHandle
    private let prepared = PreparedReads()

    public init(_ netns: NetnsHandle) { self.netns = netns }

    /// Opens `paths` read-only on one thread that entered the namespace and runs `body` on
    /// it too (e.g. `NetnsHandle.currentCookie`). Afterwards `read` of those paths is one
    /// `pread` at offset 0 on these descriptors, from any thread (they stay bound to the
    /// namespace; a sysctl file formats its current value at every read at offset 0). A
    /// path that cannot be opened is left to `read`, which reports why. Call before the
    /// value is shared between threads. Throws what `NetnsHandle.run` or `body` throws.
    public func prepareReads<T>(_ paths: [String], _ body: () throws(NetnsError) -> T) throws(NetnsError) -> T {
        let prepared = prepared
        return try netns.run { () throws(NetnsError) -> T in
            for path in paths where prepared.descriptors[path] == nil {
                prepared.descriptors[path] = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
            }
            return try body()
        }
    }

    public func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer) throws(SysctlError) -> Int {
        if let fd = prepared.descriptors[path] {
            do { return try fd.read(fromAbsoluteOffset: 0, into: buffer) }
            catch { throw SysctlError.readFailed(path: path, errno: Errno(error)) }
        }
        let fd = try open(path, .readOnly)
        defer { try? fd.close() }
        do { return try fd.read(into: buffer) }
        catch { throw SysctlError.readFailed(path: path, errno: Errno(error)) }
    }

    public func openForWriting(_ path: String, offset: Int) throws(Errno) -> any SysctlWriteHandle {
        let fd: FileDescriptor
        do { fd = try open(path, .writeOnly) } catch {
            if case .openFailed(_, let errno) = error { throw errno }
            throw .ioError
        }
        if offset > 0 {
            do { _ = try fd.seek(offset: Int64(offset), from: .start) } catch {
                try? fd.close()
                throw Errno(error)
            }
        }
        return Handle(fd: fd)
    }

    private func open(_ path: String, _ mode: FileDescriptor.AccessMode) throws(SysctlError) -> FileDescriptor {
        let opened: Result<FileDescriptor, Errno>
        do {
            opened = try netns.run { () -> Result<FileDescriptor, Errno> in
                do { return .success(try FileDescriptor.open(FilePath(path), mode, options: [.closeOnExec])) }
                catch { return .failure(Errno(error)) }
            }
        } catch {
            if case .setnsFailed(_, let errno) = error { throw .openFailed(path: path, errno: errno) }
            if case .threadFailed(let errno) = error { throw .openFailed(path: path, errno: errno) }
            throw .openFailed(path: path, errno: .ioError)
        }
        switch opened {
        case .success(let fd): return fd
        case .failure(let errno): throw .openFailed(path: path, errno: errno)
        }
    }

    /// The descriptors `prepareReads` opened, closed with the last copy of the value.
    private final class PreparedReads: @unchecked Sendable {
        var descriptors: [String: FileDescriptor] = [:]
        deinit { for fd in descriptors.values { try? fd.close() } }
    }

    private struct Handle: SysctlWriteHandle {
        let fd: FileDescriptor
        func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
            do { return try fd.write(bytes) } catch { throw Errno(error) }
        }
        func close() { try? fd.close() }
    }
}

/// The reserved-ports key of another network namespace, in one call each, with errors that
/// tell a vanished namespace (`NetnsError.vanished`) from real failures.
public enum NetnsSysctl {
    /// The namespace's `ip_local_reserved_ports`. Throws `NetnsError`.
    public static func read(netnsAt path: String, expecting: NetnsIdentity? = nil) throws(NetnsError) -> PortSet {
        let netns = try NetnsHandle(path: path, expecting: expecting)
        do { return try ReservedPortsSysctl(io: NetnsSysctlIO(netns)).read() }
        catch { throw .sysctl(error) }
    }

    /// Makes the namespace's key `target` (`ReservedPortsSysctl.write` semantics, same
    /// crash safety); returns the value read back. Throws `NetnsError`.
    @discardableResult
    public static func write(_ target: PortSet, preserving: PortSet = PortSet(),
                             netnsAt path: String, expecting: NetnsIdentity? = nil) throws(NetnsError) -> PortSet {
        let netns = try NetnsHandle(path: path, expecting: expecting)
        do { return try ReservedPortsSysctl(io: NetnsSysctlIO(netns)).write(target, preserving: preserving) }
        catch { throw .sysctl(error) }
    }

    /// Adds `ports` to the namespace's key, keeping every port already there: one
    /// `.merge` write (file offset 1, so each kernel parse ORs in and nothing is ever
    /// removed, even racing another writer), then a read-back. Returns the value read back;
    /// throws `.sysctl(.verifyFailed)` if some of `ports` are missing from it.
    @discardableResult
    public static func merge(_ ports: PortSet, netnsAt path: String,
                             expecting: NetnsIdentity? = nil) throws(NetnsError) -> PortSet {
        let netns = try NetnsHandle(path: path, expecting: expecting)
        let sysctl = ReservedPortsSysctl(io: NetnsSysctlIO(netns))
        do throws(SysctlError) {
            if !ports.isEmpty {
                try sysctl.reservedPorts.write(ReservedPortsValue.encode(ports), mode: .merge)
            }
            let readBack = try sysctl.read()
            let missing = ports.subtracting(readBack)
            guard missing.isEmpty else {
                throw .verifyFailed(path: sysctl.reservedPorts.path, missing: missing.description)
            }
            return readBack
        } catch { throw .sysctl(error) }
    }

    /// The kernel keys of a discovered namespace, reached through its path (its first
    /// reference) and checked against its identity: `.vanished` when that path now names
    /// nothing or another namespace. The returned value keeps the namespace open.
    public static func keys(of netns: DiscoveredNetns) throws(NetnsError) -> ReservedPortsSysctl {
        ReservedPortsSysctl(io: NetnsSysctlIO(try NetnsHandle(path: netns.path, expecting: netns.identity)))
    }

    /// The kernel keys and the cookie of a discovered namespace (`keys(of:)`, then
    /// `NetnsHandle.cookie` on the same open handle, so both name the same namespace: an
    /// open handle keeps it, and its inode, from being freed). The cookie names portward's
    /// state folder for it and keys the owner guard's map there. Throws `NetnsError`.
    /// One thread enters the namespace for both: the cookie, and the opening of the two
    /// files a transaction reads (`NetnsSysctlIO.prepareReads`); only a write enters again.
    public static func open(_ netns: DiscoveredNetns) throws(NetnsError) -> NetnsKeys {
        let handle = try NetnsHandle(path: netns.path, expecting: netns.identity)
        let io = NetnsSysctlIO(handle)
        let sysctl = ReservedPortsSysctl(io: io)
        let path = handle.path
        let cookie = try io.prepareReads([sysctl.reservedPorts.path, sysctl.localPortRange.path]) {
            () throws(NetnsError) -> UInt64 in try NetnsHandle.currentCookie(path: path)
        }
        return NetnsKeys(sysctl: sysctl, cookie: cookie)
    }

    /// The namespace's cookie (`NetnsHandle.cookie`).
    public static func cookie(netnsAt path: String, expecting: NetnsIdentity? = nil) throws(NetnsError) -> UInt64 {
        try NetnsHandle(path: path, expecting: expecting).cookie()
    }
}

/// An opened network namespace as the daemon uses it (`NetnsSysctl.open`): its
/// reserved-ports key, reached through a handle that keeps the namespace open, and its
/// cookie (`SO_NETNS_COOKIE`: unique for the boot, never reused, unlike the inode).
public struct NetnsKeys {
    /// The namespace's `ip_local_reserved_ports` (and the ephemeral range).
    public let sysctl: ReservedPortsSysctl
    /// The namespace's cookie.
    public let cookie: UInt64

    public init(sysctl: ReservedPortsSysctl, cookie: UInt64) {
        self.sysctl = sysctl
        self.cookie = cookie
    }
}
