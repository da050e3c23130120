/// What `portward run --watch-config` watches. inotify(7) can only watch a directory that
/// exists, so for a configuration directory that does not exist yet (a package creates
/// `/usr/lib/portward/ports.d` later, an administrator re-creates `/etc/portward/ports.d`)
/// its nearest existing ancestor is watched for the creation of the next path component.
public enum ConfigWatchTargets {
    /// Which events in a watched directory matter.
    public enum Interest: Equatable, Sendable {
        /// Any change of any entry: the directory holds configuration.
        case everything
        /// Only these names appearing (created or moved in): the next components on the way
        /// to configuration directories that do not exist yet.
        case names(Set<String>)

        /// Both interests in one watch of the same directory.
        func merged(with other: Interest) -> Interest {
            switch (self, other) {
            case (.names(let a), .names(let b)): .names(a.union(b))
            default: .everything
            }
        }

        /// Whether an event on the entry `name` of the watched directory matters.
        public func covers(_ name: String) -> Bool {
            switch self {
            case .everything: true
            case .names(let names): names.contains(name)
            }
        }
    }

    /// The directories to watch: for each of `directories` (absolute, already under `root`),
    /// the directory itself when `isDirectory` says it exists (`.everything`), else its
    /// nearest existing ancestor, no higher than `root`, interested in the next component's
    /// name. A directory whose whole path up to `root` is missing contributes nothing. When
    /// `isSymbolicLink` says an existing directory is reached through a symbolic link (its
    /// last component), its parent is also watched for that name, so re-pointing the link
    /// (`ln -sfn`) is seen. Paths are plain strings: "/a/b" (no trailing slash, no `.`, `..`).
    public static func resolve(_ directories: [String], root: String,
                               isDirectory: (String) -> Bool,
                               isSymbolicLink: (String) -> Bool = { _ in false }) -> [String: Interest] {
        let top = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        var result: [String: Interest] = [:]
        for directory in directories {
            var path = directory
            var next: String?
            while !isDirectory(path) {
                guard path != top, path.count > top.count, let slash = path.lastIndex(of: "/") else {
                    path = ""
                    break
                }
                next = String(path[path.index(after: slash)...])
                path = slash == path.startIndex ? "/" : String(path[..<slash])
            }
            guard !path.isEmpty else { continue }
            let interest: Interest = next.map { .names([$0]) } ?? .everything
            result[path] = result[path].map { $0.merged(with: interest) } ?? interest
            if next == nil, path != top, isSymbolicLink(path), let slash = path.lastIndex(of: "/") {
                let parent = slash == path.startIndex ? "/" : String(path[..<slash])
                let link: Interest = .names([String(path[path.index(after: slash)...])])
                result[parent] = result[parent].map { $0.merged(with: link) } ?? link
            }
        }
        return result
    }
}
