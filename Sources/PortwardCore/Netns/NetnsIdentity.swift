/// The identity of a network namespace: the `(st_dev, st_ino)` pair of its nsfs inode, as
/// `stat(2)` reports it for `/proc/PID/ns/net` or for a bind mount of that file (e.g.
/// `/run/netns/NAME`). Two references name the same namespace exactly when their pairs are
/// equal; the inode alone is what `ip netns identify`, `lsns` and `readlink
/// /proc/PID/ns/net` (`net:[INODE]`) show, and is unique while the nsfs device is the only
/// one (always so far), so `description` prints only the inode.
public struct NetnsIdentity: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// `st_dev` of the nsfs inode.
    public let device: UInt64
    /// `st_ino` of the nsfs inode (the number in `net:[INODE]`).
    public let inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    public static func < (a: Self, b: Self) -> Bool { (a.device, a.inode) < (b.device, b.inode) }

    /// `net:[INODE]`, the form of the `/proc/PID/ns/net` link.
    public var description: String { "net:[\(inode)]" }
}

/// Where a network namespace was seen.
public enum NetnsReference: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// A file in a bind-mount folder (`/run/netns/NAME`, `/run/docker/netns/ID`, ...) that is
    /// a mount of an nsfs inode. `folder` says which folder convention it follows.
    case bindMount(path: String, folder: NetnsFolder)
    /// `/proc/PID/ns/net` of a process (the thread-group leader); `command` is its `comm`.
    case process(pid: Int32, command: String)

    /// A path that opens the namespace (for `setns`): the bind mount, or `/proc/PID/ns/net`.
    public var path: String {
        switch self {
        case .bindMount(let path, _): path
        case .process(let pid, _): "/proc/\(pid)/ns/net"
        }
    }

    /// The `ip netns` name when the reference is a file directly in `/run/netns`.
    public var ipNetnsName: String? {
        guard case .bindMount(let path, .named) = self else { return nil }
        return path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init)
    }

    /// Bind mounts first (by folder, then path), then processes by pid: a bind mount outlives
    /// any process, so it is the better handle.
    public static func < (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.bindMount(let p, let f), .bindMount(let q, let g)): (f.rank, p) < (g.rank, q)
        case (.bindMount, .process): true
        case (.process, .bindMount): false
        case (.process(let p, _), .process(let q, _)): p < q
        }
    }

    public var description: String {
        switch self {
        case .bindMount(let path, _): path
        case .process(let pid, let command): "pid \(pid) (\(command))"
        }
    }
}

/// The bind-mount folders where tools pin network namespaces. Defaults read in each tool's
/// source (see docs/netns.md):
/// - `named`: `/run/netns` (`/var/run/netns` is the same folder on systems where `/var/run`
///   links to `/run`): `ip netns add`, and also rootful podman (`netns-UUID`), containerd's
///   CRI and nerdctl (`cni-UUID`), CRI-O and `cnitool`;
/// - `docker`: `/run/docker/netns` (sandbox ids; `default` is the host's own namespace);
/// - `rootlessPodman`: `/run/user/UID/netns` (`$XDG_RUNTIME_DIR/netns`).
public enum NetnsFolder: String, Hashable, Sendable, Codable, CaseIterable {
    case named
    case docker
    case rootlessPodman

    fileprivate var rank: Int {
        switch self {
        case .named: 0
        case .docker: 1
        case .rootlessPodman: 2
        }
    }
}

/// Who owns a namespace, when cheaply known from a process's cgroup path.
public struct NetnsOwner: Hashable, Sendable, Codable, CustomStringConvertible {
    /// `docker`, `podman`, `containerd`, `cri-o`, `nspawn` or `kubernetes` (a pod whose
    /// runtime is not recognised).
    public let runtime: String
    /// The container id (64 hex digits for docker/podman/containerd/cri-o), or the machine
    /// name for nspawn; nil when only the pod is known.
    public let container: String?
    /// The Kubernetes pod UID (dashes restored), when the cgroup is under `kubepods`.
    public let pod: String?

    public init(runtime: String, container: String?, pod: String? = nil) {
        self.runtime = runtime
        self.container = container
        self.pod = pod
    }

    public var description: String {
        var text = runtime
        if let container { text += " \(container.count == 64 ? String(container.prefix(12)) : container)" }
        if let pod { text += " pod \(pod)" }
        return text
    }
}

/// One network namespace found on the host, with every reference that reached it.
public struct DiscoveredNetns: Hashable, Sendable, CustomStringConvertible {
    public let identity: NetnsIdentity
    /// Sorted (bind mounts first, then pids ascending); never empty.
    public let references: [NetnsReference]
    /// From the cgroup of the first process that names one, if any.
    public let owner: NetnsOwner?
    /// True for the namespace of the process that ran the discovery (the daemon's own, the
    /// "host" scope).
    public let isOwn: Bool

    public init(identity: NetnsIdentity, references: [NetnsReference], owner: NetnsOwner?, isOwn: Bool) {
        self.identity = identity
        self.references = references.sorted()
        self.owner = owner
        self.isOwn = isOwn
    }

    /// The `ip netns` names (files in `/run/netns`), sorted.
    public var names: [String] { references.compactMap(\.ipNetnsName) }

    /// The path to open it with: the first reference's.
    public var path: String { references[0].path }

    /// The pids that hold it (ascending).
    public var pids: [Int32] {
        references.compactMap { if case .process(let pid, _) = $0 { pid } else { nil } }
    }

    public var description: String {
        var text = identity.description
        if let name = names.first { text += " \(name)" } else { text += " \(references[0])" }
        if let owner { text += " [\(owner)]" }
        return text
    }
}

/// Merging the sightings of one discovery pass into one record per namespace.
public enum NetnsDeduplication {
    /// One sighting: the identity `stat` gave for a reference, and the owner read for it
    /// (for a process: from its cgroup; nil when unknown).
    public struct Sighting: Hashable, Sendable {
        public let identity: NetnsIdentity
        public let reference: NetnsReference
        public let owner: NetnsOwner?

        public init(identity: NetnsIdentity, reference: NetnsReference, owner: NetnsOwner? = nil) {
            self.identity = identity
            self.reference = reference
            self.owner = owner
        }
    }

    /// Groups `sightings` by identity. Each result has its references sorted and
    /// deduplicated (the same path seen twice counts once), the owner of its lowest-pid
    /// process that has one (for a pod, the pause container started first), and `isOwn`
    /// set when its identity is `own`. Results are sorted: `own` first, then by identity.
    public static func merge(_ sightings: [Sighting], own: NetnsIdentity?) -> [DiscoveredNetns] {
        var groups: [NetnsIdentity: [Sighting]] = [:]
        for sighting in sightings { groups[sighting.identity, default: []].append(sighting) }
        return groups.map { identity, group in
            let sorted = group.sorted { $0.reference < $1.reference }
            var seen = Set<NetnsReference>()
            let references = sorted.map(\.reference).filter { seen.insert($0).inserted }
            let owner = sorted.lazy.compactMap(\.owner).first
            return DiscoveredNetns(identity: identity, references: references, owner: owner,
                                   isOwn: identity == own)
        }.sorted { a, b in a.isOwn != b.isOwn ? a.isOwn : a.identity < b.identity }
    }
}
