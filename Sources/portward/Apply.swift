import ArgumentParser
import PortwardCore
import PortwardLinux

extension Portward {
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Merge the declared ports into net.ipv4.ip_local_reserved_ports once, and exit.",
            discussion: "For systems without the daemon, containers and CI. Needs root (or CAP_NET_ADMIN in the network namespace). Nothing is written when the configuration has errors. When `portward run` is running (for the same --root), it is sent SIGHUP so that it reloads the same configuration instead of undoing the change as drift.")

        @OptionGroup var options: CommonOptions

        @Flag(help: "Apply even when the reservation would cover more than half of ip_local_port_range.")
        var force = false

        @Flag(name: .shortAndLong, help: "Print nothing but warnings and errors.")
        var quiet = false

        func run() throws {
            let configuration = try options.loadConfiguration()
            var reload: DaemonStatus.ReloadRequest?
            let plan = try Reservation.apply(configuration, with: options.reconciler, force: force) { _ in
                // Before the lock is released: the daemon cannot repair "drift" in between, and
                // its reload waits for the lock, then reads the configuration just applied.
                reload = DaemonStatus(view: DaemonViewStore(root: options.root).load()).askToReload()
            }
            switch reload {
            case .sent(let pid)?:
                if !quiet { print("portward: asked the running daemon (pid \(pid)) to reload the configuration") }
            case .failed(let pid, let reason)?:
                Console.error("warning: the running daemon (pid \(pid)) keeps its own configuration and will undo this change as drift (cannot signal it: \(reason)); reload it: systemctl reload portward")
            case nil:
                break
            }
            if !quiet {
                print("portward: \(PlanReport.summary(plan, configuration))"
                      + (plan.added.isEmpty ? "" : "; added \(plan.added)")
                      + (plan.released.isEmpty ? "" : "; released \(plan.released)"))
            }
        }
    }
}
