import ArgumentParser
import PortwardAgent

/// The `portward` command. Each subcommand lives in its own file as an extension.
@main
struct Portward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portward",
        abstract: "Reserve service ports in the kernel so ephemeral ports never take them.",
        discussion: """
            portward reads the declared service ports from /etc/portward/ports.conf and the \
            drop-in directories ports.d/, merges them into net.ipv4.ip_local_reserved_ports \
            (keeping reservations made by others), and reports who holds each port. \
            Without a subcommand it prints the usage to stderr and exits 64, as systemd's \
            tools do when a required verb is missing.

            Exit status: 0 success; 1 a kernel or system operation failed; 2 the configuration \
            has errors (nothing was applied); 3 (status) a declared port is unreserved or in \
            conflict; 4 a safety rail refused the plan (see --force); 5 (status) nothing needs \
            attention as far as could be seen, but an owner could not be verified (a holder \
            that needs root or the daemon to identify; 3 wins when both apply); 64 usage error.
            """,
        subcommands: [Check.self, CatConfig.self, Apply.self, Run.self, Status.self, RegisterOwner.self, OwnerStopped.self, Generator.self, Guard.self]
    )

    /// The entry point. When the first argument names a subcommand, only that subcommand's
    /// type is parsed, as the root of its own tree (`Apply.parseAsRoot`): 2.3 M fewer
    /// instructions before READY=1 than ArgumentParser's root parse (BENCHMARKS.md, "Dispatch
    /// on the first argument"). The subcommands' `_superCommandName: "portward"` (experimental
    /// ArgumentParser API) makes that parse skip the library's search for
    /// `--generate-completion-script`, which parses the arguments twice more. Only a parse
    /// that succeeds and yields that subcommand runs this way; anything else (`--help`, a
    /// usage error, a completion request, no subcommand) goes through the root parse from the
    /// start, so every text a user reads comes from it (Tests/IntegrationTests/Golden checks
    /// them byte for byte). An error thrown by `run()` exits through `exit(withError:)`, as in
    /// `main(_:)`. Without arguments and with `CNI_COMMAND` set, the process is a CNI
    /// plugin (`CNICommand`, /usr/lib/cni/portward) and ArgumentParser is never reached.
    /// Called as `portward-generator` (the link in /usr/lib/systemd/system-generators),
    /// portward is the `generator` command.
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        // Run as a CNI plugin (/usr/lib/cni/portward): no arguments and CNI_COMMAND set.
        if arguments.isEmpty, let status = CNICommand.runIfInvoked() {
            exit(withError: status == 0 ? nil : ExitCode(status))
        }
        if CommandLine.arguments.first?.split(separator: "/").last == "portward-generator" {
            arguments.insert("generator", at: 0)
        }
        if let name = arguments.first,
           let command = configuration.subcommands.first(where: { $0.configuration.commandName == name }),
           var parsed = try? command.parseAsRoot(Array(arguments.dropFirst())),
           ObjectIdentifier(type(of: parsed)) == ObjectIdentifier(command) {
            do { try parsed.run() } catch { exit(withError: error) }
            return
        }
        main(arguments)
    }

    /// Runs only when no subcommand was given (`portward` alone): a usage error (exit 64),
    /// the message and usage on stderr, instead of ArgumentParser's default of the help on
    /// stdout with exit 0. Not a default subcommand: with one, a mistyped subcommand
    /// (`portward aply`) would be reported as an unexpected argument of that default.
    func run() throws {
        let names = Self.configuration.subcommands.compactMap { $0.configuration.commandName }
        throw ValidationError("Missing subcommand: \(names.dropLast().joined(separator: ", ")) or \(names.last!).")
    }
}
