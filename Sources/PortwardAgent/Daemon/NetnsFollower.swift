import Glibc
import PortwardCore
import PortwardLinux

/// The daemon's part for `netns=` entries that reach other network namespaces (`all`, name
/// globs; docs/netns.md): at every rescan, finds the namespaces (`NetnsDiscovery`) and, in
/// each one an entry selects, plans and commits that namespace's entries through a
/// `ReservationTransaction` of its own target (`TargetContext.forNetns`: state file and lock
/// in `/run/portward/netns/INODE-COOKIE/`, the key reached by entering the namespace with
/// `NetnsSysctlIO`). So the host's merge rules hold there too: other writers' ports are
/// kept, ports portward added and no longer declared are released, and declared ports
/// another writer removed are restored (drift, repaired at the rescan cadence).
///
/// A namespace portward has a state folder for is followed even when no entry selects it
/// any more (a reload, a renamed namespace): its ports are then released and the folder
/// removed. A namespace that is gone (not found, or vanished while being opened) loses its
/// folder without a journal line, and so does a folder of the same inode but another cookie
/// (a dead namespace whose inode a new one got: never inherited). The daemon's own namespace is never handled here (the
/// host's transaction does it).
///
/// Journal: `netnsApplied` when a write happened, `netnsFailed` once per namespace until it
/// succeeds, at most `maximumEventsPerRescan` lines per rescan plus one count. A refusal by
/// the daemon's own sandbox (`NetnsSandboxRefusal`: the unit lacks its namespace drop-in)
/// is the same for every namespace: one `degraded` line with the fix, once per process,
/// kept in `unavailable` for `status`.
///
/// Not thread-safe: call from the daemon's loop only.
final class NetnsFollower {
    /// Opens the key of a discovered namespace and reads its cookie (`NetnsHandle` +
    /// `NetnsSysctlIO` by default: `NetnsSysctl.open`). Throws `NetnsError` (`.vanished`
    /// is silent).
    typealias Opener = (DiscoveredNetns) throws(NetnsError) -> NetnsKeys

    static let maximumEventsPerRescan = 5
    /// Namespace lines (applied, failed, "N more") per `budgetPeriod` seconds over every
    /// rescan: folders-only rescans follow inotify events, which a user causes at will by
    /// making namespaces of its own and links to them in /run/user/UID/netns. The lines over
    /// the budget are counted in one line at the first rescan after the period.
    static let budgetPerPeriod = 30
    static let budgetPeriod = 60.0

    private let context: TargetContext
    private let force: Bool
    /// Discovery; the argument says whether to scan processes too (false: the folders only,
    /// after an inotify event).
    private let discover: (_ includeProcesses: Bool) -> [DiscoveredNetns]
    private let open: Opener
    private let log: (JournalEvent) -> Void
    /// CLOCK_MONOTONIC seconds, for the journal budget.
    private let now: () -> Double
    private var budgetStart: Double?
    private var budgetSent = 0
    private var budgetSuppressed = 0
    /// Every entry, whatever its scope.
    private(set) var configuration: Configuration
    /// Namespaces whose last attempt failed (logged once).
    private var failing: Set<NetnsIdentity> = []
    /// Why no other namespace can be reached (the sandbox refused; the message names the
    /// fix, `NetnsServiceDropIn.missingMessage`); nil until a refusal is seen.
    private(set) var unavailable: String?
    /// The namespaces selected by the last rescan, with their names (status, tests).
    private(set) var followed: [DiscoveredNetns] = []
    /// The followed namespaces whose last attempt did not fail: those whose reserved ports
    /// the daemon manages now (`portward_network_namespaces` is this plus its own).
    var managedCount: Int { followed.count { !failing.contains($0.identity) } }
    /// The cookies of the followed namespaces that were opened.
    private var cookies: [NetnsIdentity: UInt64] = [:]
    /// Changes whenever `guardTargets` may have (a namespace followed or dropped, a cookie,
    /// a reload): cheaper to compare than the targets themselves.
    private(set) var coverageGeneration = 0

