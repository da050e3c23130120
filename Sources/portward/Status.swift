import ArgumentParser
import PortwardAgent

extension Portward {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status", _superCommandName: "portward",
            abstract: "Show, per declared entry and protocol, whether its ports are reserved and who holds them.",
            discussion: """
                States: ok (reserved, held by the declared owner), free (reserved, not in use), \
                conflict (held by another process, or taken as the source port of an outbound \
                connection), unreserved (not in the kernel's reserved ports). Holders come from \
                netlink sock_diag and a scan of /proc/*/fd; naming the processes of other users \
                needs root (CAP_SYS_PTRACE): otherwise they show as "unknown (needs root)". \
                Exit status 0 when every row is ok or free, 3 otherwise, 2 on configuration errors.
                """)

        @OptionGroup var options: CommonOptions

        @Flag(help: "Print JSON (schema in docs/status-json.md) instead of a table.")
        var json = false

        @Option(help: ArgumentHelp("The proc filesystem to scan for socket holders.", valueName: "DIR"))
        var procfs: String = "/proc"

        func run() throws {
            try exiting { () throws(ExitStatus) in
                try StatusCommand(context: options.context, json: json, procRoot: procfs).run()
            }
        }
    }
}
