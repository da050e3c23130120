/// The merged configuration: the entries of the main file and of every effective drop-in,
/// in reading order, and the ports they declare.
///
/// Build it with `merge(_:)`, which checks the rules that span entries and files:
/// - NAME is unique across all files (error at the later entry, note at the first);
/// - a port may be declared by several entries only if, for every protocol they share,
///   they name the same owner (error at the later entry's PORTS column, note at the
///   first). `-` is an owner like any other here: `-` and `unit:x.service` conflict.
public struct Configuration: Hashable, Sendable {
    /// The valid entries in reading order (main file, then drop-ins in lexical order; file
    /// order within a file). An entry whose NAME repeats an earlier one is left out.
    public let entries: [PortEntry]
    /// Union of all entries' ports, whatever their protocols: `ip_local_reserved_ports`
    /// has one key for TCP, UDP and SCTP.
    public let declaredPorts: PortSet

    /// Wraps entries without checking the cross-entry rules (for callers that built them).
    public init(entries: [PortEntry]) {
        self.entries = entries
        var ports = PortSet()
        for entry in entries { for range in entry.ranges { ports.insert(range) } }
        declaredPorts = ports
    }

    /// The empty configuration.
    public init() { self.init(entries: []) }

    /// The entries that apply to the daemon's own namespace (`netns=` absent, `host` or
    /// `all`), in reading order: what `apply`, `status` and the daemon plan for the host.
    /// The same value when every entry is host-scoped.
    public var hostScoped: Configuration {
        entries.allSatisfy(\.scope.includesHost) ? self : Configuration(entries: entries.filter(\.scope.includesHost))
    }

    /// The entries that discovery applies to `netns` (`EntryScope.selects`), in reading
    /// order.
    public func scoped(to netns: DiscoveredNetns) -> Configuration {
        Configuration(entries: entries.filter { $0.scope.selects(netns) })
    }

    /// The ports the CNI plugin reserves in a pod's namespace: those of the entries with
    /// `netns=pods` or `netns=all` (`EntryScope.includesPods`).
    public var podPorts: PortSet {
        var ports = PortSet()
        for entry in entries where entry.scope.includesPods { for range in entry.ranges { ports.insert(range) } }
        return ports
    }

    /// True when some entry reaches namespaces other than the daemon's own (`all` or a
    /// name glob): the daemon then follows namespaces.
    public var followsNamespaces: Bool { entries.contains(where: \.scope.followsNamespaces) }

    /// True when some entry is not scoped exactly `host`.
    public var hasScopes: Bool { entries.contains { $0.scope != .host } }

    /// The entries declaring `port`, optionally only those covering `proto`, in reading
    /// order.
    public func entries(declaring port: UInt16, protocol proto: TransportProtocol? = nil) -> [PortEntry] {
        guard declaredPorts.contains(port) else { return [] }
        return entries.filter { entry in
            entry.declares(port) && (proto.map { entry.protocols.contains(ProtocolSet($0)) } ?? true)
        }
    }

    /// The first entry declaring `port` (for `proto` when given), or nil.
    public func entry(declaring port: UInt16, protocol proto: TransportProtocol? = nil) -> PortEntry? {
        entries(declaring: port, protocol: proto).first
    }

    /// The entry called `name`, or nil.
    public func entry(named name: String) -> PortEntry? {
        entries.first { $0.name == name }
    }

    /// Merges parsed files given in reading order and checks the cross-entry rules.
    ///
    /// Returns the configuration and every diagnostic: each file's own, in order, then the
    /// cross-entry errors (each followed by its note). The configuration is meant to be
    /// applied only when no diagnostic is an error.
    public static func merge(_ files: [ConfigParser.Result]) -> (configuration: Configuration, diagnostics: [Diagnostic]) {
        var diagnostics: [Diagnostic] = files.flatMap(\.diagnostics)
        var kept: [ConfigParser.ParsedEntry] = []
        var firstByName: [String: Int] = [:]
        firstByName.reserveCapacity(files.reduce(0) { $0 + $1.entries.count })
        for file in files {
            for parsed in file.entries {
                if let first = firstByName[parsed.entry.name] {
                    let earlier = kept[first].entry
                    diagnostics.append(.error("duplicate NAME '\(parsed.entry.name)'", at: parsed.entry.location))
                    diagnostics.append(.note("'\(earlier.name)' first declared here", at: earlier.location))
                    continue
                }
                firstByName[parsed.entry.name] = kept.count
                kept.append(parsed)
            }
        }
        diagnostics += ownerConflicts(kept)
        return (Configuration(entries: kept.map(\.entry)), diagnostics)
    }

    /// For each protocol, the first entry (index into `entries`) claiming each port; a
    /// later entry with a different owner on a claimed port conflicts with that first one.
    /// Cost: one step per declared port and protocol; the claim tables span only the
    /// lowest to the highest declared port (a few hundred bytes for a typical host instead
    /// of 768 KiB of page faults on the boot path).
    private static func ownerConflicts(_ entries: [ConfigParser.ParsedEntry]) -> [Diagnostic] {
        let ranges = entries.lazy.flatMap(\.ranges)
        guard let lowest = ranges.map(\.lower).min(), let highest = ranges.map(\.upper).max() else { return [] }
        let base = Int(lowest)
        var claims = [[Int32]](repeating: [Int32](repeating: -1, count: Int(highest) - base + 1),
                               count: TransportProtocol.allCases.count)
        var diagnostics: [Diagnostic] = []
        for (index, parsed) in entries.enumerated() {
            let entry = parsed.entry
            // Earlier entry index -> overlapping ports (merged ranges, ascending) and protocols.
            var conflicts: [Int: (ranges: [PortRange], protocols: ProtocolSet)] = [:]
            var order: [Int] = []
            for (p, proto) in TransportProtocol.allCases.enumerated() where entry.protocols.contains(ProtocolSet(proto)) {
                for range in parsed.ranges {
                    for port in range.lower...range.upper {
                        let first = Int(claims[p][Int(port) - base])
                        if first < 0 {
                            claims[p][Int(port) - base] = Int32(index)
                        } else if entries[first].entry.owner != entry.owner {
                            if conflicts[first] == nil { order.append(first) }
                            var conflict = conflicts[first] ?? ([], [])
                            conflict.protocols.insert(ProtocolSet(proto))
                            if let last = conflict.ranges.last, port >= last.lower, port <= last.upper {
                                // Already recorded for another protocol.
                            } else if let last = conflict.ranges.last, Int(port) == Int(last.upper) + 1 {
                                conflict.ranges[conflict.ranges.count - 1] = PortRange(last.lower, port)
                            } else {
                                conflict.ranges.append(PortRange(port))
                            }
                            conflicts[first] = conflict
                        }
                    }
                }
            }
            for first in order {
                let other = entries[first]
                let conflict = conflicts[first]!
                let ports = PortSet(ranges: conflict.ranges)
                let noun = ports.count == 1 ? "port" : "ports"
                let protocols = conflict.protocols.members.map(\.rawValue).joined(separator: ",")
                diagnostics.append(.error(
                    "\(noun) \(ports) (\(protocols)) already declared by '\(other.entry.name)' with owner \(other.entry.owner), here with owner \(entry.owner)",
                    at: parsed.portsLocation))
                diagnostics.append(.note("'\(other.entry.name)' declared here", at: other.portsLocation))
            }
        }
        return diagnostics
    }
}
