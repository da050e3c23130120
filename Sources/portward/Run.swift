import ArgumentParser
import PortwardAgent
import PortwardCore
import PortwardLinux

extension Portward {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run", _superCommandName: "portward",
            abstract: "The daemon: apply, tell systemd READY=1, then watch for conflicts and drift.",
            discussion: """
                For portward.service (Type=notify). Every --interval it re-reads \
                net.ipv4.ip_local_reserved_ports and restores declared ports that another writer \
                removed (drift), and checks who holds the declared ports; conflicts are logged to \
                the journal when they start and when they end (MESSAGE_IDs in \
                docs/journal-events.md), STATUS= is kept current, and the daemon's view is \
                published in /run/portward/daemon.json for portward status. SIGHUP (or, with \
                --watch-config, a change in the configuration directories) re-reads the \
                configuration and re-applies it (RELOADING=1, then READY=1); a bad new \
                configuration keeps the running reservation and logs why. SIGTERM or SIGINT sends \
                STOPPING=1 and exits 0, leaving the reservation in place. If the first apply \
                fails, exits non-zero at once. Sends WATCHDOG=1 at half of $WATCHDOG_USEC. \
                With the owner guard (docs/guard.md), binds to the ports of user: owners, and \
                of unit: owners whose generator drop-in is loaded, by anyone else fail with \
                EADDRINUSE; the BPF programs stay pinned under \
                /sys/fs/bpf/portward when the daemon dies, and a restarted daemon takes \
                them over; SIGTERM detaches and unpins them; denials are logged. With the \
                guard's event programs (docs/events.md), binds to declared ports and writes \
                of the key are seen as they happen (the holder and the writer named), and the \
                full check runs every --safety-interval instead; without BPF, every --interval \
                as before. portward status says which. Where the guard is unavailable (or \
                off), the daemon holds the ports of unit: owners itself while the owner is not \
                running (the hold fallback), and releases them to the owner's start hook \
                through /run/portward/hold.sock.
                """)

        @OptionGroup var options: CommonOptions

        @Flag(help: "Apply even when the reservation would cover more than half of ip_local_port_range.")
        var force = false

        @Option(help: ArgumentHelp("Seconds between checks when polling (without events; with events, the longest a bind waits for its full check); fractions allowed (0.5), or a suffix: 500ms, 2s; from 10ms to 1 day.", valueName: "DURATION"))
        var interval: Interval = Interval(seconds: 1)

        @Option(help: ArgumentHelp("With events: seconds between the full checks that catch what events cannot show (sockets older than the daemon, dropped events); same forms as --interval.", valueName: "DURATION"))
        var safetyInterval: Interval = Interval(seconds: 120)

        @Flag(inversion: .prefixedNo, help: ArgumentHelp(
            "Binds to declared ports and writes of the key as they happen, from the guard's BPF programs (they come with the guard). Without them, or with --no-events: a full check every --interval."))
        var events = true

        @Flag(help: "Also reload when files change in the configuration directories (inotify).")
        var watchConfig = false

        @Flag(inversion: .prefixedNo, help: ArgumentHelp(
            "The owner guard: refuse binds to the ports of user: and unit: owners to anyone else, in the kernel (BPF; EADDRINUSE). Default: on, off with --root; when BPF is unavailable, user: entries are report-only and unit: entries are held (--hold)."))
        var `guard`: Bool?

        @Flag(inversion: .prefixedNo, help: ArgumentHelp(
            "The hold fallback: where the guard is unavailable or off, hold the ports of unit: owners (bound sockets) while the owner is not running. Default: on, off with --root."))
        var hold: Bool?

        @Option(help: ArgumentHelp("The proc filesystem to scan for socket holders.", valueName: "DIR"))
        var procfs: String = "/proc"

        @Option(help: ArgumentHelp("Keep a Prometheus textfile for node_exporter's textfile collector up to date (an absolute path ending in .prom; Debian: /var/lib/prometheus/node-exporter/portward.prom). Metrics in docs/metrics.md.", valueName: "PATH"))
        var metricsFile: String?

        func validate() throws {
            if let metricsFile {
                do { _ = try MetricsFile(path: metricsFile) } catch { throw ValidationError("\(error)") }
            }
        }

        func run() throws {
            try exiting { () throws(ExitStatus) in
                try DaemonLoop.run(options.context, options: DaemonOptions(
                    force: force, interval: interval.seconds, procRoot: procfs, watchConfig: watchConfig,
                    metricsFile: metricsFile.flatMap { try? MetricsFile(path: $0) },
                    ownerGuard: `guard`, hold: hold, events: events, safetyInterval: safetyInterval.seconds))
            }
        }
    }
}

extension Interval: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }

    public var defaultValueDescription: String { description }
}
