import Glibc
import PortwardCore
import PortwardLinux
import SystemPackage

/// Where `unit:` owners' cgroups are known from (issue 12, docs/guard.md "unit: owners"):
///
/// - `register-owner` (the unit's `ExecStartPre=` hook, run in the unit's new cgroup before
///   its own processes) records the cgroup id in `/run/portward/owners/UNIT` and refreshes
///   the map entries;
/// - the daemon, at start and reload, takes the cgroup of a running process of the unit
///   (an owner that started before portward, or whose hook failed), else the recorded id,
///   else 0 (no one: the port stays closed to others until the owner's first start).
///
/// Both hold `/run/portward/guard.lock` around reading and writing, so the daemon never
/// writes back a cgroup id older than one the hook has just registered.
public struct OwnerRegistry {
    public let context: TargetContext
    /// The cgroup id of a cgroup v2 directory, nil when it is gone or not one (a seam for
    /// tests: `CgroupV2.id(ofDirectory:)`).
    var directoryID: (String) -> UInt64? = { try? CgroupV2.id(ofDirectory: $0) }

    public init(_ context: TargetContext) { self.context = context }

    var directory: String { context.runtimeDirectory + "/owners" }
    var lockPath: String { context.runtimeDirectory + "/guard.lock" }
    /// The generator's output directory under the target's root.
    var generatorDirectory: String { RootedPath.join(context.root, OwnerDropIn.generatorDirectory) }

    /// Takes the registry lock, waiting up to `wait` seconds.
    func lock(wait: Double = 5) throws(FileLock.Failure) -> FileLock {
        try FileLock.acquire(lockPath, wait: wait)
    }

    /// The units of `units` whose generator drop-in exists (systemd loaded it: generators
    /// run at boot and at every daemon-reload), and, for a socket-activated one, its socket
    /// unit's drop-in too (without it the socket unit's listeners would be refused).
    func hooked(_ units: [String]) -> Set<String> {
        let withDropIn = units.filter { access(OwnerDropIn.path(for: $0, in: generatorDirectory), F_OK) == 0 }
        let sockets = socketUnits(withDropIn)
        return Set(withDropIn.filter { unit in
            sockets[unit].map { access(OwnerDropIn.path(for: $0, in: generatorDirectory), F_OK) == 0 } ?? true
        })
    }

    /// systemd's system unit directories, in its search order (systemd.unit(5)), under the
    /// target's root.
    static let unitDirectories = ["/etc/systemd/system", "/run/systemd/system", "/run/systemd/generator",
                                  "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"]

    /// The services of `units` that a socket unit of the same name activates, with that
    /// socket unit: `rsync.service` → `rsync.socket`, an instance `foo@x.service` →
    /// `foo@x.socket` (its unit file, or the template `foo@.socket`). Found by the unit file
    /// in `unitDirectories` (one access(2) per directory and candidate). Not seen: a socket
    /// unit that names the service with `Service=` under another name. Not checked: which
    /// ports it listens on (a socket unit of the same name that listens elsewhere, say on a
    /// unix socket, gets the drop-in too, which then only registers its cgroup first).
    func socketUnits(_ units: [String]) -> [String: String] {
        var found: [String: String] = [:]
        for unit in units where unit.hasSuffix(".service") {
            let stem = String(unit.dropLast(".service".count))
            let socket = stem + ".socket"
            var files = [socket]
            if let at = stem.firstIndex(of: "@") { files.append(String(stem[...at]) + ".socket") }
            let exists = files.contains { file in
                Self.unitDirectories.contains { access(RootedPath.join(context.root, $0 + "/" + file), F_OK) == 0 }
            }
            if exists { found[unit] = socket }
        }
        return found
    }

    /// The recorded cgroup id of `unit`, or nil.
    func recorded(_ unit: String) -> UInt64? { recordedEntry(unit)?.id }

    /// The most a record (`ID PATH`) may take: a cgroup path is far below PATH_MAX.
    static let recordLimit = 8192

