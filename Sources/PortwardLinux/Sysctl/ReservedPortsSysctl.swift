import PortwardCore

/// The two kernel keys portward works with, for the network namespace of the calling
/// process: `net.ipv4.ip_local_reserved_ports` (also governs IPv6) and
/// `net.ipv4.ip_local_port_range`.
public struct ReservedPortsSysctl: Sendable {
    public let reservedPorts: SysctlFile
    public let localPortRange: SysctlFile

    /// `procSys` is the mount point of the sysctl tree (default `/proc/sys`); `io` performs
    /// the file operations (a seam for fault injection).
    public init(procSys: String = "/proc/sys", io: any SysctlIO = SystemSysctlIO()) {
        reservedPorts = SysctlFile(name: "net.ipv4.ip_local_reserved_ports", procSys: procSys, io: io)
        localPortRange = SysctlFile(name: "net.ipv4.ip_local_port_range", procSys: procSys, io: io)
    }

    /// The reserved ports now. Throws `SysctlError` (open/read errno, or `.malformed`).
    ///
    /// The kernel always ends the value with a newline (`"\n"` alone when empty); a value
    /// without one was cut short (a truncated read could end inside a number: `1812,50`
    /// for `1812,5000`) and is rejected as `.malformed` rather than planned from: a plan built
    /// on a partial value would drop the missing foreign ports.
    public func read() throws(SysctlError) -> PortSet {
        let text = try reservedPorts.read()
        guard text.utf8.last == UInt8(ascii: "\n") else {
            throw .malformed(path: reservedPorts.path,
                             reason: "truncated value (\(text.utf8.count) bytes without the trailing newline)")
        }
        do { return try ReservedPortsValue.decode(text) }
        catch { throw .malformed(path: reservedPorts.path, reason: error.description) }
    }

    /// The ephemeral port range, or nil when it cannot be read or parsed.
    public func readLocalPortRange() -> PortRange? {
        (try? localPortRange.read()).flatMap(LocalPortRangeValue.decode)
    }

    /// Writes `target`, reads the key back, and checks that it holds every port of `target`.
    /// Returns the value read back (which may hold more: another writer may have added
    /// ports meanwhile). Throws `SysctlError`, including `.verifyFailed` listing the missing
    /// ports.
    ///
    /// Crash safety (a SIGKILL, power loss or a kernel error between two `write()` calls):
    /// - an encoded value of at most `SysctlFile.maximumAtomicWrite` (4,095) bytes is one
    ///   `write()` at offset 0: the kernel swaps the whole set at once;
    /// - a longer value is written in up to two phases. Phase 1 (`.merge`, offset 1) ORs in
    ///   the ports of `target` the kernel lacks; every intermediate value is `current` plus
    ///   some of them, so nothing is ever removed. Phase 2 runs only when some port must be
    ///   removed (`current` has ports `target` lacks): a `.replace` write whose first chunk
    ///   (at most 4,095 bytes, which alone replaces the set) holds, in that order of
    ///   priority, the ranges of `target` touching `preserving` (foreign reservations), then
    ///   those touching `current` (ports kept), then the rest; later chunks OR in the rest.
    ///   When `preserving` and the kept ports fit in that first chunk (about 340 scattered
    ///   ports or ranges), no port that is in both the old and the new value is ever absent.
    ///   Past that, ports of `target` outside the first chunk are absent between the first
    ///   and second `write()` (microseconds). The kernel offers no atomic replace of a longer
    ///   value, so `Reconciler.commit` records `preserving` in the in-flight state first: if
    ///   the write is cut there, the next plan adds the missing foreign ports back (and the
    ///   declared ones, as always).
    @discardableResult
    public func write(_ target: PortSet, preserving: PortSet = PortSet()) throws(SysctlError) -> PortSet {
        let encoded = ReservedPortsValue.encode(target)
        if encoded.utf8.count <= SysctlFile.maximumAtomicWrite {
            try reservedPorts.write(encoded)
        } else {
            let current = try read()
            let missing = target.subtracting(current)
            if !missing.isEmpty {
                try reservedPorts.write(ReservedPortsValue.encode(missing), mode: .merge)
            }
            if !current.subtracting(target).isEmpty {
                let text = Self.replacementText(target, first: [preserving, current])
                try reservedPorts.write(text, mode: .replace)
            }
        }
        let readBack = try read()
        let missing = target.subtracting(readBack)
        guard missing.isEmpty else {
            throw .verifyFailed(path: reservedPorts.path, missing: missing.description)
        }
        return readBack
    }

    /// The ranges of `target` as a value whose first `SysctlFile.maximumAtomicWrite` bytes
    /// hold whole items, chosen greedily: ranges touching `first[0]`, then `first[1]`, ...,
    /// then the rest, each group in ascending order. The kernel accepts unsorted items.
    static func replacementText(_ target: PortSet, first priorities: [PortSet]) -> String {
        let ranges = target.ranges
        var placed = [Bool](repeating: false, count: ranges.count)
        var head: [String] = []
        var budget = SysctlFile.maximumAtomicWrite
        for priority in priorities where !priority.isEmpty {
            for (i, range) in ranges.enumerated() where !placed[i] && budget > 1 {
                guard (range.lower...range.upper).contains(where: priority.contains) else { continue }
                let item = range.description
                guard item.utf8.count + 1 <= budget else { continue }
                budget -= item.utf8.count + 1
                head.append(item)
                placed[i] = true
            }
        }
        let tail = ranges.indices.filter { !placed[$0] }.map { ranges[$0].description }
        return (head + tail).joined(separator: ",") + "\n"
    }
}