    /// The followed namespaces for the owner guard: each one's cookie, name and the entries
    /// that select it, in `followed` order (those that could not be opened are left out).
    /// Built once per namespace and configuration (`targetCache`): with a thousand
    /// namespaces, selecting the entries of each at every change is what covering a new
    /// one would otherwise cost.
    var guardTargets: [NetnsGuardTarget] {
        var cache: [NetnsIdentity: (netns: DiscoveredNetns, target: NetnsGuardTarget)] = [:]
        defer { targetCache = cache }
        return followed.compactMap { netns in
            guard let cookie = cookies[netns.identity] else { return nil }
            if let cached = targetCache[netns.identity], cached.netns == netns, cached.target.cookie == cookie {
                cache[netns.identity] = cached
                return cached.target
            }
            var target = NetnsGuardTarget(cookie: cookie, identity: netns.identity, name: netns.names.first ?? netns.path,
                                          configuration: configuration.scoped(to: netns))
            target.inRootFolder = netns.references.contains {
                if case .bindMount(_, let folder) = $0 { folder == .named || folder == .docker } else { false }
            }
            cache[netns.identity] = (netns, target)
            return target
        }
    }
    private var targetCache: [NetnsIdentity: (netns: DiscoveredNetns, target: NetnsGuardTarget)] = [:]

    init(context: TargetContext, configuration: Configuration, force: Bool,
         discover: @escaping (_ includeProcesses: Bool) -> [DiscoveredNetns], open: @escaping Opener,
         log: @escaping (JournalEvent) -> Void, now: @escaping () -> Double = { SystemClock().monotonic() }) {
        self.now = now
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
        coverageGeneration += 1
        targetCache = [:]
        rescan()
    }

    /// One pass: discovery, then one transaction per namespace an entry selects or that
    /// has a state folder. Costs nothing but one `opendir` when no entry reaches other
    /// namespaces and no state folder is left. `foldersOnly` (after an inotify event on a
    /// bind-mount folder): discovery skips processes, nothing is taken as gone, and the
    /// namespaces already followed are not entered again (the full rescan repairs their
    /// drift), so covering a new namespace costs one folder scan and its own apply, however
    /// many namespaces are followed. A full pass run here replaces one in progress.
    func rescan(foldersOnly: Bool = false) {
        if foldersOnly {
            rescanFolders()
        } else {
            beginRescan()
            _ = continueRescan(limit: .max)
        }
    }

    /// A full pass in progress (`beginRescan`, `continueRescan`).
    private struct Pass {
        /// Discovered namespaces (not the daemon's own) still to handle.
        var pending: ArraySlice<DiscoveredNetns>
        let discovered: Set<NetnsIdentity>
        /// The state folders when the pass began.
        let folders: [UInt64: Set<UInt64>]
        let followedBefore: [DiscoveredNetns]
        let cookiesBefore: [NetnsIdentity: UInt64]
        var present = Set<UInt64>()
        var selected: [DiscoveredNetns] = []
        var events: [JournalEvent] = []
        var more = 0
    }
    private var pass: Pass?
    /// True while a pass `beginRescan` started is not finished.
    var isRescanning: Bool { pass != nil }
    /// Namespaces a folders-only rescan began following while a pass was in progress.
    private var addedDuringPass = Set<NetnsIdentity>()

    /// Starts a full pass (discovery with processes), to be run by `continueRescan`: the
    /// loop runs it in slices, so that an inotify event is handled between two slices
    /// rather than after a whole pass over a thousand namespaces. Replaces a pass in
    /// progress.
    func beginRescan() {
        pass = nil
        addedDuringPass = []
        let folders = stateFolders()
        guard configuration.followsNamespaces || !folders.isEmpty else {
            if !followed.isEmpty || !cookies.isEmpty { coverageGeneration += 1 }
            followed = []
            cookies = [:]
            return
        }
        let found = discover(true).filter { !$0.isOwn }
        pass = Pass(pending: found[...], discovered: Set(found.map(\.identity)), folders: folders,
                    followedBefore: followed, cookiesBefore: cookies)
    }

