/// What the running daemon knows, published in /run/portward/daemon.json after every poll
/// so that `portward status` (even run by a user who cannot scan /proc) can show it.
/// Times are CLOCK_REALTIME seconds since the Unix epoch.
public struct DaemonView: Codable, Equatable, Sendable {
    public static let currentVersion = 1

    public var version = DaemonView.currentVersion
    public var pid: Int32
    public var startedAt: Double
    /// When the last poll finished (nil before the first).
    public var lastPollAt: Double?
    /// Poll interval in seconds.
    public var interval: Double
    /// Declared ports, kernel notation.
    public var declaredPorts: String
    /// The kernel value at the last poll.
    public var reservedPorts: String
    /// Current conflicts, with the time each was first seen.
    public var conflicts: [Conflict]
    /// The most recent drift repairs (newest last, at most `driftHistory`).
    public var drift: [Drift]
    /// The error of the last poll, nil when it succeeded.
    public var pollError: String?
    /// Holders of sockets on declared ports, by inode, for non-root attribution (at most
    /// `holderLimit`).
    public var holders: [SocketHolders]
    /// Why missing declared ports cannot be restored (a safety rail), nil when they can.
    public var repairRefused: String?
    /// Conflicts and holders left out of this file to bound its size (a flood); `status`
    /// run as root still sees them all.
    public var omitted: Omitted?

    /// The owner guard as this daemon runs it; nil from a daemon that predates it.
    public var ownerGuard: GuardView?

    /// How the daemon watches (events or polling, and why); nil from a daemon that
    /// predates it.
    public var watch: WatchView?

    /// How binds and key rewrites are seen (docs/events.md).
    public struct WatchView: Codable, Equatable, Sendable {
        public enum Mode: String, Codable, Sendable {
            /// The guard's post_bind and sysctl programs report binds and key writes as they
            /// happen; a full check every `checkInterval` is the safety net.
            case events
            /// A full check every `checkInterval` (no BPF events).
            case polling
        }

        public var mode: Mode
        /// Why polling (the events are unavailable or switched off); for events, what they are.
        public var reason: String
        /// Seconds between full checks.
        public var checkInterval: Double
        /// Ring-buffer records the kernel could not send (buffer full) since the maps were
        /// created; nil when unknown.
        public var droppedEvents: UInt64?
        /// The most recent bind by each entry's owner the events showed, by entry name.
        public var ownerBinds: [String: BindEvent]

        public init(mode: Mode, reason: String, checkInterval: Double, droppedEvents: UInt64? = nil,
                    ownerBinds: [String: BindEvent] = [:]) {
            self.mode = mode
            self.reason = reason
            self.checkInterval = checkInterval
            self.droppedEvents = droppedEvents
            self.ownerBinds = ownerBinds
        }
    }

    /// Why the daemon cannot reach other network namespaces for `netns=` entries (its
    /// sandbox refuses: the unit's namespace drop-in is missing), with the fix; nil when it
    /// can or has none to reach.
    public var netnsUnavailable: String?

    /// The owner guard's state: in force or not (and why), each entry's protection, and
    /// the most recent denials (newest last, at most `denialHistory`).
    public struct GuardView: Codable, Equatable, Sendable {
        /// Why the guard is not in force (unavailable, switched off); nil when it is.
        public var unavailable: String?
        /// Every entry's protection, by entry name.
        public var entries: [String: EntryProtection]
        public var denials: [GuardDenialRecord]
        /// Binds refused since the daemon started (counted before aggregation).
        public var denied: Int
        /// The socket inodes the hold fallback holds now (the daemon's own sockets on
        /// declared ports: `status` does not take them for conflicts); nil: none.
        public var heldInodes: [UInt64]?

        public init(unavailable: String?, entries: [String: EntryProtection], denials: [GuardDenialRecord] = [], denied: Int = 0) {
            self.unavailable = unavailable
            self.entries = entries
            self.denials = denials
            self.denied = denied
        }
    }

    public static let denialHistory = 20

    /// At most this many conflicts and holder records are written (about 300 bytes each).
    public static let conflictLimit = 200
    public static let holderLimit = 1000

    public struct Omitted: Codable, Equatable, Sendable {
        public var conflicts: Int
        public var holders: Int
    }

    public static let driftHistory = 20

    public struct Drift: Codable, Equatable, Sendable {
        public var at: Double
        /// Declared ports found missing from the kernel value.
        public var lost: String
        /// Ports written back.
        public var restored: String
        /// Who rewrote the key (events only), nil when unknown.
        public var writer: String?

        public init(at: Double, lost: String, restored: String, writer: String? = nil) {
            self.at = at
            self.lost = lost
            self.restored = restored
            self.writer = writer
        }
    }

    public struct SocketHolders: Codable, Equatable, Sendable {
        public var inode: UInt64
        public var port: UInt16
        public var transport: TransportProtocol
        public var holders: [Conflict.HolderInfo]

        public init(inode: UInt64, port: UInt16, transport: TransportProtocol, holders: [Conflict.HolderInfo]) {
            self.inode = inode
            self.port = port
            self.transport = transport
            self.holders = holders
        }
    }

    public init(pid: Int32, startedAt: Double, interval: Double) {
        self.pid = pid
        self.startedAt = startedAt
        self.interval = interval
        declaredPorts = ""
        reservedPorts = ""
        conflicts = []
        drift = []
        holders = []
    }
}

extension DaemonView {
    /// Takes in what a watch cycle saw: its time, error, kernel value (when read), the
    /// current conflicts and holders, and a drift repair (the newest `driftHistory` kept).
    public mutating func update(with outcome: PollOutcome) {
        lastPollAt = outcome.at
        pollError = outcome.failure
        if let reserved = outcome.reserved { reservedPorts = reserved.description }
        declaredPorts = outcome.declared.description
        conflicts = Array(outcome.conflicts.prefix(Self.conflictLimit))
        holders = Array(outcome.holders.prefix(Self.holderLimit))
        let left = (conflicts: outcome.conflicts.count - conflicts.count, holders: outcome.holders.count - holders.count)
        omitted = left == (0, 0) ? nil : Omitted(conflicts: left.conflicts, holders: left.holders)
        repairRefused = outcome.repairRefused.first?.message
        if !outcome.guardDenials.isEmpty, ownerGuard != nil {
            let records = GuardDenialRecord.aggregate(outcome.guardDenials)
            ownerGuard!.denied += records.filter { !$0.allowed }.reduce(0) { $0 + $1.count }
            ownerGuard!.denials += records
            if ownerGuard!.denials.count > Self.denialHistory {
                ownerGuard!.denials.removeFirst(ownerGuard!.denials.count - Self.denialHistory)
            }
        }
        if let drift = outcome.drift {
            self.drift.append(Drift(at: outcome.at, lost: drift.lost.description, restored: drift.restored.description,
                                    writer: drift.writer))
            if self.drift.count > Self.driftHistory { self.drift.removeFirst(self.drift.count - Self.driftHistory) }
        }
    }
}

extension Conflict.HolderInfo {
    public init(_ holder: Holder) {
        self.init(pid: holder.pid, command: holder.command, unit: holder.unit, uid: holder.uid,
                  startedAt: holder.startedAt, executable: holder.executablePath)
    }

    /// The `Holder` this describes.
    public var holder: Holder {
        Holder(pid: pid, command: command, executablePath: executable, unit: unit, uid: uid, startedAt: startedAt)
    }
}
