import CLibbpf
import Glibc
import PortwardBPF
import PortwardCore

/// The kernel side of the owner guard (docs/guard.md): the `cgroup/bind4` and `cgroup/bind6`
/// programs of guard.bpf.c, attached to a cgroup v2 directory (the cgroup root in
/// production) with BPF_F_ALLOW_MULTI, pinned with their maps under a bpffs directory so that
/// they outlive the daemon, and the `guard_owners` map that says who may bind which port.
///
/// - `install(cgroup:pinDirectory:)` loads and attaches, or takes over what a previous run
///   pinned and attached (nothing is attached twice).
/// - `openPinned(pinDirectory:)` opens the pinned maps only (for readers such as `status`).
/// - `uninstall(cgroup:pinDirectory:)` detaches and unpins everything (package removal).
///
/// All calls need CAP_BPF (or CAP_SYS_ADMIN) and, for attaching, CAP_NET_ADMIN; map
/// updates and reads are plain bpf() syscalls and take microseconds per port.
/// Instances are safe to share between threads (the kernel serialises map operations).
public final class BPFGuard: Sendable {
    /// `/sys/fs/bpf/portward`: programs `bind4`, `bind6` (the guard), `post_bind4`,
    /// `post_bind6`, `sysctl` (events, docs/events.md); maps `guard_owners`, `guard_stats`,
    /// `guard_events`, `guard_declared`.
    public static let defaultPinDirectory = "/sys/fs/bpf/portward"

    /// What `install` did.
    public struct Installation: Hashable, Sendable {
        /// The cgroup directory the programs are attached to.
        public var cgroup: String
        /// True when both programs were already pinned and attached there (a daemon restart):
        /// they were kept, and the pinned maps reused, so protection never lapsed.
        public var tookOver: Bool
        /// Programs of an older portward (other code, or unpinned leftovers) detached after
        /// the new ones were attached.
        public var replaced: Int
        /// True when the event programs (post_bind4, post_bind6, sysctl) are attached too.
        public var events: Bool = false
        /// Why they are not, when `events` is false.
        public var eventsUnavailable: String?
    }

    public let pinDirectory: String
    /// Set by `install`, nil for `openPinned`.
    public let installation: Installation?
    private let ownersFD: Int32
    private let statsFD: Int32
    private let eventsFD: Int32
    private let declaredFD: Int32

    private init(pinDirectory: String, installation: Installation?, owners: Int32, stats: Int32, events: Int32, declared: Int32) {
        self.pinDirectory = pinDirectory
        self.installation = installation
        self.ownersFD = owners
        self.statsFD = stats
        self.eventsFD = events
        self.declaredFD = declared
    }

    deinit {
        close(ownersFD)
        close(statsFD)
        close(eventsFD)
        close(declaredFD)
    }

    /// One program of guard.bpf.c: `name` is the build loaded here, `otherNames` the
    /// build(s) not loaded (an event program with and without bpf_get_current_comm()).
    struct ProgramSpec {
        var name: String
        var otherNames: [String] = []
        var pin: String
        var type: bpf_attach_type
        /// An event program (post_bind, sysctl): the guard works without it.
        var event = false
        var names: [String] { [name] + otherNames }
    }

    /// The guard's programs, in the build with the command name in denials (CAP_PERFMON) or
    /// without (suffix `_n`).
    static func guardPrograms(withCommand: Bool) -> [ProgramSpec] {
        [("portward_bind4", "bind4", BPF_CGROUP_INET4_BIND), ("portward_bind6", "bind6", BPF_CGROUP_INET6_BIND)].map { name, pin, type in
            withCommand ? ProgramSpec(name: name, otherNames: [name + "_n"], pin: pin, type: type)
                : ProgramSpec(name: name + "_n", otherNames: [name], pin: pin, type: type)
        }
    }

    /// The event programs, in the build with the command name (CAP_PERFMON) or without.
    static func eventPrograms(withCommand: Bool) -> [ProgramSpec] {
        [("portward_pb4", "post_bind4", BPF_CGROUP_INET4_POST_BIND),
         ("portward_pb6", "post_bind6", BPF_CGROUP_INET6_POST_BIND),
         ("portward_sysctl", "sysctl", BPF_CGROUP_SYSCTL)].map { name, pin, type in
            withCommand ? ProgramSpec(name: name, otherNames: [name + "_n"], pin: pin, type: type, event: true)
                : ProgramSpec(name: name + "_n", otherNames: [name], pin: pin, type: type, event: true)
        }
    }

