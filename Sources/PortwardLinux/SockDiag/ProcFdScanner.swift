import Glibc
import SystemPackage

/// Finds the processes holding given sockets by their inode: reads every
/// `PROCROOT/PID/fd/N` symlink and keeps those reading `socket:[INODE]` (what `ss -p` and
/// `lsof` do; the kernel has no inode -> pid API).
///
/// Cost: one readlink per open file descriptor of every process, so scan only for inodes
/// not seen before (`HolderLookup` caches). Reading another user's fds needs root or
/// CAP_SYS_PTRACE; without it those processes are skipped and `permissionDenied` is set.
/// Pids are in the pid namespace of the mounted /proc.
public struct ProcFdScanner: Sendable {
    /// One open file descriptor: `PROCROOT/pid/fd/fd`.
    public struct Descriptor: Hashable, Sendable, CustomStringConvertible {
        public var pid: Int32
        public var fd: Int32
        public init(pid: Int32, fd: Int32) {
            self.pid = pid
            self.fd = fd
        }
        public var description: String { "\(pid)/fd/\(fd)" }
    }

    /// The outcome of a scan.
    public struct Result: Hashable, Sendable {
        /// Socket inode -> the descriptors referring to it, by pid then fd. Inodes nobody
        /// holds (or only unreadable processes hold) are absent.
        public var descriptors: [UInt64: [Descriptor]]
        /// True when some process's fd directory could not be read for lack of permission
        /// (EACCES/EPERM): holders may be missing. Processes that exited mid-scan do not
        /// count.
        public var permissionDenied: Bool

        public init(descriptors: [UInt64: [Descriptor]] = [:], permissionDenied: Bool = false) {
            self.descriptors = descriptors
            self.permissionDenied = permissionDenied
        }

        /// Socket inode -> the distinct pids holding it, ascending.
        public var pids: [UInt64: [Int32]] {
            descriptors.mapValues { Array(Set($0.map(\.pid))).sorted() }
        }
    }

    /// The proc mount to read, without trailing slash: `/proc`, or a fake tree in tests.
    public let procRoot: String

    public init(procRoot: String = "/proc") {
        self.procRoot = procRoot
    }

    /// Scans every process for descriptors of the sockets `inodes`.
    ///
    /// Processes that exit during the scan, and entries that are not numeric, are skipped
    /// silently.
    ///
    /// - Throws: `Errno` of opendir(3) when `procRoot` itself cannot be read.
    public func scan(for inodes: Set<UInt64>) throws(Errno) -> Result {
        var result = Result()
        if inodes.isEmpty { return result }
        guard let root = opendir(procRoot) else { throw Errno(rawValue: errno) }
        defer { closedir(root) }
        while let entry = readdir(root) {
            guard let pid = Self.number(entry), pid <= Int32.max else { continue }
            scanProcess(Int32(pid), inodes, into: &result)
        }
        for (inode, list) in result.descriptors {
            result.descriptors[inode] = list.sorted { ($0.pid, $0.fd) < ($1.pid, $1.fd) }
        }
        return result
    }

    /// True when `descriptor` still refers to socket `inode` (one readlink): checks a cached
    /// answer without a scan. False once the process exited or closed or reused the fd.
    public func stillHolds(_ descriptor: Descriptor, inode: UInt64) -> Bool {
        Self.socketInode(atPath: "\(procRoot)/\(descriptor.pid)/fd/\(descriptor.fd)") == inode
    }

    private func scanProcess(_ pid: Int32, _ inodes: Set<UInt64>, into result: inout Result) {
        let fdDirectory = open("\(procRoot)/\(pid)/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fdDirectory < 0 {
            if errno == EACCES || errno == EPERM { result.permissionDenied = true }
            return  // ENOENT/ESRCH: exited; ENOTDIR: not a process
        }
        guard let directory = fdopendir(fdDirectory) else {
            close(fdDirectory)
            return
        }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            guard let fd = Self.number(entry), fd <= Int32.max else { continue }
            guard let inode = Self.socketInode(in: fdDirectory, entry), inodes.contains(inode)
            else { continue }
            result.descriptors[inode, default: []].append(Descriptor(pid: pid, fd: Int32(fd)))
        }
    }

    /// The entry's name as a decimal number, or nil ("." , "..", "self", "sys"...).
    private static func number(_ entry: UnsafeMutablePointer<dirent>) -> UInt64? {
        withUnsafeBytes(of: &entry.pointee.d_name) { name in
            var value: UInt64 = 0
            var digits = 0
            for byte in name {
                if byte == 0 { break }
                guard byte >= 48, byte <= 57, digits < 19 else { return nil }
                value = value * 10 + UInt64(byte - 48)
                digits += 1
            }
            return digits > 0 ? value : nil
        }
    }

    private static func socketInode(in directory: Int32,
                                    _ entry: UnsafeMutablePointer<dirent>) -> UInt64? {
        withUnsafeBytes(of: &entry.pointee.d_name) { name in
            name.withMemoryRebound(to: CChar.self) { chars in
                readSocketLink { readlinkat(directory, chars.baseAddress!, $0, $1) }
            }
        }
    }

    private static func socketInode(atPath path: String) -> UInt64? {
        readSocketLink { readlink(path, $0, $1) }
    }

    /// Reads a symlink with `read(buffer, capacity)` and parses `socket:[INODE]`.
    private static func readSocketLink(
        _ read: (UnsafeMutablePointer<CChar>, Int) -> Int
    ) -> UInt64? {
        // "socket:[" + up to 20 digits + "]" fits; anything longer is not a socket link.
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 40) { buffer in
            let length = read(buffer.baseAddress!, buffer.count)
            guard length > 0, length < buffer.count else { return nil }
            return parseSocketLink(UnsafeRawBufferPointer(
                rebasing: UnsafeRawBufferPointer(buffer)[0..<length]))
        }
    }

    /// `socket:[4242]` -> 4242; nil for anything else (`pipe:[...]`, paths, `socket:[]`).
    static func parseSocketLink(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        let prefix: [UInt8] = Array("socket:[".utf8)
        guard bytes.count > prefix.count + 1, bytes.count <= prefix.count + 21,
              bytes.last == UInt8(ascii: "]"),
              zip(bytes, prefix).allSatisfy({ $0 == $1 })
        else { return nil }
        var value: UInt64 = 0
        for byte in bytes[prefix.count..<(bytes.count - 1)] {
            guard byte >= 48, byte <= 57 else { return nil }
            let (product, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = product.addingReportingOverflow(UInt64(byte - 48))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }
}
