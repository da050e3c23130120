import PortwardCore
import SystemPackage

/// Who holds the declared ports: dumps the sockets on those ports with sock_diag (filtered
/// in the kernel), finds the processes holding each socket inode in /proc, and describes
/// them as `Holder`s. Sees the network namespace (netns) the process was in when this
/// object was created, and the pid namespace of the /proc mounted at `procRoot`.
///
/// Meant to be called every poll. The inode -> descriptor answers are cached until the
/// socket disappears from the dump; a cached descriptor is re-checked with one readlink per
/// call, and only new sockets (or ones whose known descriptors were all closed) pay for a
/// /proc scan. Sockets that no readable process holds are cached as such, so a kernel-held
/// or unreadable socket does not cost a scan every poll. Limitation: a process that
/// inherits an already attributed socket later (fork) is not noticed while the original
/// holder keeps it open; `invalidate()` forgets everything.
///
/// Not thread-safe (it owns a `SockDiag`): use from one thread or actor.
public final class HolderLookup {
    /// The answer for one call.
    public struct Report: Hashable, Sendable {
        /// The sockets whose local port is in the asked set, in sock_diag dump order
        /// (protocol, family, kernel order), each with its holders.
        public var sockets: [HeldSocket]
        /// True when some socket held by a process (inode != 0) has no holder because a
        /// process's fds could not be read: run as root (or with CAP_SYS_PTRACE) for a full
        /// answer. Also true when `procRoot` itself could not be read, and when /proc is
        /// mounted with `hidepid` (`ProcMount`) and such a socket has no visible holder.
        /// Each socket's `attribution` says which.
        public var attributionIncomplete: Bool

        public init(sockets: [HeldSocket], attributionIncomplete: Bool) {
            self.sockets = sockets
            self.attributionIncomplete = attributionIncomplete
        }
    }

    private struct CachedInode {
        var descriptors: [ProcFdScanner.Descriptor]
        /// The scan that produced `descriptors` met an unreadable process.
        var permissionLimited: Bool
    }

    private let sockDiag: any SocketDiagnostics
    private let scanner: ProcFdScanner
    private let processes: ProcessTable
    private var cache: [UInt64: CachedInode] = [:]

    /// - Parameters:
    ///   - procRoot: the proc mount for the fd scan and process details.
    ///   - processes: how pids become `Holder`s; by default a `ProcessTable` over
    ///     `procRoot` using `systemdUnit(ofPID:)`.
    ///   - sockDiag: where the sockets come from; by default a new `SockDiag` (netlink).
    /// - Throws: `Errno` from opening the netlink socket (see `SockDiag.init`).
    public init(procRoot: String = "/proc", processes: ProcessTable? = nil,
                sockDiag: (any SocketDiagnostics)? = nil) throws(Errno) {
        if let sockDiag { self.sockDiag = sockDiag } else { self.sockDiag = try SockDiag() }
        self.scanner = ProcFdScanner(procRoot: procRoot)
        self.processes = processes ?? ProcessTable(procRoot: procRoot)
    }

    /// The sockets of `protocols` whose local port is in `ports`, with their holders;
    /// sockets whose inode is in `excluding` are left out before any holder is looked up.
    ///
    /// - Throws: `Errno` from the sock_diag dump (see `SockDiag.sockets`). A /proc that
    ///   cannot be read is not an error: the report says `attributionIncomplete`.
    public func holders(of ports: PortSet, protocols: ProtocolSet = .all, excluding: Set<UInt64> = []) throws(Errno) -> Report {
        var records = try sockDiag.sockets(protocols: protocols, families: [.ipv4, .ipv6], sourcePorts: ports)
        if !excluding.isEmpty { records.removeAll { excluding.contains($0.inode) } }
        let live = Set(records.map(\.inode).filter { $0 != 0 })
        var procUnreadable = false

        // Forget closed sockets; re-check the remembered descriptors of the others.
        cache = cache.filter { live.contains($0.key) }
        for (inode, entry) in cache where !entry.descriptors.isEmpty {
            let valid = entry.descriptors.filter { scanner.stillHolds($0, inode: inode) }
            if valid.isEmpty {
                cache[inode] = nil
            } else if valid.count != entry.descriptors.count {
                cache[inode]?.descriptors = valid
            }
        }

        let unknown = live.subtracting(cache.keys)
        if !unknown.isEmpty {
            do {
                let scan = try scanner.scan(for: unknown)
                for inode in unknown {
                    cache[inode] = CachedInode(descriptors: scan.descriptors[inode] ?? [],
                                               permissionLimited: scan.permissionDenied)
                }
            } catch {
                procUnreadable = true
            }
        }

        var described: [Int32: Holder?] = [:]
        func holder(_ pid: Int32) -> Holder? {
            if let known = described[pid] { return known }
            let found = processes.holder(pid: pid)
            described[pid] = found
            return found
        }

        var incomplete = procUnreadable
        // Asked only when needed: a hidepid mount lists no other user's pid, so the scan
        // meets no permission error and would otherwise look complete.
        var hidden: Bool?
        var result: [HeldSocket] = []
        result.reserveCapacity(records.count)
        for record in records {
            var holders: [Holder] = []
            var attribution = HeldSocket.Attribution.complete
            if record.inode != 0 {
                if let entry = cache[record.inode] {
                    let pids = Set(entry.descriptors.map(\.pid)).sorted()
                    holders = pids.compactMap(holder)
                    if entry.permissionLimited { attribution = .needsRoot }
                } else if procUnreadable {
                    attribution = .procUnreadable
                }
                // A hidepid mount wins over a permission error met on some visible process:
                // the holder is most likely one of the processes not listed at all.
                if holders.isEmpty && (attribution == .complete || attribution == .needsRoot) {
                    if hidden == nil { hidden = ProcMount.hidesOtherProcesses(procRoot: scanner.procRoot) }
                    if hidden == true { attribution = .hidepid }
                }
                if holders.isEmpty && attribution != .complete { incomplete = true }
            }
            result.append(HeldSocket(socket: record, holders: holders, attribution: attribution))
        }
        return Report(sockets: result, attributionIncomplete: incomplete)
    }

    /// Forgets every cached inode -> descriptor answer; the next call scans /proc for all.
    public func invalidate() {
        cache.removeAll()
    }
}
