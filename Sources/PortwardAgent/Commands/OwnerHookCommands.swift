import Glibc
import PortwardCore
import PortwardLinux

/// `portward register-owner UNIT`: the `ExecStartPre=-+` hook of the generator's drop-in
/// (`OwnerDropIn`). Runs in the unit's new cgroup before the unit's own processes: records
/// that cgroup's id for `UNIT` (`OwnerRegistry`) and rewrites the guard's existing map
/// entries for the unit's ports to it, so the owner binds from its first instruction. Holds
/// the registry lock meanwhile (the daemon writes the map under it too).
///
/// Then, for the hold fallback (the guard unavailable), asks the daemon to release the
/// unit's held sockets (`release UNIT` on /run/portward/hold.sock) and returns only after
/// the daemon answered that they are closed, so the owner binds from its first instruction.
///
/// Never blocks the owner for long: the lock is awaited at most 5 s, then the hook goes on
/// without it; the daemon's answer is awaited at most `HoldHook.timeout`, then the hook
/// returns anyway (it never locks the owner out: the daemon's own check releases the ports
/// of a unit it sees running within about one --interval). No daemon: nothing is held, the
/// hook returns at once. Entries the daemon did not put in the map (the guard off, the
/// entry not guarded) are not added. The pins are the host's whatever `--root` says: with
/// `--root` the map is rewritten only when that root's daemon published its guard in force
/// (daemon.json; started with `--guard`).
public struct RegisterOwnerCommand {
    public let context: TargetContext
    public let unit: String

    public init(context: TargetContext, unit: String) {
        self.context = context
        self.unit = unit
    }

    /// Throws `.failure` (after saying why) when this process's cgroup cannot be known or
    /// the registry cannot be written.
    public func run(on terminal: any Terminal = StandardTerminal()) throws(ExitStatus) {
        // The release comes after the registration (the daemon then sees the unit's cgroup)
        // and also when the registration failed.
        defer { HoldHook.request(.release, unit: unit, context: context, terminal: terminal) }
        try register(on: terminal)
    }

    private func register(on terminal: any Terminal) throws(ExitStatus) {
        guard let mount = CgroupV2.mountPoint(), let own = CgroupV2.directory(mountPoint: mount) else {
            terminal.error("register-owner \(unit): this process has no cgroup v2 directory")
            throw .failure
        }
        let inUnit = OwnerRegistry.unitCgroup(processCgroup: own, mountPoint: mount, unit: unit)
        let directory = inUnit ?? own
        let id: UInt64
        do { id = try CgroupV2.id(ofDirectory: directory) } catch {
            terminal.error("register-owner \(unit): \(error)")
            throw .failure
        }
        let registry = OwnerRegistry(context)
        let lock = try? registry.lock(wait: 5)
        defer { lock?.release() }
        // Run from another unit's cgroup (the socket unit's drop-in: its listeners are made
        // there) while the service itself runs: the running service stays the owner (its
        // own later binds must not be refused); its listeners are open already anyway.
        if inUnit == nil, let recorded = registry.recordedEntry(unit), let path = recorded.path,
           path.hasSuffix("/" + unit), registry.directoryID(path) != nil {
            terminal.out("registered \(unit): kept cgroup \(recorded.id) (\(unit) runs)\n")
            return
        }
        do { try registry.record(unit, id: id, path: directory) } catch {
            terminal.error("register-owner \(unit): cannot record cgroup \(id) in \(registry.directory): \(error)")
            throw .failure
        }
        // The map, when a guard is pinned: its entries for this unit's ports now name the
        // new cgroup. Keys of any network namespace cookie: the hook may run in the unit's
        // own namespace (PrivateNetwork=), the entries are the daemon's.
        // With --root the pins are still the host's: touched only when that root's daemon
        // published its guard in force (started with --guard; killed since, its pins still
        // guard), never for a root whose daemon has none (a test's, outside the BPF box).
        if context.root != "/", context.daemonViewStore.load()?.ownerGuard.map({ $0.unavailable == nil }) != true {
            terminal.out("registered \(unit): cgroup \(id) (--root: this root's daemon has no guard)\n")
            return
        }
        guard let pinned = try? BPFGuard.openPinned(), let entries = try? pinned.entries() else {
            terminal.out("registered \(unit): cgroup \(id) (no guard pinned)\n")
            return
        }
        let configuration = ConfigLoader(root: context.root).load().configuration
        let rules = GuardPolicy.rules(configuration, userIDs: [:], hookedUnits: [unit]).filter { $0.owner == .unit(unit) }
        var updated = 0
        for (key, existing) in entries where existing.cgroupID != nil && existing.cgroupID != id {
            guard rules.contains(where: { $0.transport == key.transport && $0.ranges.contains { $0.contains(key.port) } }) else { continue }
            var owner = existing
            owner.cgroupID = id
            do {
                try pinned.setOwner(owner, netnsCookie: key.netnsCookie, transport: key.transport, ports: PortRange(key.port, key.port))
            } catch {
                terminal.error("register-owner \(unit): \(error)")
                throw .failure
            }
            updated += 1
        }
        terminal.out("registered \(unit): cgroup \(id), \(updated) guard entries updated\n")
    }
}

/// `portward owner-stopped UNIT`: the `ExecStopPost=-+` hook of the generator's drop-in.
/// The unit's processes are gone; asks the daemon to hold the unit's ports again (`hold
/// UNIT`, the hold fallback) and waits for its answer (at most `HoldHook.timeout`). Does
/// nothing without a daemon, or with the guard in force. Never fails.
public struct OwnerStoppedCommand {
    public let context: TargetContext
    public let unit: String

