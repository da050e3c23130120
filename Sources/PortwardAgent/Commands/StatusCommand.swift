import PortwardCore
import PortwardLinux

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

    public init(context: TargetContext, json: Bool, procRoot: String = "/proc",
                sysctl: ReservedPortsSysctl? = nil, makeHolderLookup: (() throws -> HolderLookup)? = nil,
                daemon: DaemonProbe? = nil,
                pinnedGuard: (() -> (entries: [GuardKey: GuardOwner], netnsCookie: UInt64)?)? = nil) {
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
        let configuration = try context.loadConfiguration(reportingTo: terminal)
        let reserved: PortSet
        do { reserved = try (sysctl ?? ReservedPortsSysctl(procSys: context.procSys)).read() } catch {
            terminal.error("\(error)")
            throw .failure
        }
        let report: HolderLookup.Report
        do {
            let lookup = try makeHolderLookup?() ?? HolderLookup(procRoot: procRoot)
            report = try lookup.holders(of: configuration.declaredPorts)
        } catch {
            terminal.error("cannot list sockets with sock_diag: \(error)")
            throw .failure
        }
        // The daemon's view: its attribution fills in holders we could not read ourselves
        // (not root), and its state is shown next to this live check.
        let daemon = self.daemon ?? DaemonProbe(context)
        let sockets = daemon.attribute(report.sockets)
        // When portward reserved each port (state file): tells an explicit bind from an
        // ephemeral grab. Unknown (none) when the state file cannot be read.
        let times = ReservationTimes((try? context.stateStore.load())?.reservedSince ?? [])
        let rows = PortClassifier.classify(configuration: configuration, reserved: reserved,
                                           sockets: sockets, userIDs: UserDatabase.uids(of: configuration),
                                           reservationTimes: times)
        let incomplete = sockets.contains { $0.holders.isEmpty && $0.socket.inode != 0 && $0.attribution != .complete }
        let protections = GuardReport.protections(
            configuration, daemon: daemon,
            pinned: daemon.isRunning ? nil : (pinnedGuard ?? GuardReport.pinnedEntries)(),
            hookedUnits: OwnerRegistry(context).hooked(GuardPolicy.ownerUnits(configuration)))
        if json {
            terminal.out(StatusJSON.render(rows, reserved: reserved, attributionComplete: !incomplete, daemon: daemon,
                                           protections: protections) + "\n")
        } else {
            terminal.out(daemon.summary + "\n")
            terminal.out(StatusTable.render(rows, attributionIncomplete: incomplete, protections: protections))
            terminal.out(GuardReport.reasons(configuration, protections))
            terminal.out(GuardReport.denials(daemon))
        }
        if rows.contains(where: { $0.state == .conflict || !$0.unreserved.isEmpty }) {
            throw .attention
        }
        if rows.contains(where: { $0.state == .unverified }) {
            throw .unverified
        }
    }
}
