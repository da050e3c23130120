import ArgumentParser
import PortwardCore
import PortwardLinux

extension Portward {
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Merge the declared ports into net.ipv4.ip_local_reserved_ports once, and exit.",
            discussion: "For systems without the daemon, containers and CI. Needs root (or CAP_NET_ADMIN in the network namespace). Nothing is written when the configuration has errors.")

        @OptionGroup var options: CommonOptions

        @Flag(help: "Apply even when the reservation would cover more than half of ip_local_port_range.")
        var force = false

        @Flag(name: .shortAndLong, help: "Print nothing but warnings and errors.")
        var quiet = false

        func run() throws {
            let configuration = try options.loadConfiguration()
            let plan = try Reservation.apply(configuration, with: options.reconciler, force: force)
            if !quiet {
                print("portward: \(PlanReport.summary(plan, configuration))"
                      + (plan.added.isEmpty ? "" : "; added \(plan.added)")
                      + (plan.released.isEmpty ? "" : "; released \(plan.released)"))
            }
        }
    }
}
