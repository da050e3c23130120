/// What portward remembers between runs (the state file under /run/portward/): which
/// reserved ports portward itself added to the kernel, and which declaration added them.
///
/// Ports in the kernel value that are not listed here belong to someone else (sysctl.d,
/// Kubernetes, Cilium, an administrator) and are never removed. /run is emptied at boot,
/// exactly when the kernel's per-netns value is reset too.
public struct ReservationState: Codable, Equatable, Sendable {
    /// Format version of the state file; a reader rejects versions it does not know.
    public static let currentVersion = 1

    public var version: Int
    /// Ports portward added, grouped by the entry that declared them.
    public var owned: [OwnedPorts]
    /// Only while a write is under way (kernel notation): the other writers' ports the
    /// write keeps. A write longer than 4,095 bytes that must remove ports can leave some of
    /// them absent for a moment (the kernel replaces the set with the first chunk); if the
    /// write is cut there, the next plan adds the missing ones back. Absent (nil) in a
    /// state saved after a complete write, and in files from before this field.
    public var pendingForeign: String?
    /// When portward's writes put its owned ports into the kernel (`ReservationTimes`):
    /// lets `status` tell an explicit bind after the reservation from an ephemeral grab.
    /// Absent (nil) in files from before this field: those ports' times are unknown.
    public var reservedSince: [ReservationTimes.Record]?

    /// One declaration's share of the owned ports.
    public struct OwnedPorts: Codable, Equatable, Sendable {
        /// Kernel notation, e.g. `1812-1813,1645`.
        public var ports: String
        public var entry: String
        public var file: String
        public var line: Int

        public init(ports: String, entry: String, file: String, line: Int) {
            self.ports = ports
            self.entry = entry
            self.file = file
            self.line = line
        }
    }

    public init(owned: [OwnedPorts] = [], pendingForeign: PortSet? = nil) {
        self.version = Self.currentVersion
        self.owned = owned
        self.pendingForeign = pendingForeign?.description
    }

    /// The ports of `pendingForeign`; empty when it is absent or does not parse (then
    /// nothing is restored).
    public var pendingForeignPorts: PortSet {
        pendingForeign.flatMap { try? ReservedPortsValue.decode($0) } ?? PortSet()
    }

    /// The union of all owned ports. Records whose `ports` do not parse are skipped (a
    /// damaged record can only make portward treat its ports as foreign, never remove
    /// someone else's).
    public var ownedPorts: PortSet {
        // Fast path: every record in one decode (one set, not one 8 KiB set per record:
        // 65,535 records must stay cheap). Any damaged record falls back to the loop.
        if let all = try? ReservedPortsValue.decode(owned.map(\.ports).joined(separator: ",")) { return all }
        var set = PortSet()
        for record in owned {
            if let ports = try? ReservedPortsValue.decode(record.ports) { set.formUnion(ports) }
        }
        return set
    }
}
