import CLinux
import Glibc
import PortwardCore
import SystemPackage

/// inotify(7) watches on the configuration directories (`--watch-config`): any file
/// created, written, moved or deleted there makes `descriptor` readable.
public final class ConfigDirectoryWatch {
    /// The inotify descriptor, for poll(2).
    public let descriptor: Int32
    private let root: String
    private var watched: Set<String> = []

    /// Opens an inotify instance and watches the directories that exist now.
    /// Throws the errno of inotify_init1.
    public init(root: String = "/") throws(Errno) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        descriptor = fd
        self.root = root
        rearm()
    }

    deinit { close(descriptor) }

    /// Adds watches for directories that appeared since the last call (e.g. a new
    /// /etc/portward/ports.d). Cheap: one stat per directory.
    public func rearm() {
        let parent = String(ConfigSearchPath.mainFile[..<ConfigSearchPath.mainFile.lastIndex(of: "/")!])
        let mask = UInt32(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB)
        for directory in [parent] + ConfigSearchPath.dropInDirectories {
            let path = RootedPath.join(root, directory)
            guard !watched.contains(path), inotify_add_watch(descriptor, path, mask) >= 0 else { continue }
            watched.insert(path)
        }
    }

    /// Reads and discards every queued event.
    public func drain() {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while buffer.withUnsafeMutableBytes({ Glibc.read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
    }
}
