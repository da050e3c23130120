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
    /// The inotify descriptor, for poll(2) (non-blocking, close-on-exec).
    public let descriptor: Int32
    private let runRoot: String
    /// Watch descriptor -> watched directory, and whether it is a namespace folder (else
    /// the parent of one that does not exist yet).
    private var watches: [Int32: (path: String, isFolder: Bool)] = [:]

    private static let folderEvents = UInt32(IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
    private static let parentEvents = UInt32(IN_CREATE | IN_MOVED_TO | IN_ONLYDIR)

    /// Opens an inotify instance and sets up the watches. Throws the errno of inotify_init1.
    public init(runRoot: String = "/run") throws(Errno) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        descriptor = fd
        self.runRoot = runRoot
        rearm()
    }

    deinit { close(descriptor) }

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
            inotify_rm_watch(descriptor, wd)
            watches[wd] = nil
        }
        for (path, isFolder) in wanted where !watches.values.contains(where: { $0.path == path }) {
            let wd = inotify_add_watch(descriptor, path, isFolder ? Self.folderEvents : Self.parentEvents)
            if wd >= 0 { watches[wd] = (path, isFolder) }
        }
    }

    /// Reads every queued event: the paths created in (or moved into) a namespace folder.
    /// Returns nil when the watches must follow a change (`rearm()`): a folder appeared in a
    /// parent, a folder went away, or the queue overflowed (then scan everything).
    public func drain() -> [String]? {
        var created: [String] = []
        var changed = false
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
                let name = String(decoding: buffer[(offset + header)..<min(offset + header + length, count)].prefix { $0 != 0 },
                                  as: UTF8.self)
                offset += header + length
                if mask & UInt32(IN_Q_OVERFLOW) != 0 { changed = true; continue }
                guard let watch = watches[wd] else { continue }
                if mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
                    if mask & UInt32(IN_IGNORED) == 0 { inotify_rm_watch(descriptor, wd) }
                    watches[wd] = nil
                    changed = true
                } else if watch.isFolder {
                    created.append(watch.path + "/" + name)
                } else if mask & UInt32(IN_ISDIR) != 0 {
                    changed = true   // a folder (or a parent of one) appeared
                }
            }
        }
        return changed ? nil : created
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}
