import ArgumentParser
import PortwardCore
import PortwardLinux

extension Portward {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
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
            let configuration = try options.loadConfiguration()
            let sysctl = ReservedPortsSysctl()
            let reserved: PortSet
            do { reserved = try sysctl.read() } catch {
                Console.error("\(error)")
                throw ExitStatus.failure
            }
            let report: HolderLookup.Report
            do {
                report = try HolderLookup(procRoot: procfs).holders(of: configuration.declaredPorts)
            } catch {
                Console.error("cannot list sockets with sock_diag: \(error)")
                throw ExitStatus.failure
            }
            // The daemon's view: its attribution fills in holders we could not read ourselves
            // (not root), and its state is shown next to this live check.
            let daemon = DaemonStatus(view: DaemonViewStore(root: options.root).load())
            let sockets = daemon.attribute(report.sockets)
            var userIDs: [String: UInt32] = [:]
            for entry in configuration.entries {
                if case .user(.name(let name)) = entry.owner, let uid = UserDatabase.uid(named: name) {
                    userIDs[name] = uid
                }
            }
            let rows = PortClassifier.classify(configuration: configuration, reserved: reserved,
                                               sockets: sockets, userIDs: userIDs)
            let incomplete = report.attributionIncomplete
                && sockets.contains { $0.holders.isEmpty && $0.socket.inode != 0 }
            if json {
                print(try StatusJSON.render(rows, reserved: reserved, attributionComplete: !incomplete, daemon: daemon))
            } else {
                print(daemon.summary)
                print(StatusTable.render(rows, attributionIncomplete: incomplete), terminator: "")
            }
            if rows.contains(where: { $0.state == .conflict || $0.state == .unreserved }) {
                throw ExitStatus.attention
            }
        }
    }
}