    /// Every program, for uninstall (both builds of the event programs by name).
    static var programs: [ProgramSpec] { guardPrograms(withCommand: true) + eventPrograms(withCommand: true) }

    static let mapNames = ["guard_owners", "guard_stats", "guard_events", "guard_declared"]

    /// Whether this process may use bpf_get_current_comm() in cgroup programs: CAP_PERFMON
    /// or CAP_SYS_ADMIN in its effective set (`perfmon_capable()`; measured on 6.18: without
    /// it, CGROUP_SOCK and CGROUP_SYSCTL programs calling it are refused at load).
    static func perfmonCapable() -> Bool {
        guard let status = readSmallFile("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst(7).filter { !$0.isWhitespace }, radix: 16) else { return false }
        return mask & (1 << 38) != 0 || mask & (1 << 21) != 0
    }

    // MARK: - Install, take over, uninstall

    /// Loads the guard, attaches it to `cgroup` and pins it under `pinDirectory` (created,
    /// mode 0700, when missing; its parent must be on bpffs). Maps already pinned there are
    /// reused (entries and counters kept). When the same programs are already pinned and
    /// attached to `cgroup`, they are kept (`tookOver`); otherwise the new ones are attached,
    /// pinned in their place, and older portward programs on `cgroup` are detached.
    ///
    /// - Parameter cgroup: a cgroup v2 directory (production: `CgroupV2.mountPoint()`).
    /// - Throws: `BPFGuardError.unavailable` when the host cannot have the guard (no
    ///   permission, no bpffs, no cgroup2, kernel too old), `.failed` otherwise. Nothing stays
    ///   attached by this call when it throws (maps it created may stay pinned).
    /// - Parameter events: also the event programs (post_bind4, post_bind6, sysctl; docs/events.md),
    ///   in the build with the command name when this process has CAP_PERFMON.
    public static func install(cgroup: String, pinDirectory: String = defaultPinDirectory,
                               events: Bool = true) throws(BPFGuardError) -> BPFGuard {
        LibbpfLog.install()
        let cgroupFD = try openCgroup(cgroup)
        defer { close(cgroupFD) }
        try preparePinDirectory(pinDirectory)

        // The event programs are optional: when they cannot load or attach (an older kernel,
        // a sandbox), the guard is installed without them and `eventsUnavailable` says why.
        var eventsUnavailable: String? = events ? nil : "not requested"
        let withCommand = perfmonCapable()
        var programs = guardPrograms(withCommand: withCommand) + (events ? eventPrograms(withCommand: withCommand) : [])
        let pidNamespace = PidNamespace.current()
        var object = try openObject(pinDirectory: pinDirectory)
        defer { bpf_object__close(object) }
        try pidNamespace?.configure(object)
        _ = LibbpfLog.shared.take()
        var loaded = load(object, programs: programs)
        if loaded != 0, events {
            eventsUnavailable = "the event programs did not load: \(String(cString: strerror(-loaded)))"
            bpf_object__close(object)
            programs = guardPrograms(withCommand: withCommand)
            object = try openObject(pinDirectory: pinDirectory)
            try pidNamespace?.configure(object)
            _ = LibbpfLog.shared.take()
            loaded = load(object, programs: programs)
        }
        if loaded != 0 { throw classifyLoadFailure(-loaded) }

        var tookOver = 0, replaced = 0
        var attachedHere: [(fd: Int32, type: bpf_attach_type)] = []
        do {
            for spec in programs {
                guard let program = bpf_object__find_program_by_name(object, spec.name) else {
                    throw BPFGuardError.failed(operation: "program \(spec.name) missing from the object", errno: ENOENT)
                }
                let result = try attachOrTakeOver(program: bpf_program__fd(program), spec: spec,
                                                  ownMapID: PidNamespace.mapID(in: object),
                                                  cgroupFD: cgroupFD, pinDirectory: pinDirectory)
                if result.tookOver { tookOver += 1 } else { attachedHere.append((bpf_program__fd(program), spec.type)) }
                replaced += result.replaced
            }
        } catch {
            for (fd, type) in attachedHere { _ = bpf_prog_detach2(fd, cgroupFD, type) }
            throw error as! BPFGuardError
        }
        let attachedEvents = programs.contains { $0.event }

        var fds: [Int32] = []
        for name in mapNames {
            guard let map = bpf_object__find_map_by_name(object, name) else {
                fds.forEach { close($0) }
                throw .failed(operation: "map \(name) missing from the object", errno: ENOENT)
            }
            let fd = fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 0)
            guard fd >= 0 else { let e = errno; fds.forEach { close($0) }; throw .failed(operation: "dup map fd", errno: e) }
            fds.append(fd)
        }
        return BPFGuard(pinDirectory: pinDirectory,
                        installation: Installation(cgroup: cgroup, tookOver: tookOver == programs.count, replaced: replaced,
                                                   events: attachedEvents, eventsUnavailable: eventsUnavailable),
                        owners: fds[0], stats: fds[1], events: fds[2], declared: fds[3])
    }

