import PortwardCore

/// The two kernel keys portward works with, for the network namespace of the calling
/// process: `net.ipv4.ip_local_reserved_ports` (also governs IPv6) and
/// `net.ipv4.ip_local_port_range`.
public struct ReservedPortsSysctl: Sendable {
    public let reservedPorts: SysctlFile
    public let localPortRange: SysctlFile

    /// `procSys` is the mount point of the sysctl tree (default `/proc/sys`).
    public init(procSys: String = "/proc/sys") {
        reservedPorts = SysctlFile(name: "net.ipv4.ip_local_reserved_ports", procSys: procSys)
        localPortRange = SysctlFile(name: "net.ipv4.ip_local_port_range", procSys: procSys)
    }

    /// The reserved ports now. Throws `SysctlError` (open/read errno, or `.malformed`).
    public func read() throws(SysctlError) -> PortSet {
        let text = try reservedPorts.read()
        do { return try ReservedPortsValue.decode(text) }
        catch { throw .malformed(path: reservedPorts.path, reason: error.description) }
    }

    /// The ephemeral port range, or nil when it cannot be read or parsed.
    public func readLocalPortRange() -> PortRange? {
        (try? localPortRange.read()).flatMap(LocalPortRangeValue.decode)
    }

    /// Writes `target` (encoded as sorted merged ranges), reads the key back, and checks
    /// that it holds every port of `target`. Returns the value read back (which may hold
    /// more: another writer may have added ports meanwhile). Throws `SysctlError`, including
    /// `.verifyFailed` listing the missing ports.
    @discardableResult
    public func write(_ target: PortSet) throws(SysctlError) -> PortSet {
        try reservedPorts.write(ReservedPortsValue.encode(target))
        let readBack = try read()
        let missing = target.subtracting(readBack)
        guard missing.isEmpty else {
            throw .verifyFailed(path: reservedPorts.path, missing: missing.description)
        }
        return readBack
    }
}