    /// Handles up to `limit` more namespaces of the pass `beginRescan` started; at its end,
    /// removes the folders of namespaces gone, sets `followed` and logs. Returns true when
    /// no pass is left in progress.
    func continueRescan(limit: Int) -> Bool {
        guard var current = pass else { return true }
        var events = current.events, more = current.more
        func report(_ event: JournalEvent) {
            if events.count < Self.maximumEventsPerRescan { events.append(event) } else { more += 1 }
        }
        var handled = 0
        while handled < limit, let netns = current.pending.popFirst() {
            let inode = netns.identity.inode
            current.present.insert(inode)
            let scoped = configuration.scoped(to: netns)
            let existing = current.folders[inode] ?? []
            guard !scoped.entries.isEmpty || !existing.isEmpty else { continue }
            handled += 1
            if !scoped.entries.isEmpty { current.selected.append(netns) }
            apply(scoped, to: netns, folders: existing, report: report)
        }
        current.events = events
        current.more = more
        guard current.pending.isEmpty else {
            pass = current
            return false
        }
        pass = nil
        for (inode, folderCookies) in current.folders where !current.present.contains(inode) {
            for cookie in folderCookies { removeFolder(inode: inode, cookie: cookie) }
        }
        failing = failing.filter { current.present.contains($0.inode) }
        // Kept: what a folders-only rescan added after this pass's discovery.
        let later = followed.filter { addedDuringPass.contains($0.identity) && !current.discovered.contains($0.identity) }
        followed = current.selected + later
        addedDuringPass = []
        let kept = Set(followed.map(\.identity))
        cookies = cookies.filter { kept.contains($0.key) }
        if followed != current.followedBefore || cookies != current.cookiesBefore { coverageGeneration += 1 }
        emit(current.events, more: current.more)
        return true
    }

    /// The folders-only pass of `rescan(foldersOnly: true)`.
    private func rescanFolders() {
        let (followedBefore, cookiesBefore) = (followed, cookies)
        defer { if followed != followedBefore || cookies != cookiesBefore { coverageGeneration += 1 } }
        let folders = stateFolders()
        guard configuration.followsNamespaces || !folders.isEmpty else { return }
        var events: [JournalEvent] = []
        var more = 0
        func report(_ event: JournalEvent) {
            if events.count < Self.maximumEventsPerRescan { events.append(event) } else { more += 1 }
        }
        var selected: [DiscoveredNetns] = []
        let known = Set(followed.map(\.identity))
        for netns in discover(false) where !netns.isOwn && !known.contains(netns.identity) {
            let inode = netns.identity.inode
            let scoped = configuration.scoped(to: netns)
            let existing = folders[inode] ?? []
            guard !scoped.entries.isEmpty || !existing.isEmpty else { continue }
            if !scoped.entries.isEmpty { selected.append(netns) }
            apply(scoped, to: netns, folders: existing, report: report)
        }
        followed += selected
        if pass != nil { addedDuringPass.formUnion(selected.map(\.identity)) }
        emit(events, more: more)
    }

    /// Logs a rescan's lines within the budget (`budgetPerPeriod`), counting the rest; the
    /// first call after a period logs the count of the period's lines left out.
    private func emit(_ events: [JournalEvent], more: Int) {
        let time = now()
        if let start = budgetStart, time - start >= Self.budgetPeriod {
            if budgetSuppressed > 0 { log(.netnsLinesSuppressed(budgetSuppressed, budget: Self.budgetPerPeriod)) }
            budgetStart = nil
            budgetSent = 0
            budgetSuppressed = 0
        }
        guard !events.isEmpty || more > 0 else { return }
        if budgetStart == nil { budgetStart = time }
        for event in events {
            if budgetSent < Self.budgetPerPeriod {
                budgetSent += 1
                log(event)
            } else {
                budgetSuppressed += 1
            }
        }
        guard more > 0 else { return }
        if budgetSent < Self.budgetPerPeriod {
            budgetSent += 1
            log(.netnsAppliedMore(more))
        } else {
            budgetSuppressed += more
        }
    }