    /// Opens the maps pinned under `pinDirectory` by an `install` (this or another process),
    /// without loading or attaching anything.
    /// - Throws: `.failed(errno: ENOENT)` when nothing is pinned there; `.unavailable` as for
    ///   `install`.
    public static func openPinned(pinDirectory: String = defaultPinDirectory) throws(BPFGuardError) -> BPFGuard {
        var fds: [Int32] = []
        for name in mapNames {
            let fd = bpf_obj_get(pinDirectory + "/" + name)
            if fd < 0 {
                let e = errno
                fds.forEach { close($0) }
                if e == EPERM || e == EACCES { throw .unavailable(.permissionDenied, detail: "bpf(BPF_OBJ_GET) \(pinDirectory)/\(name)") }
                throw .failed(operation: "open pinned map \(pinDirectory)/\(name)", errno: e)
            }
            fds.append(fd)
        }
        return BPFGuard(pinDirectory: pinDirectory, installation: nil, owners: fds[0], stats: fds[1], events: fds[2], declared: fds[3])
    }

    /// Detaches every portward guard program from `cgroup` (the pinned ones, and with
    /// CAP_SYS_ADMIN also those whose pins were lost, found by name) and removes the pins and
    /// the pin directory. Idempotent: nothing attached or pinned is not an error.
    /// - Parameter cgroup: the directory `install` attached to; nil only unpins (programs
    ///   attached to a cgroup stay attached until it is removed).
    /// - Returns: the number of programs detached.
    @discardableResult
    public static func uninstall(cgroup: String?, pinDirectory: String = defaultPinDirectory) throws(BPFGuardError) -> Int {
        LibbpfLog.install()
        var detached = 0
        if let cgroup {
            let cgroupFD = try openCgroup(cgroup)
            defer { close(cgroupFD) }
            for spec in programs {
                // The pinned program: needs only CAP_BPF + CAP_NET_ADMIN.
                let pinnedFD = bpf_obj_get(pinDirectory + "/" + spec.pin)
                if pinnedFD >= 0 {
                    defer { close(pinnedFD) }
                    if bpf_prog_detach2(pinnedFD, cgroupFD, spec.type) == 0 {
                        detached += 1
                    } else if errno != ENOENT {
                        throw classifyErrno(errno, operation: "detach \(spec.name) from \(cgroup)")
                    }
                }
                // Leftovers whose pins were lost, found by name. BPF_PROG_GET_FD_BY_ID needs
                // CAP_SYS_ADMIN: without it, only the pinned programs are detached.
                for id in try attachedPrograms(cgroupFD: cgroupFD, type: spec.type) {
                    let fd = bpf_prog_get_fd_by_id(id)
                    guard fd >= 0 else { continue }   // gone meanwhile, or no CAP_SYS_ADMIN
                    defer { close(fd) }
                    guard let info = programInfo(fd), spec.names.contains(info.name) else { continue }
                    if bpf_prog_detach2(fd, cgroupFD, spec.type) == 0 {
                        detached += 1
                    } else if errno != ENOENT {
                        throw .failed(operation: "detach \(spec.name) from \(cgroup)", errno: errno)
                    }
                }
            }
        }
        for name in programs.map(\.pin) + mapNames {
            if unlink(pinDirectory + "/" + name) != 0, errno != ENOENT {
                throw .failed(operation: "unpin \(pinDirectory)/\(name)", errno: errno)
            }
        }
        if rmdir(pinDirectory) != 0, errno != ENOENT {
            throw .failed(operation: "rmdir \(pinDirectory)", errno: errno)
        }
        return detached
    }

