import CLinux
import Glibc
import PortwardCore
import SystemPackage

/// inotify(7) watches for `--watch-config`: the configuration directories that exist, and
/// for each one that does not, its nearest existing ancestor (`ConfigWatchTargets`), so a
/// directory created or re-created later is picked up too. `descriptor` becomes readable on
/// any event; `drain()` tells whether one of them concerns the configuration.
public final class ConfigDirectoryWatch {
    private let inotify: Inotify
    /// The inotify descriptor, for the event loop.
    public var descriptor: Int32 { inotify.descriptor }
    private let root: String
    /// Watch descriptor -> watched directory and what matters in it.
    private var watches: [Int32: (path: String, interest: ConfigWatchTargets.Interest)] = [:]

    private static let contentEvents = UInt32(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
                                              | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
    private static let appearEvents = UInt32(IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF)

    /// Opens an inotify instance and sets up the watches. Throws the errno of inotify_init1.
    public init(root: String = "/") throws(Errno) {
        inotify = try Inotify()
        self.root = root
        rearm()
    }

    /// Brings the watches in line with the directories that exist now: adds the
    /// configuration directories that appeared, falls back to an ancestor for those that
    /// went away, and drops watches no longer needed. One stat per path component.
    public func rearm() {
        let parent = String(ConfigSearchPath.mainFile[..<ConfigSearchPath.mainFile.lastIndex(of: "/")!])
        let directories = ([parent] + ConfigSearchPath.dropInDirectories).map { RootedPath.join(root, $0) }
        let wanted = ConfigWatchTargets.resolve(directories, root: root, isDirectory: { path in
            var info = stat()
            return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
        }, isSymbolicLink: { path in
            var info = stat()
            return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
        })
        for (wd, watch) in watches where wanted[watch.path] == nil {
            inotify.remove(wd)
            watches[wd] = nil
        }
        for (path, interest) in wanted {
            let mask = (interest == .everything ? Self.contentEvents : Self.appearEvents) | UInt32(IN_ONLYDIR)
            guard let wd = inotify.add(path, mask: mask) else { continue }
            // The same directory keeps its watch descriptor; a re-created one gets a new one.
            for (old, watch) in watches where watch.path == path && old != wd {
                inotify.remove(old)
                watches[old] = nil
            }
            watches[wd] = (path, interest)
        }
    }

    /// Reads every queued event. Returns true when one concerns the configuration: a change
    /// in a configuration directory, the next directory appearing in an ancestor, a watched
    /// directory deleted or moved, or a queue overflow. Call `rearm()` after a true result.
    public func drain() -> Bool {
        var relevant = false
        for event in inotify.drain() {
            if event.isOverflow { relevant = true; continue }
            guard let watch = watches[event.watch] else { continue }   // a watch already dropped
            if event.isGone {
                // The directory itself went away: forget the watch, so rearm() watches
                // its replacement or an ancestor.
                if event.mask & UInt32(IN_IGNORED) == 0 { inotify.remove(event.watch) }
                watches[event.watch] = nil
                relevant = true
            } else if watch.interest.covers(event.name) {
                relevant = true
            }
        }
        return relevant
    }
}
