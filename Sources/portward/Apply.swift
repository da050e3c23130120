import ArgumentParser
import PortwardAgent

extension Portward {
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply", _superCommandName: "portward",
            abstract: "Merge the declared ports into net.ipv4.ip_local_reserved_ports once, and exit.",
            discussion: "For systems without the daemon, containers and CI. Needs root (or CAP_NET_ADMIN in the network namespace). Nothing is written when the configuration has errors. When `portward run` is running (for the same --root), it is sent SIGHUP so that it reloads the same configuration instead of undoing the change as drift.")

        @OptionGroup var options: CommonOptions

        @Flag(help: "Apply even when the reservation would cover more than half of ip_local_port_range.")
        var force = false

        @Flag(name: .shortAndLong, help: "Print nothing but warnings and errors.")
        var quiet = false

        func run() throws {
            try exiting { () throws(ExitStatus) in
                try ApplyCommand(context: options.context, force: force, quiet: quiet).run()
            }
        }
    }
}
