import CLinux
import Glibc
import PortwardCore
import SystemPackage

/// inotify(7) on the bind-mount folders where tools pin network namespaces
/// (`NetnsDiscovery.defaultFolders`: `/run/netns`, `/run/docker/netns`,
/// `/run/user/UID/netns`), so the daemon covers a new namespace without waiting for the
/// periodic rescan. A folder that does not exist yet is covered through its parent (`/run`,
/// `/run/docker`, `/run/user/UID`): its creation is an event too, after which `rearm()`
/// watches it. `descriptor` becomes readable on any event; `drain()` returns the paths of
/// files that appeared in a watched folder (or nil for "something else changed").
///
/// `ip netns add` creates the file first and mounts the namespace on it afterwards (no
/// inotify event for the mount): a path reported here may not be a namespace yet, so the
/// caller re-checks (`NetnsFiles.identity`) and scans again shortly.
public final class NetnsFolderWatch {
    private let inotify: Inotify
    /// The inotify descriptor, for the event loop (non-blocking, close-on-exec).
    public var descriptor: Int32 { inotify.descriptor }
    private let runRoot: String
    /// Watch descriptor -> watched directory, and whether it is a namespace folder (else
    /// the parent of one that does not exist yet).
    private var watches: [Int32: (path: String, isFolder: Bool)] = [:]

    private static let folderEvents = UInt32(IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
    private static let parentEvents = UInt32(IN_CREATE | IN_MOVED_TO | IN_ONLYDIR)

    /// Opens an inotify instance and sets up the watches. Throws the errno of inotify_init1.
    public init(runRoot: String = "/run") throws(Errno) {
        inotify = try Inotify()
        self.runRoot = runRoot
        rearm()
    }

    /// Watches each folder that exists, else the nearest existing parent up to `runRoot`;
    /// `runRoot/user` too, for rootless podman folders of users who log in later.
    public func rearm() {
        var wanted: [String: Bool] = [runRoot + "/user": false]
        for (folder, _) in NetnsDiscovery.defaultFolders(runRoot: runRoot) {
            var path = folder
            var isFolder = true
            while !Self.isDirectory(path), path.count > runRoot.count, let slash = path.lastIndex(of: "/") {
                path = String(path[..<slash])
                isFolder = false
            }
            if Self.isDirectory(path) { wanted[path] = (wanted[path] ?? false) || isFolder }
        }
        for (wd, watch) in watches where wanted[watch.path] != watch.isFolder {
            inotify.remove(wd)
            watches[wd] = nil
        }
        for (path, isFolder) in wanted where !watches.values.contains(where: { $0.path == path }) {
            if let wd = inotify.add(path, mask: isFolder ? Self.folderEvents : Self.parentEvents) { watches[wd] = (path, isFolder) }
        }
    }

    /// Reads every queued event: the paths created in (or moved into) a namespace folder.
    /// Returns nil when the watches must follow a change (`rearm()`): a folder appeared in a
    /// parent, a folder went away, or the queue overflowed (then scan everything).
    public func drain() -> [String]? {
        var created: [String] = []
        var changed = false
        for event in inotify.drain() {
            if event.isOverflow { changed = true; continue }
            guard let watch = watches[event.watch] else { continue }
            if event.isGone {
                if event.mask & UInt32(IN_IGNORED) == 0 { inotify.remove(event.watch) }
                watches[event.watch] = nil
                changed = true
            } else if watch.isFolder {
                created.append(watch.path + "/" + event.name)
            } else if event.mask & UInt32(IN_ISDIR) != 0 {
                changed = true   // a folder (or a parent of one) appeared
            }
        }
        return changed ? nil : created
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}
