/// One declared service: a line `NAME PORTS [PROTOCOLS] [OWNER] [OPTION=VALUE...]` of a
/// configuration file.
public struct PortEntry: Hashable, Sendable {
    /// Warnings about an entry that its line can acknowledge with `ack=` (portward.conf(5)),
    /// so that they are not printed at every start.
    public struct AcknowledgedWarnings: OptionSet, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// `ack=outside-range`: ports outside `ip_local_port_range`, reserved ahead on purpose.
        public static let outsideRange = AcknowledgedWarnings(rawValue: 1)
        /// `ack=rpc-range`: ports in 600-1023, where RPC daemons bind explicitly.
        public static let rpcRange = AcknowledgedWarnings(rawValue: 2)

        /// The `ack=` values, in the order documented.
        public static let names: [(name: String, warning: AcknowledgedWarnings)] =
            [("outside-range", .outsideRange), ("rpc-range", .rpcRange)]
    }

    /// Unique across all configuration files.
    public let name: String
    /// The declared ports (1...65535), after resolving service names, as sorted, merged
    /// ranges. Stored as ranges, not as a `PortSet` bitmap (8 KiB), so a configuration of
    /// tens of thousands of entries stays small.
    public let ranges: [PortRange]
    /// The PORTS column as written, e.g. `1812-1813` or `rsync`.
    public let portsText: String
    public let protocols: ProtocolSet
    public let owner: Owner
    /// Where the entry is declared: the start of its NAME column.
    public let location: SourceLocation
    /// The warnings the line acknowledges (`ack=`): the planner does not print them.
    public let acknowledged: AcknowledgedWarnings
    /// Where the entry applies (`netns=`; default `.host`, the daemon's own namespace).
    public let scope: EntryScope
    /// `guard=report-only`: the owner guard never acts for this entry (conflicts are only
    /// reported); `.on` (the default) lets the guard protect it when it can.
    public let guardMode: GuardMode

    /// The `guard=` option.
    public enum GuardMode: String, Hashable, Sendable {
        case on
        case reportOnly = "report-only"
    }

    public init(name: String, ports: PortSet, portsText: String, protocols: ProtocolSet,
                owner: Owner, location: SourceLocation, acknowledged: AcknowledgedWarnings = [],
                scope: EntryScope = .host, guardMode: GuardMode = .on) {
        self.guardMode = guardMode
        self.name = name
        self.scope = scope
        self.ranges = ports.ranges
        self.acknowledged = acknowledged
        self.portsText = portsText
        self.protocols = protocols
        self.owner = owner
        self.location = location
    }

    /// An entry whose ports are already sorted, merged ranges (no overlap, no adjacency), as
    /// `ConfigParser` produces them: skips the bitmap round trip of `init(name:ports:...)`,
    /// which dominated loading 65,535 single-port entries.
    public init(name: String, ranges: [PortRange], portsText: String, protocols: ProtocolSet,
                owner: Owner, location: SourceLocation, acknowledged: AcknowledgedWarnings = [],
                scope: EntryScope = .host, guardMode: GuardMode = .on) {
        self.guardMode = guardMode
        self.name = name
        self.scope = scope
        self.ranges = ranges
        self.acknowledged = acknowledged
        self.portsText = portsText
        self.protocols = protocols
        self.owner = owner
        self.location = location
    }

    /// The declared ports as a set (built on each call: 8 KiB, 1,024 words).
    public var ports: PortSet { PortSet(ranges: ranges) }

    /// Kernel notation of the declared ports, e.g. `1812-1813,1645`.
    public var portsDescription: String { ranges.map(\.description).joined(separator: ",") }

    /// Number of declared ports.
    public var portCount: Int { ranges.reduce(0) { $0 + $1.count } }

    /// True when `port` is one of the declared ports (binary search over `ranges`).
    public func declares(_ port: UInt16) -> Bool {
        var low = 0, high = ranges.count - 1
        while low <= high {
            let mid = (low + high) / 2
            if ranges[mid].upper < port { low = mid + 1 }
            else if ranges[mid].lower > port { high = mid - 1 }
            else { return true }
        }
        return false
    }
}
