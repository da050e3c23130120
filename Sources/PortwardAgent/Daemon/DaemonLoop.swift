import Glibc
import PortwardCore
import PortwardLinux
import SystemPackage

/// `portward run`: the daemon on an `EventLoop` (sd-event). Sources: SIGHUP (reload),
/// SIGTERM and SIGINT (stop), the watch timer (every `interval`), the network-namespace
/// rescan timer (every `rescanPolls` intervals) and the inotify watch on the namespace
/// bind-mount folders (`NetnsFolderWatch`), the --watch-config inotify descriptor, the owner
/// guard's ring buffer (denials), the hold fallback's control socket
/// (`HoldControlServer`, the owners' hooks), and the service watchdog. Signals have the higher priority, so a
/// SIGHUP that is pending when the timer is due is handled first.
public enum DaemonLoop {
    /// How long a burst of configuration changes (a package install) may settle before the
    /// one reload it causes, in seconds.
    static let settleDelay = 0.2

    /// The other network namespaces (`netns=` entries) are rescanned every this many watch
    /// intervals (10 s with the default `--interval 1`): no kernel event announces a new
    /// namespace, and a scan of /proc costs more than a watch cycle.
    static let rescanPolls = 10

    /// A periodic rescan enters at most this many namespaces per loop iteration, so that
    /// other events (a new namespace's inotify event, a watch cycle) wait one slice at most.
    static let rescanSlice = 10

    /// After an event in a namespace bind-mount folder: the delay before a folders-only
    /// rescan, and how many times it is repeated while a new file is not yet a namespace.
    static let netnsSettleDelay = 0.01
    static let netnsSettleTries = 50

