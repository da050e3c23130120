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

/// The scope of one configuration entry: the union of the items of its `netns=` option
/// (portward.conf(5)), e.g. `netns=host,vpn-*` is `[.host, .named(["vpn-*"])]`. Without the
/// option (and without a `netns=` line above it in its file) an entry is `host`-scoped:
/// it applies to the daemon's own namespace only, exactly as before scopes existed.
///
/// Invariants kept by `ConfigParser`: `items` is not empty, has each case at most once (all
/// globs in one `.named`, in written order, duplicates dropped), and `.all` stands alone.
public struct EntryScope: Hashable, Sendable, CustomStringConvertible {
    public let items: [NetnsScope]

    public init(_ items: [NetnsScope]) { self.items = items }

    /// The default: the daemon's own namespace.
    public static let host = EntryScope([.host])

    /// True when the entry applies to the daemon's own namespace (`host` or `all`): it is
    /// part of the host's configuration (`Configuration.hostScoped`).
    public var includesHost: Bool { items.contains { $0 == .host || $0 == .all } }

    /// True when the CNI plugin reserves the entry's ports in a pod's namespace (`pods`, or
    /// `all`: a pod's namespace is one of every namespace, covered at ADD time instead of at
    /// the daemon's next scan).
    public var includesPods: Bool { items.contains { $0 == .pods || $0 == .all } }

    /// True when discovery may select namespaces other than the daemon's own for the
    /// entry (`all` or a name glob): the daemon follows them.
    public var followsNamespaces: Bool {
        items.contains { item in if case .named = item { true } else { item == .all } }
    }

    /// The `ip netns` name patterns (empty when none).
    public var patterns: [String] {
        items.flatMap { item -> [String] in if case .named(let patterns) = item { patterns } else { [] } }
    }

    /// True when discovery applies the entry to `netns` (any item selects it).
    public func selects(_ netns: DiscoveredNetns) -> Bool { items.contains { $0.selects(netns) } }

    /// The option's value as written back: `host`, `all`, `pods`, `host,vpn-*`, ...
    public var description: String {
        items.map { item in
            switch item {
            case .host: "host"
            case .all: "all"
            case .pods: "pods"
            case .named(let patterns): patterns.joined(separator: ",")
            }
        }.joined(separator: ",")
    }
}
