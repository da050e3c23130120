import ArgumentParser
import Glibc
import Logging
import PortwardCore
import PortwardLinux

extension Portward {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
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
                fails, exits non-zero at once. Sends WATCHDOG=1 at half of $WATCHDOG_USEC.
                """)

        @OptionGroup var options: CommonOptions

        @Flag(help: "Apply even when the reservation would cover more than half of ip_local_port_range.")
        var force = false

        @Option(help: ArgumentHelp("Seconds between checks; fractions allowed (0.5), or a suffix: 500ms, 2s; from 10ms to 1 day.", valueName: "DURATION"))
        var interval: Interval = Interval(seconds: 1)

        @Flag(help: "Also reload when files change in the configuration directories (inotify).")
        var watchConfig = false

        @Option(help: ArgumentHelp("The proc filesystem to scan for socket holders.", valueName: "DIR"))
        var procfs: String = "/proc"

        func run() throws {
            // Block the signals before anything else so none is lost between apply and wait.
            let signals: SignalWaiter
            do { signals = try SignalWaiter([SIGHUP, SIGTERM, SIGINT]) } catch {
                Console.error("cannot set up signal handling: \(error)")
                throw ExitStatus.failure
            }
            let logger = Logger(label: "portward") { _ in JournalLogHandler() }
            let reconciler = options.reconciler
            // One daemon per root, the lock held until this function returns.
            var instance: DaemonLock?
            do { instance = try DaemonLock(directory: reconciler.store.directory) } catch {
                switch error {
                case .held:
                    Console.error("\(error)")
                    throw ExitStatus.failure
                case .unavailable:
                    // No writable /run: the apply below reports the same cause.
                    logger.warning("\(error); not guarding against a second daemon")
                }
            }
            defer { withExtendedLifetime(instance) {} }
            // Watch before the first load, so a file that changes while it is read or
            // applied still wakes the loop (and is re-read) instead of being missed. The
            // runtime directory (systemd's RuntimeDirectory=) first, so that creating it for
            // the state file is not taken for a configuration change.
            var configWatch: ConfigDirectoryWatch?
            if watchConfig {
                try? FileContents.makeDirectories(reconciler.store.directory)
                do { configWatch = try ConfigDirectoryWatch(root: options.root) } catch {
                    logger.warning("--watch-config: cannot watch the configuration directories (\(error)); SIGHUP still reloads")
                }
            }
            let configuration = try options.loadConfiguration()
            _ = try Reservation.apply(configuration, with: reconciler, force: force)
            let watcher = Watcher(configuration: configuration, reconciler: reconciler, logger: logger,
                                  force: force, root: options.root, procRoot: procfs, interval: interval.seconds)
            watcher.reloadPending = { signals.isPending(SIGHUP) }
            watcher.report(WatchEvent(.applied, .info, "applied: \(watcher.summary)",
                                      fields: ["PORTWARD_PORT": configuration.declaredPorts.description]))
            // READY first: the boot path waits for it, not for the first holder scan.
            ServiceManager.ready(status: watcher.summary)
            if watcher.poll() { ServiceManager.status(watcher.summary) }

            let watchdogPeriod = ServiceManager.watchdogInterval().map { Double($0) / 2e6 }
            var nextPoll = Clock.monotonic() + interval.seconds
            var nextWatchdog = watchdogPeriod.map { Clock.monotonic() + $0 }

            while true {
                let deadline = min(nextPoll, nextWatchdog ?? .infinity)
                let timeout = Int32(max(0, (deadline - Clock.monotonic()) * 1000).rounded(.up))
                switch signals.wait(timeoutMilliseconds: timeout, extraDescriptor: configWatch?.descriptor) {
                case .signal(SIGHUP):
                    reload(watcher, reconciler, logger)
                case .signal:
                    ServiceManager.stopping()
                    logger.info("stopping; the reservation stays in place")
                    return
                case .readable:
                    // Events on unrelated names (the daemon's own files in /run/portward,
                    // while /run/portward/ports.d does not exist) are read and dropped.
                    if let watch = configWatch, watch.drain() {
                        // Let a burst of changes (a package install) settle, then reload once,
                        // after the watches follow any directory created or removed.
                        usleep(200_000)
                        _ = watch.drain()
                        watch.rearm()
                        reload(watcher, reconciler, logger)
                    }
                case .timeout:
                    break
                }
                let now = Clock.monotonic()
                if let period = watchdogPeriod, let due = nextWatchdog, now >= due {
                    ServiceManager.watchdog()
                    nextWatchdog = now + period
                }
                if now >= nextPoll {
                    if watcher.poll() { ServiceManager.status(watcher.summary) }
                    nextPoll = Clock.monotonic() + interval.seconds
                }
            }
        }

        /// Re-reads the configuration and re-applies it; on any error keeps the running
        /// reservation and configuration and logs why.
        private func reload(_ watcher: Watcher, _ reconciler: Reconciler, _ logger: Logger) {
            ServiceManager.reloading()
            let loaded = ConfigLoader(root: options.root).load()
            Console.report(loaded.diagnostics)
            if let error = loaded.diagnostics.first(where: { $0.severity == .error }) {
                var fields = ["PORTWARD_ERRORS": String(loaded.diagnostics.filter { $0.severity == .error }.count)]
                if let location = error.location {
                    fields["CONFIG_FILE"] = location.file
                    fields["CONFIG_LINE"] = String(location.line)
                }
                watcher.report(WatchEvent(.reloadFailed, .error,
                                          "reload failed, keeping the running reservation: \(error)", fields: fields))
            } else {
                do {
                    _ = try Reservation.apply(loaded.configuration, with: reconciler, force: force)
                    watcher.reload(loaded.configuration)
                    watcher.poll()
                    watcher.report(WatchEvent(.applied, .info, "reloaded: \(watcher.summary)",
                                              fields: ["PORTWARD_PORT": loaded.configuration.declaredPorts.description]))
                } catch {
                    watcher.report(WatchEvent(.reloadFailed, .error,
                                              "reload failed, keeping the running reservation (see the error above)"))
                }
            }
            ServiceManager.ready(status: watcher.summary)
        }
    }
}

extension Interval: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }

    public var defaultValueDescription: String { description }
}
