/// Where an entry applies (the per-entry scope of docs/netns.md). The parser does not
/// produce it yet; the daemon can already filter discovered namespaces with it.
public enum NetnsScope: Hashable, Sendable {
    /// The daemon's own network namespace (the default, as today).
    case host
    /// `ip netns` namespaces whose name matches one of the patterns (`NetnsGlob`).
    case named([String])
    /// Every network namespace found on the host, the daemon's own included.
    case all
    /// Pod namespaces, reached only through the CNI plugin (never by discovery).
    case pods

    /// True when discovery should apply an entry of this scope to `netns`.
    public func selects(_ netns: DiscoveredNetns) -> Bool {
        switch self {
        case .host: netns.isOwn
        case .all: true
        case .pods: false
        case .named(let patterns):
            netns.names.contains { name in patterns.contains { NetnsGlob.matches($0, name) } }
        }
    }
}
