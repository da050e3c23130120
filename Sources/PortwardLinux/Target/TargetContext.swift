import PortwardCore

/// Where portward acts, and the files it keeps about it: one value per target, passed to
/// every command and to the daemon, so that the runtime file names are spelled here only.
///
/// Paths (all under `root`, `--root`):
/// - `runtimeDirectory`: `/run/portward` (systemd's RuntimeDirectory=; tmpfs, emptied at
///   boot exactly when the kernel's per-netns value is reset);
/// - `statePath`: `state.json`, the ports portward added (`StateStore`); for another
///   network namespace (`.netns`) `netns/INODE-COOKIE/state.json`, and the same for the
///   lock;
/// - `daemonViewPath`: `daemon.json`, what the running daemon knows (`DaemonViewStore`);
/// - `reconcileLockPath`: `lock`, held around plan + commit by every portward process;
/// - `daemonLockPath`: `daemon.lock`, held for a daemon's lifetime: "is a daemon
///   running?" is answered by this lock (`isDaemonRunning`), not by probing pids;
/// - `holdControlPath`: `hold.sock`, the daemon's control socket for the owners' hooks.
public struct TargetContext: Sendable, Hashable {
    /// The network namespace the target's kernel key belongs to.
    public enum Namespace: Sendable, Hashable, CustomStringConvertible {
        /// The namespace portward itself runs in (the host's, for portward.service).
        case current
        /// Another network namespace, reached by entering it (`NetnsHandle`,
        /// `NetnsSysctlIO`): the daemon's targets for `netns=` entries. Its state file and
        /// reconcile lock live in `/run/portward/netns/INODE-COOKIE/`: the cookie
        /// (`SO_NETNS_COOKIE`) is never reused during a boot, so a new namespace that gets
        /// a freed inode never inherits a dead one's state; the inode lets discovery match
        /// a folder to a namespace without entering it.
        case netns(NetnsIdentity, cookie: UInt64)

        public var description: String {
            switch self {
            case .current: "current"
            case .netns(let identity, _): identity.description
            }
        }
    }

    /// Alternative root directory for configuration and state; `/` for the running system.
    public let root: String
    /// The network namespace acted on.
    public let namespace: Namespace
    /// The sysctl tree of `namespace` (`/proc/sys`).
    public let procSys: String
    /// `/run/portward` under `root`.
    public let runtimeDirectory: String

    public init(root: String = "/", namespace: Namespace = .current, procSys: String = "/proc/sys") {
        self.root = root
        self.namespace = namespace
        self.procSys = procSys
        runtimeDirectory = RootedPath.join(root, "/run/portward")
    }

    /// Where the namespace's own files are (state file, reconcile lock): `runtimeDirectory`
    /// for `.current`, `runtimeDirectory/netns/INODE-COOKIE` for `.netns`.
    public var namespaceDirectory: String {
        switch namespace {
        case .current: runtimeDirectory
        case .netns(let identity, let cookie):
            Self.netnsDirectory(runtimeDirectory) + "/" + Self.netnsFolderName(inode: identity.inode, cookie: cookie)
        }
    }

    /// `INODE-COOKIE`, the name of a namespace's folder in `netns/`.
    public static func netnsFolderName(inode: UInt64, cookie: UInt64) -> String { "\(inode)-\(cookie)" }

    /// The inode and cookie a folder name of `netns/` stands for (`netnsFolderName`), or
    /// nil for any other name.
    public static func parseNetnsFolderName(_ name: String) -> (inode: UInt64, cookie: UInt64)? {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
              let inode = UInt64(parts[0]), let cookie = UInt64(parts[1]) else { return nil }
        return (inode, cookie)
    }

    /// `/run/portward/netns` under `runtimeDirectory`: one folder per namespace followed.
    public static func netnsDirectory(_ runtimeDirectory: String) -> String { runtimeDirectory + "/netns" }

    /// The same root, for network namespace `identity` whose cookie is `cookie` (its files
    /// under `/run/portward/netns/INODE-COOKIE/`; its key is reached through
    /// `NetnsSysctlIO`, not `procSys`).
    public func forNetns(_ identity: NetnsIdentity, cookie: UInt64) -> TargetContext {
        TargetContext(root: root, namespace: .netns(identity, cookie: cookie), procSys: procSys)
    }

    /// `/run` under `root`: where discovery and `NetnsFolderWatch` look for the bind-mount
    /// folders of network namespaces (`/run/netns`, `/run/docker/netns`, ...).
    public var runRoot: String { RootedPath.join(root, "/run") }

    public var statePath: String { namespaceDirectory + "/state.json" }
    public var daemonViewPath: String { runtimeDirectory + "/daemon.json" }
    public var reconcileLockPath: String { namespaceDirectory + "/lock" }
    public var daemonLockPath: String { runtimeDirectory + "/daemon.lock" }
    /// `hold.sock`: the hold fallback's control socket (`HoldControlServer`), where the
    /// owners' hooks ask the daemon to release or hold their ports.
    public var holdControlPath: String { runtimeDirectory + "/hold.sock" }

    /// The state file of this target.
    public var stateStore: StateStore { StateStore(path: statePath) }
    /// The daemon's published view of this target.
    public var daemonViewStore: DaemonViewStore { DaemonViewStore(path: daemonViewPath) }

    /// Takes the reconcile lock, waiting up to `wait` seconds. See `FileLock.acquire`.
    public func lockReconcile(wait: Double) throws(FileLock.Failure) -> FileLock {
        try FileLock.acquire(reconcileLockPath, wait: wait)
    }

    /// Takes the daemon's lifetime lock. Waits up to 1 s: long enough for a `status`
    /// probe (`isDaemonRunning`) to let go, far too short to mistake a running daemon for
    /// one. See `FileLock.acquire`.
    public func lockDaemon() throws(FileLock.Failure) -> FileLock {
        try FileLock.acquire(daemonLockPath, wait: 1)
    }

    /// True while a `portward run` for this target holds its lifetime lock.
    public var isDaemonRunning: Bool { FileLock.isHeld(daemonLockPath) }
}
