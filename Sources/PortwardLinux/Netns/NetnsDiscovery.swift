import Glibc
import PortwardCore

/// Finds the network namespaces on the host: the files of the bind-mount folders that are
/// mounts of an nsfs inode, and `/proc/PID/ns/net` of every process (thread-group leaders;
/// a thread that entered another namespace on its own is not seen), merged by
/// `(st_dev, st_ino)` (`NetnsDeduplication`). Needs root (CAP_SYS_PTRACE) to see other
/// users' processes; what cannot be read is skipped.
///
/// Cost: one `statfs` + `stat` per folder entry and per process, plus, for each namespace
/// other than the daemon's own that processes hold, one read of `/proc/PID/cgroup` (its
/// lowest pid first, at most three pids) to name the owning container.
public struct NetnsDiscovery: Sendable {
    /// The folders scanned, with their convention. Default: `defaultFolders(procRoot:runRoot:)`.
    public var folders: [(path: String, kind: NetnsFolder)]
    /// Where procfs is mounted (`/proc`).
    public var procRoot: String
    /// Whether to scan processes (the periodic scan) or only the folders (after inotify).
    public var includeProcesses: Bool

    public init(folders: [(path: String, kind: NetnsFolder)]? = nil, procRoot: String = "/proc",
                runRoot: String = "/run", includeProcesses: Bool = true) {
        self.folders = folders ?? Self.defaultFolders(runRoot: runRoot)
        self.procRoot = procRoot
        self.includeProcesses = includeProcesses
    }

    /// `/run/netns`, `/run/docker/netns`, and `/run/user/UID/netns` for each UID folder
    /// present (rootless podman's `$XDG_RUNTIME_DIR/netns`). Folders that do not exist are
    /// listed all the same (a scan of a missing folder finds nothing).
    public static func defaultFolders(runRoot: String = "/run") -> [(path: String, kind: NetnsFolder)] {
        var folders: [(path: String, kind: NetnsFolder)] = [
            (runRoot + "/netns", .named), (runRoot + "/docker/netns", .docker),
        ]
        for uid in entries(of: runRoot + "/user").sorted() where uid.allSatisfy(\.isNumber) {
            folders.append((runRoot + "/user/" + uid + "/netns", .rootlessPodman))
        }
        return folders
    }

    /// One pass. The daemon's own namespace (`/proc/self/ns/net`) comes first, marked
    /// `isOwn`, and always present.
    public func scan() -> [DiscoveredNetns] {
        var sightings: [NetnsDeduplication.Sighting] = []
        let own = NetnsFiles.own(procRoot: procRoot)
        if let own {
            sightings.append(.init(identity: own, reference: .process(pid: getpid(), command: Self.command(pid: getpid(), procRoot: procRoot))))
        }
        for (folder, kind) in folders {
            for name in Self.entries(of: folder) {
                let path = folder + "/" + name
                if let identity = NetnsFiles.identity(of: path) {
                    sightings.append(.init(identity: identity, reference: .bindMount(path: path, folder: kind)))
                }
            }
        }
        if includeProcesses {
            var byNetns: [NetnsIdentity: [Int32]] = [:]
            for name in Self.entries(of: procRoot) {
                guard let pid = Int32(name), pid > 0 else { continue }
                guard let identity = NetnsFiles.identity(of: "\(procRoot)/\(pid)/ns/net") else { continue }
                byNetns[identity, default: []].append(pid)
            }
            for (identity, pids) in byNetns {
                var ownerFound = identity == own
                for (index, pid) in pids.sorted().enumerated() {
                    var owner: NetnsOwner?
                    if !ownerFound, index < 3 {
                        owner = Self.owner(pid: pid, procRoot: procRoot)
                        ownerFound = owner != nil
                    }
                    sightings.append(.init(identity: identity,
                                           reference: .process(pid: pid, command: Self.command(pid: pid, procRoot: procRoot)),
                                           owner: owner))
                }
            }
        }
        return NetnsDeduplication.merge(sightings, own: own)
    }

    /// The container owning `pid`, from its cgroup (`ContainerCgroup`), or nil.
    public static func owner(pid: Int32, procRoot: String = "/proc") -> NetnsOwner? {
        guard let text = readSmallFile("\(procRoot)/\(pid)/cgroup"),
              let path = ContainerCgroup.unifiedPath(procCgroup: text) else { return nil }
        return ContainerCgroup.owner(cgroupPath: path)
    }

    static func command(pid: Int32, procRoot: String) -> String {
        guard let text = readSmallFile("\(procRoot)/\(pid)/comm") else { return "?" }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// The names in directory `path` (not `.`/`..`); empty when it cannot be read.
    static func entries(of path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Up to 4 KiB of a small proc file, or nil.
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}
