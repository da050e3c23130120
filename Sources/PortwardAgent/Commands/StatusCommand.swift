import PortwardCore
import PortwardLinux
import SystemPackage

/// `portward status`: per declared entry and protocol, whether its ports are reserved and
/// who holds them, from a live check (the kernel value, sock_diag, /proc) completed by the
/// running daemon's attribution (daemon.json) for holders this user cannot read, and how
/// the owner guard protects each entry (`GuardReport`).
public struct StatusCommand {
    public let context: TargetContext
    /// JSON (docs/status-json.md) instead of a table.
    public let json: Bool
    /// The proc mount scanned for socket holders.
    public let procRoot: String
    /// The kernel key; nil: the target's.
    public let sysctl: ReservedPortsSysctl?
    /// Opens the holder lookup; nil: sock_diag and `procRoot`.
    public let makeHolderLookup: (() throws -> HolderLookup)?
    /// The daemon as seen by this command; nil: probed from the target.
    public let daemon: DaemonProbe?
    /// Reads the owner guard's pinned map (used when no daemon runs); nil:
    /// `GuardReport.pinnedEntries` (root only).
    public let pinnedGuard: (() -> (entries: [GuardKey: GuardOwner], netnsCookie: UInt64)?)?

    /// Which network namespaces to show (`--netns`).
    public enum Namespaces: Sendable, Equatable {
        /// The host's (the namespace `status` runs in): the default.
        case host
        /// One namespace: an `ip netns` name, or a path to a namespace file (contains `/`:
        /// `/run/netns/blue`, `/proc/PID/ns/net`, `/run/docker/netns/ID`).
        case one(String)
        /// The host's, then every other namespace some entry selects (`netns=all`, name
        /// patterns), as discovery finds them.
        case all
    }
    /// `--netns`; `.host` by default.
    public let namespaces: Namespaces

    public init(context: TargetContext, json: Bool, procRoot: String = "/proc",
                sysctl: ReservedPortsSysctl? = nil, makeHolderLookup: (() throws -> HolderLookup)? = nil,
                daemon: DaemonProbe? = nil, namespaces: Namespaces = .host,
                pinnedGuard: (() -> (entries: [GuardKey: GuardOwner], netnsCookie: UInt64)?)? = nil) {
        self.namespaces = namespaces
        self.pinnedGuard = pinnedGuard
        self.context = context
        self.json = json
        self.procRoot = procRoot
        self.sysctl = sysctl
        self.makeHolderLookup = makeHolderLookup
        self.daemon = daemon
    }

    /// Throws `.attention` when a row is in conflict or has unreserved ports, else
    /// `.unverified` when a row's owner could not be verified (an unattributed holder);
    /// `.configurationError`, or `.failure` (the kernel value or sock_diag cannot be read).
    public func run(on terminal: any Terminal = StandardTerminal()) throws(ExitStatus) {
        guard namespaces == .host else { return try runPerNamespace(on: terminal) }
        let configuration = try context.loadConfiguration(reportingTo: terminal)
        let outcome = try status(configuration, sysctl: sysctl ?? ReservedPortsSysctl(procSys: context.procSys),
                                 makeHolderLookup: makeHolderLookup ?? { try HolderLookup(procRoot: procRoot) },
                                 state: context.stateStore, namespace: nil, on: terminal)
        terminal.out(outcome.text)
        if let exit = outcome.exit { throw exit }
    }

    /// What one namespace's status prints, and the exit status it asks for (nil: 0).
    private struct Outcome {
        var text: String
        var exit: ExitStatus?
        var attention: Bool { exit == .attention }
    }

    private func status(_ configuration: Configuration, sysctl: ReservedPortsSysctl,
                        makeHolderLookup: () throws -> HolderLookup, state: StateStore,
                        namespace: DiscoveredNetns?, on terminal: any Terminal) throws(ExitStatus) -> Outcome {
        let reserved: PortSet
        do { reserved = try sysctl.read() } catch {
            terminal.error("\(error)")
            throw .failure
        }
        let report: HolderLookup.Report
        do {
            let lookup = try makeHolderLookup()
            report = try lookup.holders(of: configuration.declaredPorts)
        } catch {
            terminal.error("cannot list sockets with sock_diag: \(error)")
            throw .failure
        }
        // The daemon's view: its attribution fills in holders we could not read ourselves
        // (not root), and its state is shown next to this live check.
        let daemon = self.daemon ?? DaemonProbe(context)
        let sockets = daemon.attribute(daemon.withoutHeld(report.sockets))
        // When portward reserved each port (state file): tells an explicit bind from an
        // ephemeral grab. Unknown (none) when the state file cannot be read.
        let times = ReservationTimes((try? state.load())?.reservedSince ?? [])
        let rows = PortClassifier.classify(configuration: configuration, reserved: reserved,
                                           sockets: sockets, userIDs: UserDatabase.uids(of: configuration),
                                           reservationTimes: times)
        let incomplete = sockets.contains { $0.holders.isEmpty && $0.socket.inode != 0 && $0.attribution != .complete }
        // The owner guard acts in the host's namespace only (its map holds that cookie).
        let protections = namespace.map(\.isOwn) ?? true ? GuardReport.protections(
            configuration, daemon: daemon,
            pinned: daemon.isRunning ? nil : (pinnedGuard ?? GuardReport.pinnedEntries)(),
            hookedUnits: OwnerRegistry(context).hooked(GuardPolicy.ownerUnits(configuration))) : [:]
        var text: String
        if json {
            text = StatusJSON.render(rows, reserved: reserved, attributionComplete: !incomplete, daemon: daemon,
                                     protections: protections, namespace: namespace.map(StatusJSON.Namespace.init)) + "\n"
        } else {
            text = namespace.map { "network namespace \(StatusJSON.Namespace($0).label)\n" } ?? ""
            text += daemon.summary + "\n"
            // The daemon cannot reach other namespaces (its unit lacks the namespace drop-in).
            if daemon.isRunning, let unavailable = daemon.view?.netnsUnavailable {
                text += unavailable.escapingControlCharacters + "\n"
            }
            text += StatusTable.render(rows, attributionIncomplete: incomplete, protections: protections,
                                       applyCommand: Self.applyCommand(root: context.root))
            text += GuardReport.reasons(configuration, protections)
            text += GuardReport.denials(daemon)
            text += GuardReport.watch(daemon)
        }
        if rows.contains(where: { $0.state == .conflict || !$0.unreserved.isEmpty }) {
            return Outcome(text: text, exit: .attention)
        }
        return Outcome(text: text, exit: rows.contains(where: { $0.state == .unverified }) ? .unverified : nil)
    }

