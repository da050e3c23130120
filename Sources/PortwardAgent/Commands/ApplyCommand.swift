import PortwardCore
import PortwardLinux

/// `portward apply`: merges the declared ports into the kernel once through the
/// `ReservationTransaction` (waiting up to 5 s for another portward process), and tells a
/// running daemon of the same target to reload (SIGHUP, still under the lock), so that it
/// does not undo the change as drift.
public struct ApplyCommand {
    public let context: TargetContext
    public let force: Bool
    /// Print nothing but warnings and errors.
    public let quiet: Bool
    /// The kernel key; nil: the target's.
    public let sysctl: ReservedPortsSysctl?

    public init(context: TargetContext, force: Bool, quiet: Bool, sysctl: ReservedPortsSysctl? = nil) {
        self.context = context
        self.force = force
        self.quiet = quiet
        self.sysctl = sysctl
    }

    /// Throws `.configurationError`, `.refused` (the safety rail) or `.failure` (kernel,
    /// state file, lock), after printing why.
    public func run(on terminal: any Terminal = StandardTerminal()) throws(ExitStatus) {
        let configuration = try context.loadConfiguration(reportingTo: terminal)
        var reload: DaemonProbe.ReloadRequest?
        let result = ReservationTransaction(context: context, sysctl: sysctl)
            .run(configuration, force: force, wait: 5, whileLocked: { _ in
                // Before the lock is released: the daemon cannot repair "drift" in between,
                // and its reload waits for the lock, then reads the configuration just applied.
                reload = DaemonProbe(context).askToReload()
            })
        let plan: Plan
        switch result {
        case .success(let committed):
            terminal.report(committed.warnings + committed.plan.diagnostics)
            plan = committed.plan
        case .failure(let failure):
            terminal.report(failure.diagnostics)
            if case .refused = failure { throw .refused }
            terminal.error("\(failure)")
            throw .failure
        }
        switch reload {
        case .sent(let pid)?:
            if !quiet { terminal.out("portward: asked the running daemon (pid \(pid)) to reload the configuration\n") }
        case .failed(let pid, let reason)?:
            terminal.error("warning: the running daemon (pid \(pid)) keeps its own configuration and will undo this change as drift (cannot signal it: \(reason)); reload it: systemctl reload portward")
        case nil:
            break
        }
        if !quiet {
            terminal.out("portward: \(StatusLine.applied(configuration))"
                         + (plan.added.isEmpty ? "" : "; added \(plan.added)")
                         + (plan.released.isEmpty ? "" : "; released \(plan.released)") + "\n")
        }
    }
}