    /// Whether this host can have the guard, without changing anything: bpffs at
    /// `pinDirectory`'s parent, a cgroup v2 mount, SO_NETNS_COOKIE, bpf() allowed (a one-entry
    /// map is created and closed), and bpf_set_retval() in cgroup/bind programs (libbpf loads
    /// a tiny probe program). nil: available. Loading can still fail later (e.g. when other
    /// programs attached to the cgroup without BPF_F_ALLOW_MULTI); `install` says so then.
    /// - Parameter cgroupMount: the cgroup v2 mount point when the caller has it already
    ///   (`CgroupV2.mountPoint()` parses /proc/self/mountinfo: about 1.6 M instructions).
    public static func probe(pinDirectory: String = defaultPinDirectory,
                             cgroupMount: String?? = nil) -> BPFGuardError? {
        LibbpfLog.install()
        do {
            try checkBPFFilesystem(for: pinDirectory)
            guard (cgroupMount ?? CgroupV2.mountPoint()) != nil else { return .unavailable(.noCgroup2, detail: "no cgroup2 in /proc/self/mountinfo") }
            _ = try NetnsCookie.current()
        } catch {
            return error
        }
        // bpf() allowed at all? (libbpf's helper probe reports "supported" when the kernel
        // refuses the probe program with EPERM, so ask with a one-entry map first.)
        let map = bpf_map_create(BPF_MAP_TYPE_ARRAY, "portward_probe", 4, 4, 1, nil)
        if map < 0 { return classifyErrno(-map, operation: "bpf(BPF_MAP_CREATE)") }
        close(map)
        let helper = libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_set_retval, nil)
        _ = LibbpfLog.shared.take()
        switch helper {
        case 1: return nil
        case 0: return .unavailable(.kernelTooOld, detail: "bpf_set_retval() in cgroup/bind programs needs Linux 5.19")
        default: return classifyErrno(-helper, operation: "probe BPF_FUNC_set_retval")
        }
    }

    // MARK: - The owners map

    /// Makes `owner` the only one who may bind `ports` (port 0 is skipped) for `transport`
    /// in the network namespace `netnsCookie`, replacing any previous owner of those ports.
    public func setOwner(_ owner: GuardOwner, netnsCookie: UInt64, transport: TransportProtocol, ports: PortRange) throws(BPFGuardError) {
        let value = owner.bytes
        for port in ports.lower...ports.upper where port != 0 {
            let key = GuardKey(netnsCookie: netnsCookie, transport: transport, port: port).bytes
            guard bpf_map_update_elem(ownersFD, key, value, UInt64(BPF_ANY)) == 0 else {
                throw .failed(operation: "guard_owners: set \(port)/\(transport.rawValue)", errno: errno)
            }
        }
    }

    /// Removes the guard from `ports` (binds there are allowed again). Ports without an entry
    /// are fine.
    public func removeOwner(netnsCookie: UInt64, transport: TransportProtocol, ports: PortRange) throws(BPFGuardError) {
        for port in ports.lower...ports.upper where port != 0 {
            try delete(GuardKey(netnsCookie: netnsCookie, transport: transport, port: port))
        }
    }

    /// The owner of one port, or nil when it is not guarded.
    public func owner(of key: GuardKey) throws(BPFGuardError) -> GuardOwner? {
        var value = [UInt8](repeating: 0, count: GuardOwner.size)
        guard bpf_map_lookup_elem(ownersFD, key.bytes, &value) == 0 else {
            if errno == ENOENT { return nil }
            throw .failed(operation: "guard_owners: look up \(key)", errno: errno)
        }
        return GuardOwner(bytes: value)
    }

    /// Every entry of the owners map (unknown protocol numbers are skipped).
    public func entries() throws(BPFGuardError) -> [GuardKey: GuardOwner] {
        var result: [GuardKey: GuardOwner] = [:]
        for keyBytes in try allKeys() {
            var value = [UInt8](repeating: 0, count: GuardOwner.size)
            guard bpf_map_lookup_elem(ownersFD, keyBytes, &value) == 0 else {
                if errno == ENOENT { continue }   // removed meanwhile
                throw .failed(operation: "guard_owners: look up", errno: errno)
            }
            if let key = GuardKey(bytes: keyBytes), let owner = GuardOwner(bytes: value) { result[key] = owner }
        }
        return result
    }

    /// Makes the owners map hold exactly `desired`: stale keys (not in `desired`) are removed
    /// first, so a full map has room for the new ones; then new and changed entries are
    /// written. A changed key is overwritten in place (`BPF_ANY`), never removed, so a port
    /// never passes through "unguarded" when its owner is only changing. Entries the kernel
    /// holds under unknown protocol numbers are removed.
    /// - Returns: how many entries were written and removed.
    @discardableResult
    public func replaceEntries(with desired: [GuardKey: GuardOwner]) throws(BPFGuardError) -> (written: Int, removed: Int) {
        let current = try entries()
        var written = 0, removed = 0
        // Stale keys go first, so a full map makes room for the new ones (a namespace that
        // went away frees its slots before another one's are written).
        for keyBytes in try allKeys() {
            if let key = GuardKey(bytes: keyBytes), desired[key] != nil { continue }
            if bpf_map_delete_elem(ownersFD, keyBytes) == 0 { removed += 1 } else if errno != ENOENT {
                throw .failed(operation: "guard_owners: remove", errno: errno)
            }
        }
        for (key, owner) in desired where current[key] != owner {
            guard bpf_map_update_elem(ownersFD, key.bytes, owner.bytes, UInt64(BPF_ANY)) == 0 else {
                throw .failed(operation: "guard_owners: set \(key)", errno: errno)
            }
            written += 1
        }
        return (written, removed)
    }

    /// Makes the declared-ports map hold exactly `declared` (post_bind reports binds to these
    /// ports): one 8 KiB bitmap per network namespace and protocol; empty sets are removed.
    public func replaceDeclared(_ declared: [DeclaredPortsKey: PortSet]) throws(BPFGuardError) {
        for (key, ports) in declared where !ports.isEmpty {
            guard bpf_map_update_elem(declaredFD, key.bytes, DeclaredPortsKey.value(ports), UInt64(BPF_ANY)) == 0 else {
                throw .failed(operation: "guard_declared: set \(key.transport.rawValue) netns \(key.netnsCookie)", errno: errno)
            }
        }
        for keyBytes in try Self.keys(of: declaredFD, size: DeclaredPortsKey.size, map: "guard_declared") {
            if let key = DeclaredPortsKey(bytes: keyBytes), let ports = declared[key], !ports.isEmpty { continue }
            if bpf_map_delete_elem(declaredFD, keyBytes) != 0, errno != ENOENT {
                throw .failed(operation: "guard_declared: remove", errno: errno)
            }
        }
    }

    /// The denial counters, summed over CPUs.
    public func counters() throws(BPFGuardError) -> GuardCounters {
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { throw .failed(operation: "libbpf_num_possible_cpus", errno: -Int32(cpus)) }
        func read(_ index: UInt32) throws(BPFGuardError) -> UInt64 {
            var key = index
            var values = [UInt64](repeating: 0, count: cpus)
            guard bpf_map_lookup_elem(statsFD, &key, &values) == 0 else {
                throw .failed(operation: "guard_stats: look up \(index)", errno: errno)
            }
            return values.reduce(0, &+)
        }
        return GuardCounters(denied: try read(0), reported: try read(1), eventsDropped: try read(2), bound: try read(3))
    }

    /// A reader of the events (ring buffer `guard_events`: denials, binds to declared ports,
    /// writes of the keys). Events that arrived while no one read are delivered too (up to
    /// the buffer's 64 KiB, about 1170 records of 48 bytes plus an 8-byte header; more are
    /// only counted in `eventsDropped`). Use one reader at a time.
    public func eventReader() throws(BPFGuardError) -> GuardEventReader {
        try GuardEventReader(mapFD: eventsFD)
    }

    // MARK: - Internals

    private func delete(_ key: GuardKey) throws(BPFGuardError) {
        if bpf_map_delete_elem(ownersFD, key.bytes) != 0, errno != ENOENT {
            throw .failed(operation: "guard_owners: remove \(key)", errno: errno)
        }
    }

    private func allKeys() throws(BPFGuardError) -> [[UInt8]] {
        try Self.keys(of: ownersFD, size: GuardKey.size, map: "guard_owners")
    }

    /// Every key of the hash map `fd` (keys of `size` bytes), by BPF_MAP_GET_NEXT_KEY.
    private static func keys(of fd: Int32, size: Int, map: String) throws(BPFGuardError) -> [[UInt8]] {
        var keys: [[UInt8]] = []
        var next = [UInt8](repeating: 0, count: size)
        var status = bpf_map_get_next_key(fd, nil, &next)
        while status == 0 {
            keys.append(next)
            let previous = next
            status = bpf_map_get_next_key(fd, previous, &next)
        }
        guard errno == ENOENT else { throw .failed(operation: "\(map): iterate", errno: errno) }
        return keys
    }

    private static func openCgroup(_ path: String) throws(BPFGuardError) -> Int32 {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw .unavailable(.noCgroup2, detail: "\(path): \(String(cString: strerror(errno)))") }
            throw .failed(operation: "open \(path)", errno: errno)
        }
        var fs = statfs()
        guard fstatfs(fd, &fs) == 0, UInt64(bitPattern: Int64(fs.f_type)) == UInt64(CGROUP2_SUPER_MAGIC) else {
            close(fd)
            throw .unavailable(.noCgroup2, detail: "\(path) is not on a cgroup2 filesystem")
        }
        return fd
    }

    private static func checkBPFFilesystem(for pinDirectory: String) throws(BPFGuardError) {
        // The parent directory, trailing slashes ignored (plain UTF-8 bytes: the generic
        // String algorithms cost about 0.6 M instructions at start-up).
        var bytes = Array(pinDirectory.utf8)
        while bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        while let last = bytes.last, last != UInt8(ascii: "/") { bytes.removeLast() }
        while bytes.count > 1, bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        let parent = bytes.isEmpty ? "/" : String(decoding: bytes, as: UTF8.self)
        var fs = statfs()
        guard statfs(parent, &fs) == 0, UInt64(bitPattern: Int64(fs.f_type)) == UInt64(BPF_FS_MAGIC) else {
            throw .unavailable(.noBPFFilesystem, detail: "\(parent) is not a mounted bpf filesystem")
        }
    }

    private static func preparePinDirectory(_ path: String) throws(BPFGuardError) {
        try checkBPFFilesystem(for: path)
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            throw classifyErrno(errno, operation: "mkdir \(path)")
        }
    }

    private static func openObject(pinDirectory: String) throws(BPFGuardError) -> OpaquePointer {
        let bytes = PortwardBPFObjects.ownerGuard
        var options = bpf_object_open_opts()
        options.sz = MemoryLayout<bpf_object_open_opts>.size
        let object: OpaquePointer? = "portward_guard".withCString { name in
            pinDirectory.withCString { pin in
                options.object_name = name
                options.pin_root_path = pin
                return bytes.withUnsafeBytes { raw in
                    bpf_object__open_mem(raw.baseAddress, raw.count, &options)
                }
            }
        }
        guard let object else {
            throw .failed(operation: "bpf_object__open_mem", errno: errno, detail: LibbpfLog.shared.take())
        }
        return object
    }

    private static func classifyLoadFailure(_ error: Int32) -> BPFGuardError {
        let log = LibbpfLog.shared.take()
        if error == EPERM || error == EACCES || error == ENOSYS {
            return classifyErrno(error, operation: "bpf_object__load", detail: log)
        }
        if libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_set_retval, nil) == 0 {
            _ = LibbpfLog.shared.take()
            return .unavailable(.kernelTooOld, detail: "bpf_set_retval() in cgroup/bind programs needs Linux 5.19")
        }
        return .failed(operation: "bpf_object__load", errno: error, detail: log)
    }

    private static func classifyErrno(_ error: Int32, operation: String, detail: String = "") -> BPFGuardError {
        switch error {
        case EPERM, EACCES:
            return .unavailable(.permissionDenied, detail: "\(operation): \(String(cString: strerror(error)))")
        case ENOSYS:
            return .unavailable(.noBPFSyscall, detail: operation)
        default:
            return .failed(operation: operation, errno: error, detail: detail)
        }
    }

    /// Loads `object` with only `programs` (the other builds are not loaded). 0 or -errno.
    private static func load(_ object: OpaquePointer, programs: [ProgramSpec]) -> Int32 {
        let wanted = Set(programs.map(\.name))
        var program = bpf_object__next_program(object, nil)
        while let current = program {
            _ = bpf_program__set_autoload(current, wanted.contains(String(cString: bpf_program__name(current))))
            program = bpf_object__next_program(object, current)
        }
        return bpf_object__load(object)
    }

    /// `ownMapID`: the id of the loaded object's `.rodata.pidns` map, which is never pinned
    /// (each load has its own): a pinned program is the same when it uses the same pinned
    /// maps and one such map of its own.
    private static func attachOrTakeOver(program loadedFD: Int32, spec: ProgramSpec, ownMapID: UInt32?,
                                         cgroupFD: Int32, pinDirectory: String) throws(BPFGuardError) -> (tookOver: Bool, replaced: Int) {
        guard let loaded = programInfo(loadedFD) else { throw .failed(operation: "program info \(spec.name)", errno: errno) }
        let pinPath = pinDirectory + "/" + spec.pin
        let attached = try attachedPrograms(cgroupFD: cgroupFD, type: spec.type)
        let pinnedFD = bpf_obj_get(pinPath)
        defer { if pinnedFD >= 0 { close(pinnedFD) } }
        let current: UInt32
        var tookOver = false
        if pinnedFD >= 0, let pinned = programInfo(pinnedFD), attached.contains(pinned.id),
           pinned.tag == loaded.tag, sameMaps(pinned: pinned.mapIDs, loaded: loaded.mapIDs, ownMapID: ownMapID) {
            current = pinned.id
            tookOver = true
        } else {
            guard bpf_prog_attach(loadedFD, cgroupFD, spec.type, UInt32(BPF_F_ALLOW_MULTI)) == 0 else {
                throw classifyErrno(errno, operation: "attach \(spec.name) (BPF_F_ALLOW_MULTI)", detail: LibbpfLog.shared.take())
            }
            if pinnedFD >= 0 { unlink(pinPath) }
            guard bpf_obj_pin(loadedFD, pinPath) == 0 else {
                let e = errno
                _ = bpf_prog_detach2(loadedFD, cgroupFD, spec.type)
                throw .failed(operation: "pin \(pinPath)", errno: e)
            }
            current = loaded.id
        }
        // Older portward programs (an upgrade, or pins lost with a remounted bpffs): the new
        // one is attached, so detaching them leaves no gap. Finding them by id needs
        // CAP_SYS_ADMIN (BPF_PROG_GET_FD_BY_ID); without it they stay (and must allow too).
        var replaced = 0
        if pinnedFD >= 0, !tookOver, bpf_prog_detach2(pinnedFD, cgroupFD, spec.type) == 0 { replaced += 1 }
        for id in try attachedPrograms(cgroupFD: cgroupFD, type: spec.type) where id != current {
            let fd = bpf_prog_get_fd_by_id(id)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            if let name = programInfo(fd)?.name, spec.names.contains(name), bpf_prog_detach2(fd, cgroupFD, spec.type) == 0 { replaced += 1 }
        }
        return (tookOver, replaced)
    }

    /// Ids of the programs attached to the cgroup itself for `type` (not inherited ones).
    static func attachedPrograms(cgroupFD: Int32, type: bpf_attach_type) throws(BPFGuardError) -> [UInt32] {
        var capacity: UInt32 = 64
        while true {
            var ids = [UInt32](repeating: 0, count: Int(capacity))
            var count = capacity
            var flags: UInt32 = 0
            if bpf_prog_query(cgroupFD, type, 0, &flags, &ids, &count) == 0 {
                return Array(ids.prefix(Int(count)))
            }
            guard errno == ENOSPC, count > capacity else { throw classifyErrno(errno, operation: "query cgroup programs") }
            capacity = count
        }
    }

    /// The pinned program uses every shared map the loaded one does, and as many maps in
    /// all (its own `.rodata.pidns` in place of the loaded one's).
    static func sameMaps(pinned: Set<UInt32>, loaded: Set<UInt32>, ownMapID: UInt32?) -> Bool {
        guard let ownMapID, loaded.contains(ownMapID) else { return pinned == loaded }
        return loaded.subtracting([ownMapID]).isSubset(of: pinned) && pinned.count == loaded.count
    }

    struct ProgramInfo: Equatable {
        var id: UInt32
        var name: String
        var tag: [UInt8]
        var mapIDs: Set<UInt32>
    }

    static func programInfo(_ fd: Int32) -> ProgramInfo? {
        var info = bpf_prog_info()
        var mapIDs = [UInt32](repeating: 0, count: 16)
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        let status = mapIDs.withUnsafeMutableBufferPointer { buffer -> Int32 in
            info.nr_map_ids = UInt32(buffer.count)
            info.map_ids = UInt64(UInt(bitPattern: buffer.baseAddress))
            return bpf_obj_get_info_by_fd(fd, &info, &length)
        }
        guard status == 0 else { return nil }
        let name = withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let tag = withUnsafeBytes(of: info.tag) { Array($0) }
        return ProgramInfo(id: info.id, name: name, tag: tag,
                           mapIDs: Set(mapIDs.prefix(Int(min(info.nr_map_ids, 16)))))
    }
}