    /// `folders`: the cookies of the state folders with the namespace's inode.
    private func apply(_ scoped: Configuration, to netns: DiscoveredNetns, folders: Set<UInt64>,
                       report: (JournalEvent) -> Void) {
        let name = netns.names.first ?? netns.path
        let inode = netns.identity.inode
        let keys: NetnsKeys
        do { keys = try open(netns) } catch {
            cookies[netns.identity] = nil
            if case .vanished = error {
                for cookie in folders { removeFolder(inode: inode, cookie: cookie) }
            } else if let reason = NetnsSandboxRefusal.reason(error, name: name) {
                refused(netns, reason: reason)
            } else {
                failed(netns, name: name, reason: "\(error)", report: report)
            }
            return
        }
        // Folders of the same inode and another cookie are a dead namespace's.
        for cookie in folders where cookie != keys.cookie { removeFolder(inode: inode, cookie: cookie) }
        if scoped.entries.isEmpty {
            cookies[netns.identity] = nil
            guard folders.contains(keys.cookie) else { return }
        } else {
            cookies[netns.identity] = keys.cookie
        }
        let sysctl = keys.sysctl
        let target = context.forNetns(netns.identity, cookie: keys.cookie)
        let previouslyOwned = (try? target.stateStore.load())?.ownedPorts ?? PortSet()
        switch ReservationTransaction(context: target, sysctl: sysctl).run(scoped, force: force, wait: 0) {
        case .success(let committed):
            failing.remove(netns.identity)
            let added = committed.plan.added
            if committed.wrote, !added.isEmpty {
                report(.netnsApplied(netns.identity, name: name, added: added,
                                     repair: !added.intersection(previouslyOwned).isEmpty))
            }
            if scoped.entries.isEmpty { removeFolder(inode: inode, cookie: keys.cookie) }
        case .failure(.busy), .failure(.skipped):
            break  // next rescan
        case .failure(let failure):
            if let reason = NetnsSandboxRefusal.reason(failure, name: name) {
                refused(netns, reason: reason)
            } else {
                failed(netns, name: name, reason: "\(failure)", report: report)
            }
        }
    }

    private func failed(_ netns: DiscoveredNetns, name: String, reason: String, report: (JournalEvent) -> Void) {
        guard failing.insert(netns.identity).inserted else { return }
        report(.netnsFailed(netns.identity, name: name, reason: reason))
    }

    /// The sandbox refused `netns`: logged once for all namespaces (the first reason).
    private func refused(_ netns: DiscoveredNetns, reason: String) {
        failing.insert(netns.identity)
        guard unavailable == nil else { return }
        let written = access(RootedPath.join(context.root, NetnsServiceDropIn.path()), F_OK) == 0
        let message = NetnsServiceDropIn.missingMessage(written: written, reason: reason)
        unavailable = message
        log(.degraded(message))
    }

    /// The folders of `/run/portward/netns/*` (`INODE-COOKIE`): the cookies by inode.
    private func stateFolders() -> [UInt64: Set<UInt64>] {
        let directory = TargetContext.netnsDirectory(context.runtimeDirectory)
        guard let dir = opendir(directory) else { return [:] }
        defer { closedir(dir) }
        var folders: [UInt64: Set<UInt64>] = [:]
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let parsed = TargetContext.parseNetnsFolderName(name) { folders[parsed.inode, default: []].insert(parsed.cookie) }
        }
        return folders
    }

    /// Removes a namespace's folder (its state file and lock): the namespace is gone, or
    /// holds no port of portward's any more.
    private func removeFolder(inode: UInt64, cookie: UInt64) {
        let folder = TargetContext.netnsDirectory(context.runtimeDirectory) + "/"
            + TargetContext.netnsFolderName(inode: inode, cookie: cookie)
        for name in ["state.json", "lock"] { unlink(folder + "/" + name) }
        rmdir(folder)
    }
}