    /// Runs the daemon for `context` until SIGTERM or SIGINT. Throws (after saying why)
    /// the exit status of a failed start: `.failure` (signals, event loop, another daemon,
    /// kernel), `.configurationError`, `.refused`.
    public static func run(_ context: TargetContext, options: DaemonOptions,
                           environment: DaemonEnvironment? = nil) throws(ExitStatus) {
        // Block the signals before anything else, so none is lost between apply and wait.
        let signals = [SIGHUP, SIGTERM, SIGINT]
        do { try EventLoop.blockSignals(signals) } catch {
            Console.error("cannot set up signal handling: \(error)")
            throw .failure
        }
        let environment = environment ?? .system(context, procRoot: options.procRoot)
        let daemon = Daemon(context: context, options: options, environment: environment)
        let loop: EventLoop
        do { loop = try EventLoop() } catch {
            daemon.log(.startFailed("cannot create the event loop: \(error)"))
            throw .failure
        }

        // One daemon per target, the lock held until this function returns.
        var instance: FileLock?
        do { instance = try context.lockDaemon() } catch {
            switch error {
            case .busy(let path, _):
                daemon.log(.startFailed("another portward run is already running for this root (it holds \(path))"))
                throw .failure
            case .unavailable:
                // No writable /run: the apply below reports the same cause.
                daemon.log(.degraded("\(error); not guarding against a second daemon"))
            }
        }
        defer { instance?.release() }

        // Watch before the first load, so a file that changes while it is read or applied
        // still wakes the loop (and is re-read) instead of being missed. The runtime
        // directory first, so that creating it for the state file is not taken for a
        // configuration change.
        var configWatch: ConfigDirectoryWatch?
        if options.watchConfig {
            try? FileContents.makeDirectories(context.runtimeDirectory)
            do { configWatch = try ConfigDirectoryWatch(root: context.root) } catch {
                daemon.log(.degraded("--watch-config: cannot watch the configuration directories (\(error)); SIGHUP still reloads"))
            }
        }

        daemon.reloadPending = { EventLoop.isPending(SIGHUP) }
        // The guard's ring buffer (installed at start or at a reload that first needs it).
        daemon.watchGuardEvents = { descriptor in
            do { try loop.addReadable(descriptor) { _ in daemon.readGuardEvents() } } catch {
                daemon.log(.degraded("owner guard: cannot watch its events (\(error)); they are read every check"))
            }
        }
        // The hold fallback's control socket, open before the first hold: an owner's hook
        // that connects meanwhile waits for its answer instead of finding no daemon.
        var control: HoldControlServer?
        if daemon.holdsPorts {
            try? FileContents.makeDirectories(context.runtimeDirectory)
            do {
                let server = try HoldControlServer(path: context.holdControlPath)
                try loop.addReadable(server.descriptor) { _ in
                    let me = geteuid()
                    server.serve(allowed: { $0 == 0 || $0 == me }, respond: daemon.controlRequest)
                }
                control = server
            } catch {
                daemon.log(.degraded("hold fallback: cannot open the control socket \(context.holdControlPath) (\(error)); owners' hooks do not reach the daemon, held ports are released at its next check"))
            }
        }
        defer { withExtendedLifetime(control) {} }
        try daemon.start()

        do {
            // Re-armed after each cycle: the interval runs from the end of one to the next.
            var poll: EventLoop.Source?
            poll = try loop.addTimer(after: options.interval) {
                daemon.poll()
                poll?.schedule(after: options.interval)
            }
            // Other network namespaces (netns= entries): every `rescanPolls` intervals, in
            // slices of `rescanSlice` namespaces, one per loop iteration.
            var slice: EventLoop.Source?
            slice = try loop.addTimer(after: 0) {
                if !daemon.continueNamespaceRescan() { slice?.schedule(after: 0) }
            }
            slice?.cancel()
            var rescan: EventLoop.Source?
            rescan = try loop.addTimer(after: options.interval * Double(rescanPolls)) {
                daemon.beginNamespaceRescan()
                slice?.schedule(after: 0)
                rescan?.schedule(after: options.interval * Double(rescanPolls))
            }
            // New namespaces in the bind-mount folders (under the target's root): a
            // folders-only rescan right away, then again every `netnsSettleDelay` while a new
            // file there is not yet a namespace (`ip netns add` mounts it after creating it),
            // at most `netnsSettleTries` times. Set up only once an entry reaches other
            // namespaces (at start or at a reload), then kept.
            var netnsWatch: NetnsFolderWatch?
            func watchNamespaceFolders() {
                guard netnsWatch == nil, daemon.followsNamespaces else { return }
                do throws(Errno) { netnsWatch = try NetnsFolderWatch(runRoot: context.runRoot) } catch {
                    daemon.log(.degraded("cannot watch the network namespace folders (\(error)); new namespaces are found at the next rescan"))
                    return
                }
                guard let watch = netnsWatch else { return }
                var pending: [String] = []
                var tries = 0
                var settleNetns: EventLoop.Source?
                do {
                    settleNetns = try loop.addTimer(after: 0) {
                        daemon.rescanNamespaces(foldersOnly: true)
                        pending = pending.filter { access($0, F_OK) == 0 && NetnsFiles.identity(of: $0) == nil }
                        tries += 1
                        if !pending.isEmpty || tries < 3, tries < netnsSettleTries {
                            settleNetns?.schedule(after: netnsSettleDelay)
                        }
                    }
                    settleNetns?.cancel()
                    try loop.addReadable(watch.descriptor) { _ in
                        if let created = watch.drain() {
                            guard !created.isEmpty else { return }
                            // Bounded: a user can create files in /run/user/UID/netns.
                            pending = Array((pending + created).suffix(64))
                        } else {
                            watch.rearm()
                        }
                        tries = 0
                        settleNetns?.schedule(after: netnsSettleDelay)
                    }
                } catch {
                    daemon.log(.degraded("cannot watch the network namespace folders (\(error)); new namespaces are found at the next rescan"))
                }
            }
            watchNamespaceFolders()
            try loop.addSignal(SIGHUP) { _ in
                daemon.reload()
                watchNamespaceFolders()
            }
            for signal in [SIGTERM, SIGINT] {
                try loop.addSignal(signal) { _ in
                    daemon.stop()
                    loop.exit(0)
                }
            }
            if let watch = configWatch {
                // Events on unrelated names (the daemon's own files in /run/portward, while
                // /run/portward/ports.d does not exist) are read and dropped. A relevant one
                // reloads once the burst has settled, after the watches follow any directory
                // created or removed.
                let settle = try loop.addTimer(after: 0) {
                    _ = watch.drain()
                    watch.rearm()
                    daemon.reload()
                    watchNamespaceFolders()
                }
                settle.cancel()
                try loop.addReadable(watch.descriptor) { _ in
                    if watch.drain() { settle.schedule(after: settleDelay) }
                }
            }
            loop.enableWatchdog()
            _ = try loop.run()
        } catch {
            daemon.log(.startFailed("event loop failed: \(error)"))
            throw .failure
        }
    }
}
