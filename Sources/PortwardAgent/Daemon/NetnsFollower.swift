import Glibc
import PortwardCore
import PortwardLinux

/// The daemon's part for `netns=` entries that reach other network namespaces (`all`, name
/// globs; docs/netns.md): at every rescan, finds the namespaces (`NetnsDiscovery`) and, in
/// each one an entry selects, plans and commits that namespace's entries through a
/// `ReservationTransaction` of its own target (`TargetContext.forNetns`: state file and lock
/// in `/run/portward/netns/INODE/`, the key reached by entering the namespace with
/// `NetnsSysctlIO`). So the host's merge rules hold there too: other writers' ports are
/// kept, ports portward added and no longer declared are released, and declared ports
/// another writer removed are restored (drift, repaired at the rescan cadence).
///
/// A namespace portward has a state folder for is followed even when no entry selects it
/// any more (a reload, a renamed namespace): its ports are then released and the folder
/// removed. A namespace that is gone (not found, or vanished while being opened) loses its
/// folder without a journal line. The daemon's own namespace is never handled here (the
/// host's transaction does it).
///
/// Journal: `netnsApplied` when a write happened, `netnsFailed` once per namespace until it
/// succeeds, at most `maximumEventsPerRescan` lines per rescan plus one count.
///
/// Not thread-safe: call from the daemon's loop only.
final class NetnsFollower {
    /// Opens the key of a discovered namespace (`NetnsHandle` + `NetnsSysctlIO` by
    /// default: `NetnsSysctl.keys(of:)`). Throws `NetnsError` (`.vanished` is silent).
    typealias Opener = (DiscoveredNetns) throws(NetnsError) -> ReservedPortsSysctl

    static let maximumEventsPerRescan = 5

    private let context: TargetContext
    private let force: Bool
    /// Discovery; the argument says whether to scan processes too (false: the folders only,
    /// after an inotify event).
    private let discover: (_ includeProcesses: Bool) -> [DiscoveredNetns]
    private let open: Opener
    private let log: (JournalEvent) -> Void
    /// Every entry, whatever its scope.
    private(set) var configuration: Configuration
    /// Namespaces whose last attempt failed (logged once).
    private var failing: Set<NetnsIdentity> = []
    /// The namespaces selected by the last rescan, with their names (status, tests).
    private(set) var followed: [DiscoveredNetns] = []

    init(context: TargetContext, configuration: Configuration, force: Bool,
         discover: @escaping (_ includeProcesses: Bool) -> [DiscoveredNetns], open: @escaping Opener,
         log: @escaping (JournalEvent) -> Void) {
        self.context = context
        self.configuration = configuration
        self.force = force
        self.discover = discover
        self.open = open
        self.log = log
    }

    /// Replaces the configuration (after a valid reload) and applies it at once.
    func reload(_ configuration: Configuration) {
        self.configuration = configuration
        rescan()
    }

    /// One pass: discovery, then one transaction per namespace an entry selects or that
    /// has a state folder. Costs nothing but one `opendir` when no entry reaches other
    /// namespaces and no state folder is left. `foldersOnly` (after an inotify event on a
    /// bind-mount folder): discovery skips processes, and nothing is taken as gone.
    func rescan(foldersOnly: Bool = false) {
        let folders = stateFolders()
        guard configuration.followsNamespaces || !folders.isEmpty else {
            followed = []
            return
        }
        var events: [JournalEvent] = []
        var more = 0
        func report(_ event: JournalEvent) {
            if events.count < Self.maximumEventsPerRescan { events.append(event) } else { more += 1 }
        }
        var present = Set<String>()
        var selected: [DiscoveredNetns] = []
        for netns in discover(!foldersOnly) where !netns.isOwn {
            let inode = String(netns.identity.inode)
            present.insert(inode)
            let scoped = configuration.scoped(to: netns)
            guard !scoped.entries.isEmpty || folders.contains(inode) else { continue }
            if !scoped.entries.isEmpty { selected.append(netns) }
            apply(scoped, to: netns, report: report)
        }
        if !foldersOnly {
            for inode in folders where !present.contains(inode) { removeFolder(inode) }
            failing = failing.filter { present.contains(String($0.inode)) }
            followed = selected
        } else {
            followed += selected.filter { netns in !followed.contains { $0.identity == netns.identity } }
        }
        for event in events { log(event) }
        if more > 0 { log(.netnsAppliedMore(more)) }
    }

    private func apply(_ scoped: Configuration, to netns: DiscoveredNetns, report: (JournalEvent) -> Void) {
        let name = netns.names.first ?? netns.path
        let sysctl: ReservedPortsSysctl
        do { sysctl = try open(netns) } catch {
            if case .vanished = error {
                removeFolder(String(netns.identity.inode))
            } else {
                failed(netns, name: name, reason: "\(error)", report: report)
            }
            return
        }
        let target = context.forNetns(netns.identity)
        let previouslyOwned = (try? target.stateStore.load())?.ownedPorts ?? PortSet()
        switch ReservationTransaction(context: target, sysctl: sysctl).run(scoped, force: force, wait: 0) {
        case .success(let committed):
            failing.remove(netns.identity)
            let added = committed.plan.added
            if committed.wrote, !added.isEmpty {
                report(.netnsApplied(netns.identity, name: name, added: added,
                                     repair: !added.intersection(previouslyOwned).isEmpty))
            }
            if scoped.entries.isEmpty { removeFolder(String(netns.identity.inode)) }
        case .failure(.busy), .failure(.skipped):
            break  // next rescan
        case .failure(let failure):
            failed(netns, name: name, reason: "\(failure)", report: report)
        }
    }

    private func failed(_ netns: DiscoveredNetns, name: String, reason: String, report: (JournalEvent) -> Void) {
        guard failing.insert(netns.identity).inserted else { return }
        report(.netnsFailed(netns.identity, name: name, reason: reason))
    }

    /// The inode names of `/run/portward/netns/*`.
    private func stateFolders() -> Set<String> {
        let directory = TargetContext.netnsDirectory(context.runtimeDirectory)
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names = Set<String>()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.isEmpty, name.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { names.insert(name) }
        }
        return names
    }

    /// Removes a namespace's folder (its state file and lock): the namespace is gone, or
    /// holds no port of portward's any more.
    private func removeFolder(_ inode: String) {
        let folder = TargetContext.netnsDirectory(context.runtimeDirectory) + "/" + inode
        for name in ["state.json", "lock"] { unlink(folder + "/" + name) }
        rmdir(folder)
    }
}