/// Reads the guard's events (denials, binds to declared ports, writes of the keys) from its
/// ring buffer. Not thread-safe: one reader, one thread.
public final class GuardEventReader {
    private final class Sink {
        var events: [GuardEvent] = []
    }

    private let ring: OpaquePointer
    private let sink: Sink

    init(mapFD: Int32) throws(BPFGuardError) {
        let sink = Sink()
        let context = Unmanaged.passUnretained(sink).toOpaque()
        guard let ring = ring_buffer__new(mapFD, { context, data, size in
            guard let context, let data else { return 0 }
            let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
            guard let event = GuardEvent(bytes: UnsafeRawBufferPointer(start: data, count: size)) else { return 0 }
            // What the program could not give, from /proc while the process may still be there.
            switch event {
            case .denial(var record):
                if record.command == nil { record.command = processCommand(record.pid) }
                sink.events.append(.denial(record))
            case .bound(var record):
                if record.command == nil { record.command = processCommand(record.pid) }
                sink.events.append(.bound(record))
            case .sysctlWrite(var write):
                if write.command == nil { write.command = processCommand(write.pid) }
                write.netnsInode = processNetns(write.pid)
                write.unit = systemdUnit(ofPID: Int32(bitPattern: write.pid))
                sink.events.append(.sysctlWrite(write))
            }
            return 0
        }, context, nil) else {
            throw .failed(operation: "ring_buffer__new", errno: errno, detail: LibbpfLog.shared.take())
        }
        self.ring = ring
        self.sink = sink
    }

