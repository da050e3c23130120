import Glibc
import PortwardCore
import PortwardLinux

/// `portward check`: validates the configuration, prints the entries (with their `netns=`
/// scope and the namespaces they reach now, when some entry is not host-only, and each
/// entry's protection by the owner guard: GUARD column, a note says why an owner entry is
/// report-only), the host's merged plan (reading the kernel's value when it can; any user
/// may) and the
/// warnings. Changes nothing.
public struct CheckCommand {
    public let context: TargetContext
    /// Report the safety-rail error as a warning, as `apply --force` would.
    public let force: Bool
    /// The kernel key; nil: the target's.
    public let sysctl: ReservedPortsSysctl?

    /// The running daemon (its owner guard's state); nil: probed from the target.
    public let daemon: DaemonProbe?

    public init(context: TargetContext, force: Bool, sysctl: ReservedPortsSysctl? = nil, daemon: DaemonProbe? = nil) {
        self.daemon = daemon
        self.context = context
        self.force = force
        self.sysctl = sysctl
    }

    /// Throws `.configurationError` (errors in the files) or `.refused` (the safety rail).
    public func run(on terminal: any Terminal = StandardTerminal()) throws(ExitStatus) {
        let loaded = try context.loadConfigurationFiles(reportingTo: terminal)
        let configuration = loaded.configuration
        terminal.report(Self.unknownOwners(loaded.allEntries, root: context.root))
        let daemon = daemon ?? DaemonProbe(context)
        let protections = Self.protections(configuration, daemon: daemon, context: context)
        terminal.report(Self.guardNotes(configuration, protections))
        terminal.report(Self.netnsNotes(loaded.allEntries, daemon: daemon, root: context.root))
        terminal.out(PlanReport.entries(loaded.allEntries, protections: protections))
        if loaded.allEntries.hasScopes {
            // The bind-mount folders only (any user can list them); `all` also reaches the
            // namespaces held only by processes, which the daemon finds.
            let discovered = NetnsDiscovery(runRoot: RootedPath.join(context.root, "/run"), includeProcesses: false).scan()
            terminal.out(PlanReport.namespaces(loaded.allEntries, discovered: discovered))
        }
        let transaction = ReservationTransaction(context: context, sysctl: sysctl)
        do {
            let (plan, warnings) = try transaction.plan(configuration, force: force)
            terminal.report(warnings + plan.diagnostics)
            terminal.out(PlanReport.plan(plan))
            if plan.isRefused { throw ExitStatus.refused }
        } catch let error as SysctlError {
            terminal.error("cannot read the kernel's reservation (\(error)); plan not computed")
        } catch {
            throw error as! ExitStatus
        }
    }

    /// Each entry's protection by the owner guard: the running daemon's, or, without one,
    /// what a daemon with the guard available would do.
    static func protections(_ configuration: Configuration, daemon: DaemonProbe, context: TargetContext) -> [String: EntryProtection] {
        let hooked = OwnerRegistry(context).hooked(GuardPolicy.ownerUnits(configuration))
        if daemon.isRunning, daemon.view?.ownerGuard != nil {
            return GuardReport.protections(configuration, daemon: daemon, pinned: nil, hookedUnits: hooked)
        }
        return GuardPolicy.protections(configuration, userIDs: UserDatabase.uids(of: configuration), unavailable: nil,
                                       hookedUnits: hooked)
    }

    /// A note per owner entry the guard does not protect, saying why.
    static func guardNotes(_ configuration: Configuration, _ protections: [String: EntryProtection]) -> [Diagnostic] {
        configuration.entries.compactMap { entry in
            guard let p = protections[entry.name], p.state == .reportOnly else { return nil }
            return .note("\(entry.name): report-only (not guarded): \(p.reason ?? "")", at: entry.location)
        }
    }

    /// For entries that reach other network namespaces: a warning when the running daemon
    /// reports that its sandbox refuses them (`DaemonView.netnsUnavailable`), else a note
    /// when systemd runs under `root` and portward.service's namespace drop-in
    /// (`NetnsServiceDropIn`) has not been generated yet. At the first such entry.
    static func netnsNotes(_ configuration: Configuration, daemon: DaemonProbe, root: String) -> [Diagnostic] {
        guard let first = NetnsServiceDropIn.entries(configuration).first else { return [] }
        if daemon.isRunning, let unavailable = daemon.view?.netnsUnavailable {
            return [.warning("\(first.name): \(unavailable)", at: first.location)]
        }
        guard access(RootedPath.join(root, "/run/systemd/system"), F_OK) == 0,
              access(RootedPath.join(root, NetnsServiceDropIn.path()), F_OK) != 0 else { return [] }
        return [.note("\(first.name): reaches other network namespaces, but \(NetnsServiceDropIn.unit) has no namespace drop-in "
                      + "yet (\(NetnsServiceDropIn.path())): run systemctl daemon-reload, then systemctl restart \(NetnsServiceDropIn.unit)",
                      at: first.location)]
    }

    /// Warnings for owners this host does not have (yet): a `user:NAME` unknown to NSS, an
    /// `exe:PATH` that does not exist under the root. Not errors: a package may create
    /// them later; until then a holder of the port is unverified (`user:`) or the wrong
    /// owner (`exe:`).
    static func unknownOwners(_ configuration: Configuration, root: String) -> [Diagnostic] {
        configuration.entries.compactMap { entry in
            switch entry.owner {
            case .user(.name(let name)) where UserDatabase.uid(named: name) == nil:
                .warning("\(entry.name): user '\(name)' does not exist on this host; until it does, no holder of the port can be verified (status: unverified)", at: entry.location)
            case .exe(let path) where access(RootedPath.join(root, path), F_OK) != 0:
                .warning("\(entry.name): \(path) does not exist; until it does, any holder of the port is reported as the wrong owner", at: entry.location)
            default:
                nil
            }
        }
    }
}
