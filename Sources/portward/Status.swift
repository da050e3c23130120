import ArgumentParser
import PortwardAgent

extension Portward {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status", _superCommandName: "portward",
            abstract: "Show, per declared entry and protocol, whether its ports are reserved and who holds them.",
            discussion: """
                States: ok (reserved, held by the declared owner), free (reserved, not in use), \
                conflict (held by another process, or the source port of an outbound connection: \
                an ephemeral grab, or an explicit bind by a process started after the \
                reservation), unreserved (not in the kernel's reserved ports), unverified (a \
                holder that could not be identified, so a unit: or exe: owner could not be \
                checked, or a user: owner's name is unknown to this host; user: owners are checked by \
                the socket's uid, known without root). \
                Holders come from netlink sock_diag and a scan of /proc/*/fd; naming the \
                processes of other users needs root (CAP_SYS_PTRACE), or the running daemon's \
                attribution: otherwise they show as "unknown (needs root)", or "unknown (hidden \
                by hidepid)" when /proc is mounted with hidepid=2 (or invisible, 4, ptraceable). \
                When the owner serves only \
                one address family and another process the other, the conflict line says \
                which family reaches whom. Exit status 0 when every row is ok or free, 3 when \
                one is conflict or has unreserved ports, else 5 when one is unverified; 2 on \
                configuration errors, 1 when the kernel cannot be queried.
                """)

        @OptionGroup var options: CommonOptions

        @Flag(help: "Print JSON (schema in docs/status-json.md) instead of a table.")
        var json = false

        @Option(help: ArgumentHelp("The proc filesystem to scan for socket holders.", valueName: "DIR"))
        var procfs: String = "/proc"

        @Option(help: ArgumentHelp("Show another network namespace: an ip netns name, a path to a namespace file, or all (the host's and every one an entry reaches; needs root).",
                                   valueName: "NAME|PATH|all"))
        var netns: String?

        func validate() throws {
            if netns == "" { throw ValidationError("--netns needs a name, a path or all") }
        }

        func run() throws {
            let namespaces: StatusCommand.Namespaces = switch netns {
            case nil: .host
            case "all": .all
            case let value?: .one(value)
            }
            try exiting { () throws(ExitStatus) in
                try StatusCommand(context: options.context, json: json, procRoot: procfs, namespaces: namespaces).run()
            }
        }
    }
}