    deinit { ring_buffer__free(ring) }

    /// An epoll file descriptor that becomes readable when events are waiting (for the
    /// daemon's event loop); owned by the reader.
    public var fileDescriptor: Int32 { ring_buffer__epoll_fd(ring) }

    /// The events waiting now, without blocking, oldest first.
    public func drain() throws(BPFGuardError) -> [GuardEvent] {
        let status = ring_buffer__consume(ring)
        if status < 0 { throw .failed(operation: "ring_buffer__consume", errno: -status) }
        defer { sink.events.removeAll() }
        return sink.events
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) for events and returns them (empty
    /// on timeout or EINTR).
    public func poll(timeoutMilliseconds: Int32) throws(BPFGuardError) -> [GuardEvent] {
        let status = ring_buffer__poll(ring, timeoutMilliseconds)
        if status < 0, -status != EINTR { throw .failed(operation: "ring_buffer__poll", errno: -status) }
        defer { sink.events.removeAll() }
        return sink.events
    }
}

/// The inode of `/proc/<pid>/ns/net` ("net:[INODE]"), or nil when the process is gone.
func processNetns(_ pid: UInt32) -> UInt64? {
    guard pid != 0 else { return nil }
    var buffer = [CChar](repeating: 0, count: 64)
    let n = readlink("/proc/\(pid)/ns/net", &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    let text = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard text.hasPrefix("net:["), text.hasSuffix("]") else { return nil }
    return UInt64(text.dropFirst(5).dropLast())
}

/// `/proc/<pid>/comm` without its newline, or nil when the process is gone.
func processCommand(_ pid: UInt32) -> String? {
    guard pid != 0, let text = readSmallFile("/proc/\(pid)/comm") else { return nil }
    return text.hasSuffix("\n") ? String(text.dropLast()) : text
}
