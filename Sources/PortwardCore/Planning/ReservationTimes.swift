/// When each port portward owns went into the kernel's reserved ports, as stored in the
/// state file (`ReservationState.reservedSince`): a list of records, each a set of ports
/// (kernel notation) and the CLOCK_REALTIME second at which the write that added them
/// completed. A port's time is that of the newest record naming it; ports in no record
/// (reserved by another writer, or by a portward from before this field) have no time.
///
/// A process that started after its port's time cannot have got the port as an ephemeral
/// port: the kernel never picks a reserved one, so it bound the port explicitly.
public struct ReservationTimes: Hashable, Sendable {
    /// One write's share: `ports` (kernel notation) reserved since `at`.
    public struct Record: Codable, Hashable, Sendable {
        public var ports: String
        /// CLOCK_REALTIME seconds since the Unix epoch.
        public var at: Double

        public init(ports: String, at: Double) {
            self.ports = ports
            self.at = at
        }
    }

    /// Decoded records; ones whose ports do not parse are dropped.
    private let decoded: [(ports: PortSet, at: Double)]

    public static func == (a: Self, b: Self) -> Bool { a.records == b.records }
    public func hash(into hasher: inout Hasher) { hasher.combine(records) }

    public init(_ records: [Record] = []) {
        decoded = records.compactMap { record in
            (try? ReservedPortsValue.decode(record.ports)).map { ($0, record.at) }
        }
    }

    /// The records, one per distinct time, oldest first.
    public var records: [Record] {
        decoded.map { Record(ports: $0.ports.description, at: $0.at) }
    }

    /// When `port` went into the reservation; nil when unknown.
    public func reservedAt(_ port: UInt16) -> Double? {
        decoded.last { $0.ports.contains(port) }?.at
    }

    /// After a write at `now`: ports in `kept` (in the kernel before the write and still
    /// owned) keep their times, ports in `added` (owned, and written by this write) get
    /// `now`, every other port is forgotten. Records left empty are dropped.
    public func updated(kept: PortSet, added: PortSet, at now: Double) -> ReservationTimes {
        var records: [Record] = []
        for (ports, at) in decoded {
            let still = ports.intersection(kept).subtracting(added)
            if !still.isEmpty { records.append(Record(ports: still.description, at: at)) }
        }
        if !added.isEmpty { records.append(Record(ports: added.description, at: now)) }
        return ReservationTimes(records)
    }
}
