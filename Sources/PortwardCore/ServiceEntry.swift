/// One declared service: a line `NAME PORTS [PROTOCOLS] [OWNER]` of a configuration file.
public struct ServiceEntry: Hashable, Sendable {
    /// Unique across all configuration files.
    public let name: String
    /// The declared ports (1...65535), after resolving service names.
    public let ports: PortSet
    /// The PORTS column as written, e.g. `1812-1813` or `rsync`.
    public let portsText: String
    public let protocols: ProtocolSet
    public let owner: Owner
    /// Where the entry is declared: the start of its NAME column.
    public let location: SourceLocation

    public init(name: String, ports: PortSet, portsText: String, protocols: ProtocolSet,
                owner: Owner, location: SourceLocation) {
        self.name = name
        self.ports = ports
        self.portsText = portsText
        self.protocols = protocols
        self.owner = owner
        self.location = location
    }
}