    public init(context: TargetContext, unit: String) {
        self.context = context
        self.unit = unit
    }

    public func run(on terminal: any Terminal = StandardTerminal()) {
        HoldHook.request(.hold, unit: unit, context: context, terminal: terminal)
    }
}

/// The hooks' side of the hold fallback's control socket.
enum HoldHook {
    /// How long a hook waits for the daemon's answer, in seconds.
    static let timeout = 5.0

    /// Sends `verb UNIT` and waits for the answer; says on stdout what happened (the unit's
    /// journal shows it), on stderr when the daemon did not answer.
    static func request(_ verb: HoldControlRequest.Verb, unit: String, context: TargetContext, terminal: any Terminal) {
        let name = verb == .release ? "register-owner" : "owner-stopped"
        switch HoldControlClient.send(HoldControlRequest(verb: verb, unit: unit), path: context.holdControlPath, timeout: timeout) {
        case .answered(let answer):
            if !answer.hasSuffix(" 0") { terminal.out("\(name) \(unit): hold fallback: \(answer.escapingControlCharacters)\n") }
        case .noDaemon:
            break
        case .timedOut:
            terminal.error("\(name) \(unit): the daemon did not answer on \(context.holdControlPath) within \(Int(timeout)) s; going on " +
                           (verb == .release ? "(it releases the held ports when its next check sees the unit running)" : "(its next check holds the ports again)"))
        case .failed(let error):
            terminal.error("\(name) \(unit): cannot reach the daemon on \(context.holdControlPath): \(error); going on")
        }
    }
}

/// `portward generator NORMAL_DIR [EARLY_DIR LATE_DIR]`: the systemd generator
/// (systemd.generator(7), installed as /usr/lib/systemd/system-generators/portward-generator,
/// a link to the binary). Writes `NORMAL_DIR/UNIT.d/50-portward-owner.conf` for every
/// `unit:` owner that is a service (`OwnerDropIn`), and for the socket unit that activates
/// it, when there is one (`OwnerRegistry.socketUnits`), and
/// `NORMAL_DIR/portward.service.d/50-portward-netns.conf` when an entry reaches other
/// network namespaces (`NetnsServiceDropIn`: what entering them takes). Configuration
/// errors are reported on stderr and the valid entries still get their drop-ins: a
/// generator never fails the boot.
public struct GeneratorCommand {
    public let context: TargetContext
    public let directory: String
    /// The portward binary the hook runs.
    public let executable: String

    public init(context: TargetContext, directory: String, executable: String = "/usr/sbin/portward") {
        self.context = context
        self.directory = directory
        self.executable = executable
    }

    /// Throws `.failure` only when a drop-in cannot be written.
    public func run(on terminal: any Terminal = StandardTerminal()) throws(ExitStatus) {
        let loaded = ConfigLoader(root: context.root).load()
        terminal.report(loaded.diagnostics.filter { $0.severity == .error })
        let socketUnits = OwnerRegistry(context).socketUnits(GuardPolicy.ownerUnits(loaded.configuration))
        var dropIns = OwnerDropIn.dropIns(loaded.configuration, socketUnits: socketUnits, executable: executable)
            .map { (unit: $0.unit, path: OwnerDropIn.path(for: $0.unit, in: directory), contents: $0.contents) }
        if let contents = NetnsServiceDropIn.contents(loaded.allEntries) {
            dropIns.append((NetnsServiceDropIn.unit, NetnsServiceDropIn.path(in: directory), contents))
        }
        for (unit, path, contents) in dropIns {
            do {
                try FileContents.makeDirectories(directory + "/" + unit + ".d")
                try FileContents.writeAtomically(Array(contents.utf8), to: path)
            } catch {
                terminal.error("generator: cannot write \(path): \(error)")
                throw .failure
            }
        }
    }
}

/// `portward guard --detach`: takes the owner guard away (package removal: the Debian
/// prerm and the RPM %preun run it after stopping the daemon). Detaches the guard's programs
/// from the cgroup v2 root (`BPFGuard.uninstall`: the pinned ones, and with CAP_SYS_ADMIN
/// also those whose pins were lost), removes the pins under /sys/fs/bpf/portward and the
/// owner registry (/run/portward/owners). Idempotent: nothing installed is not an error,
/// nor is a host without bpffs or cgroup v2 (nothing can be attached there).
public struct GuardDetachCommand {
    public let context: TargetContext
    public let pinDirectory: String

    public init(context: TargetContext, pinDirectory: String = BPFGuard.defaultPinDirectory) {
        self.context = context
        self.pinDirectory = pinDirectory
    }

    /// Throws `.failure` (after saying why) when something attached cannot be detached.
    public func run(on terminal: any Terminal = StandardTerminal()) throws(ExitStatus) {
        let registry = OwnerRegistry(context)
        if let dir = opendir(registry.directory) {
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(dir)
            for name in names { unlink(registry.directory + "/" + name) }
            rmdir(registry.directory)
        }
        do {
            let detached = try BPFGuard.uninstall(cgroup: CgroupV2.mountPoint(), pinDirectory: pinDirectory)
            terminal.out("owner guard: detached \(detached) programs, removed \(pinDirectory)\n")
        } catch {
            switch error {
            case .unavailable(.noBPFFilesystem, _), .unavailable(.noCgroup2, _):
                terminal.out("owner guard: nothing to detach (\(error))\n")
            default:
                terminal.error("owner guard: cannot detach: \(error)")
                throw .failure
            }
        }
    }
}
