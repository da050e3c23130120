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
        let protections = Self.protections(configuration, daemon: daemon ?? DaemonProbe(context), context: context)
        terminal.report(Self.guardNotes(configuration, protections))
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

    /// Warnings for owners this host does not have (yet): a `user:NAME` unknown to NSS, an
    /// `exe:PATH` that does not exist under the root. Not errors: a package may create
    /// them later; until then every holder of the port counts as the wrong owner.
    static func unknownOwners(_ configuration: Configuration, root: String) -> [Diagnostic] {
        configuration.entries.compactMap { entry in
            switch entry.owner {
            case .user(.name(let name)) where UserDatabase.uid(named: name) == nil:
                .warning("\(entry.name): user '\(name)' does not exist on this host; until it does, any holder of the port is reported as the wrong owner", at: entry.location)
            case .exe(let path) where access(RootedPath.join(root, path), F_OK) != 0:
                .warning("\(entry.name): \(path) does not exist; until it does, any holder of the port is reported as the wrong owner", at: entry.location)
            default:
                nil
            }
        }
    }
}