    /// The `apply` that fixes unreserved ports for `root`: `portward apply`, with
    /// `--root DIR` (single-quoted for a shell when it needs it) for another root.
    static func applyCommand(root: String) -> String {
        guard root != "/" else { return "portward apply" }
        let plain = root.allSatisfy { $0.isLetter || $0.isNumber || "/._-+,:@%".contains($0) }
        let quoted = plain ? root : "'" + root.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
        return "portward apply --root \(quoted)"
    }

    /// `--netns NAME|PATH|all`: the namespaces found by discovery (as root: entering one
    /// needs CAP_SYS_ADMIN), each with the entries that select it (the host's: `host` and
    /// `all` entries), its key read inside it, its sockets from a sock_diag socket opened
    /// inside it, and its own state file. Table: one block per namespace after a
    /// `network namespace net:[INODE] NAME` line. JSON: the status object with a
    /// `namespace` member; for `all`, an array of them (the host's first). Exit status: the
    /// worst of them.
    private func runPerNamespace(on terminal: any Terminal) throws(ExitStatus) {
        let loaded = try context.loadConfigurationFiles(reportingTo: terminal)
        // The namespace folders under the target's root, as the daemon and `check` see them.
        let discovered = NetnsDiscovery(procRoot: procRoot, runRoot: context.runRoot).scan()
        var selected: [DiscoveredNetns]
        switch namespaces {
        case .host, .all:
            selected = discovered.filter { $0.isOwn || !loaded.allEntries.scoped(to: $0).entries.isEmpty }
        case .one(let text):
            if text.contains("/") {
                guard let identity = NetnsFiles.identity(of: text) else {
                    terminal.error("--netns \(text.escapingControlCharacters): not a network namespace file")
                    throw .failure
                }
                selected = discovered.filter { $0.identity == identity }
                if selected.isEmpty {
                    selected = [DiscoveredNetns(identity: identity, references: [.bindMount(path: text, folder: .docker)],
                                                owner: nil, isOwn: identity == NetnsFiles.own(procRoot: procRoot))]
                }
            } else {
                selected = discovered.filter { $0.names.contains(text) }
                if selected.isEmpty {
                    terminal.error("--netns \(text.escapingControlCharacters): no network namespace of that name in \(context.runRoot.escapingControlCharacters)/netns (ip netns list)")
                    throw .failure
                }
            }
        }
        var outcomes: [Outcome] = []
        let procRoot = self.procRoot
        for netns in selected {
            if netns.isOwn {
                outcomes.append(try status(loaded.configuration, sysctl: sysctl ?? ReservedPortsSysctl(procSys: context.procSys),
                                           makeHolderLookup: makeHolderLookup ?? { try HolderLookup(procRoot: procRoot) },
                                           state: context.stateStore, namespace: netns, on: terminal))
                continue
            }
            let handle: NetnsHandle
            let cookie: UInt64
            do {
                handle = try NetnsHandle(path: netns.path, expecting: netns.identity)
                cookie = try handle.cookie()
            } catch {
                terminal.error("\(error)")
                throw .failure
            }
            outcomes.append(try status(loaded.allEntries.scoped(to: netns), sysctl: ReservedPortsSysctl(io: NetnsSysctlIO(handle)),
                                       makeHolderLookup: { () throws -> HolderLookup in
                                           // The netlink socket belongs to the namespace of the
                                           // thread that creates it.
                                           let made = try handle.run { () -> Result<HolderLookup, Errno> in
                                               do throws(Errno) { return .success(try HolderLookup(procRoot: procRoot)) }
                                               catch { return .failure(error) }
                                           }
                                           return try made.get()
                                       },
                                       state: context.forNetns(netns.identity, cookie: cookie).stateStore,
                                       namespace: netns, on: terminal))
        }
        if json, namespaces == .all {
            terminal.out("[\n" + outcomes.map { $0.text.dropLast() }.joined(separator: ",\n") + "\n]\n")
        } else {
            terminal.out(outcomes.map(\.text).joined(separator: "\n"))
        }
        if outcomes.contains(where: \.attention) { throw .attention }
        if let exit = outcomes.lazy.compactMap(\.exit).first { throw exit }
    }
}
