import CLinux
import Glibc
import SystemPackage

/// An inotify(7) instance (non-blocking, close-on-exec) and the reading of its queue, shared
/// by the watches of configuration directories and of network-namespace folders.
public final class Inotify {
    /// The descriptor, for the event loop (readable when events are queued).
    public let descriptor: Int32

    /// One queued event.
    public struct Event {
        public let watch: Int32
        public let mask: UInt32
        /// The name within the watched directory (empty for events on the directory).
        public let name: String

        /// The kernel dropped events: the queue overflowed.
        public var isOverflow: Bool { mask & UInt32(IN_Q_OVERFLOW) != 0 }
        /// The watched directory itself went away (deleted, moved, unmounted).
        public var isGone: Bool { mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0 }
    }

    /// Opens an instance. Throws the errno of inotify_init1.
    public init() throws(Errno) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Adds (or updates) a watch on `path`; nil when it cannot be added.
    public func add(_ path: String, mask: UInt32) -> Int32? {
        let wd = inotify_add_watch(descriptor, path, mask)
        return wd >= 0 ? wd : nil
    }

    /// Removes watch `wd`.
    public func remove(_ wd: Int32) {
        inotify_rm_watch(descriptor, wd)
    }

    /// Every queued event, read until the queue is empty (`struct inotify_event`: wd, mask,
    /// cookie, len, then the NUL-padded name).
    public func drain() -> [Event] {
        var events: [Event] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let header = 16
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
                events.append(Event(watch: wd, mask: mask, name: name))
            }
        }
        return events
    }
}
