import ArgumentParser

/// The `portward` command. Each subcommand lives in its own file as an extension.
@main
struct Portward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portward",
        abstract: "Reserve service ports in the kernel so ephemeral ports never take them.",
        discussion: """
            portward reads the declared service ports from /etc/portward/ports.conf and the \
            drop-in directories ports.d/, merges them into net.ipv4.ip_local_reserved_ports \
            (keeping reservations made by others), and reports who holds each port.

            Exit status: 0 success; 1 a kernel or system operation failed; 2 the configuration \
            has errors (nothing was applied); 3 (status) a declared port is unreserved or in \
            conflict; 4 a safety rail refused the plan (see --force); 64 usage error.
            """,
        subcommands: [Check.self, CatConfig.self, Apply.self, Run.self, Status.self, RegisterOwner.self, Generator.self, Guard.self]
    )

    /// Called as `portward-generator` (the link in /usr/lib/systemd/system-generators),
    /// portward is the `generator` command.
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if CommandLine.arguments.first?.split(separator: "/").last == "portward-generator" {
            arguments.insert("generator", at: 0)
        }
        main(arguments)
    }
}