    /// The recorded cgroup id and directory of `unit` (file: `ID PATH`), or nil: also when
    /// the file is not a regular one (a FIFO or symbolic link planted there is never opened,
    /// so neither the daemon nor the owner's start hook, which read it under the registry
    /// lock, can hang) or is larger than `recordLimit`.
    func recordedEntry(_ unit: String) -> (id: UInt64, path: String?)? {
        guard let bytes = try? FileContents.readOwnFile(directory + "/" + unit, limit: Self.recordLimit) else { return nil }
        let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first ?? ""
        let parts = line.split(separator: " ", maxSplits: 1)
        guard let first = parts.first, let id = UInt64(first) else { return nil }
        return (id, parts.count > 1 ? String(parts[1]) : nil)
    }

    /// The id of the cgroup directory recorded for `unit` as it is now (a restarted unit
    /// has a new directory at the same path, with a new id); nil when none is recorded or
    /// the directory is gone (the unit is stopped). One stat(2).
    func currentRecordedCgroup(_ unit: String) -> UInt64? {
        guard let path = recordedEntry(unit)?.path else { return nil }
        return directoryID(path)
    }

    /// Records `id` (of the cgroup directory `path`) for `unit` (atomically).
    func record(_ unit: String, id: UInt64, path: String) throws(Errno) {
        try FileContents.makeDirectories(directory)
        try FileContents.writeAtomically(Array("\(id) \(path)\n".utf8), to: directory + "/" + unit)
    }

    /// The cgroup ids to guard `units` with (call with the lock held): the recorded
    /// directory's current id (the unit runs there now, hooked or not), else the cgroup of a
    /// running process of the unit (recorded then), else the recorded id (the unit is
    /// stopped: the port stays closed to others), else 0 (never started).
    func cgroupIDs(_ units: [String], procRoot: String = "/proc") -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        var unknown: [String] = []
        for unit in units {
            if let id = currentRecordedCgroup(unit) { result[unit] = id } else { unknown.append(unit) }
        }
        let running = Self.runningCgroups(of: Set(unknown), procRoot: procRoot)
        for unit in unknown {
            if let (id, path) = running[unit] {
                try? record(unit, id: id, path: path)
                result[unit] = id
            } else {
                result[unit] = recorded(unit) ?? 0
            }
        }
        return result
    }

    /// The cgroup v2 directory of the unit a process runs in: its own cgroup cut after the
    /// path component named `unit` (a delegated unit's processes, and its control processes
    /// in `.control`, run in sub-cgroups). nil when the path has no such component.
    static func unitCgroup(processCgroup path: String, mountPoint: String, unit: String) -> String? {
        guard path.hasPrefix(mountPoint) else { return nil }
        let relative = path.dropFirst(mountPoint.count).split(separator: "/")
        guard let index = relative.firstIndex(where: { $0 == unit }) else { return nil }
        return mountPoint + "/" + relative[...index].joined(separator: "/")
    }

    /// For each unit of `units` with a running process: its unit cgroup's id and directory
    /// (a scan of `procRoot`, units from sd_pid_get_unit).
    static func runningCgroups(of units: Set<String>, procRoot: String) -> [String: (UInt64, String)] {
        guard !units.isEmpty, let mount = CgroupV2.mountPoint(), let dir = opendir(procRoot) else { return [:] }
        defer { closedir(dir) }
        var result: [String: (UInt64, String)] = [:]
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), let unit = systemdUnit(ofPID: pid), units.contains(unit), result[unit] == nil,
                  let path = CgroupV2.directory(ofProcess: pid, mountPoint: mount),
                  let unitPath = unitCgroup(processCgroup: path, mountPoint: mount, unit: unit),
                  let id = try? CgroupV2.id(ofDirectory: unitPath) else { continue }
            result[unit] = (id, unitPath)
            if result.count == units.count { break }
        }
        return result
    }
}
