import CLinux
import Glibc
import PortwardCore
import SystemPackage

/// inotify(7) watches for `--watch-config`: the configuration directories that exist, and
/// for each one that does not, its nearest existing ancestor (`ConfigWatchTargets`), so a
/// directory created or re-created later is picked up too. `descriptor` becomes readable on
/// any event; `drain()` tells whether one of them concerns the configuration.
public final class ConfigDirectoryWatch {
    /// The inotify descriptor, for poll(2).
    public let descriptor: Int32
    private let root: String
    /// Watch descriptor -> watched directory and what matters in it.
    private var watches: [Int32: (path: String, interest: ConfigWatchTargets.Interest)] = [:]

    private static let contentEvents = UInt32(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
                                              | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
    private static let appearEvents = UInt32(IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF)

    /// Opens an inotify instance and sets up the watches. Throws the errno of inotify_init1.
    public init(root: String = "/") throws(Errno) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        descriptor = fd
        self.root = root
        rearm()
    }

    deinit { close(descriptor) }

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
            inotify_rm_watch(descriptor, wd)
            watches[wd] = nil
        }
        for (path, interest) in wanted {
            let mask = (interest == .everything ? Self.contentEvents : Self.appearEvents) | UInt32(IN_ONLYDIR)
            let wd = inotify_add_watch(descriptor, path, mask)
            guard wd >= 0 else { continue }
            // The same directory keeps its watch descriptor; a re-created one gets a new one.
            for (old, watch) in watches where watch.path == path && old != wd {
                inotify_rm_watch(descriptor, old)
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
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let header = 16   // struct inotify_event: wd, mask, cookie, len, then the name
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            var offset = 0
            while offset + header <= count {
                let (wd, mask, length) = buffer.withUnsafeBytes { bytes in
                    (bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                     bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                     Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)))
                }
                let nameBytes = buffer[(offset + header)..<min(offset + header + length, count)]
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                offset += header + length
                if mask & UInt32(IN_Q_OVERFLOW) != 0 { relevant = true; continue }
                guard let watch = watches[wd] else { continue }   // a watch already dropped
                if mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
                    // The directory itself went away: forget the watch, so rearm() watches
                    // its replacement or an ancestor.
                    if mask & UInt32(IN_IGNORED) == 0 { inotify_rm_watch(descriptor, wd) }
                    watches[wd] = nil
                    relevant = true
                } else if watch.interest.covers(name) {
                    relevant = true
                }
            }
        }
        return relevant
    }
}
