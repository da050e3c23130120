/// What one watch cycle of the daemon saw and did: the value every reporter consumes (the
/// journal through `JournalEvent.events(for:retryInterval:)`, STATUS= through
/// `StatusLine`, daemon.json through `DaemonView.update(with:)`, and metrics).
///
/// Times are CLOCK_REALTIME seconds since the Unix epoch.
public struct PollOutcome: Equatable, Sendable {
    /// A drift repair: declared ports another writer removed, written back.
    public struct DriftRepair: Hashable, Sendable {
        /// Declared ports found missing from the kernel value.
        public var lost: PortSet
        /// Ports the repair wrote back.
        public var restored: PortSet
        /// Who wrote the key just before, as the guard's cgroup/sysctl program reported it
        /// (docs/events.md): "systemd-sysctl[212] (systemd-sysctl.service)"; nil when unknown
        /// (polling, or no write was reported).
        public var writer: String?

        public init(lost: PortSet, restored: PortSet, writer: String? = nil) {
            self.lost = lost
            self.restored = restored
            self.writer = writer
        }
    }

    /// When the cycle finished.
    public var at: Double
    /// The kernel value at the end of the cycle (after a repair); nil when it could not be
    /// read.
    public var reserved: PortSet?
    /// The declared ports of the configuration in force.
    public var declared: PortSet
    /// The repair this cycle made, if any.
    public var drift: DriftRepair?
    /// Why declared ports that are missing cannot be restored (the safety rail's
    /// errors); empty when nothing is refused. Set on every cycle while it lasts.
    public var repairRefused: [Diagnostic]
    /// True when the refusal is new or its reason changed (reported once per change).
    public var repairRefusedStarted: Bool = false
    /// True when a refused repair went through (or is no longer needed) this cycle.
    public var repairRecovered: Bool = false
    /// Warnings of the repair's plan (a damaged state file).
    public var repairWarnings: [Diagnostic]
    /// Ports another writer reserved since the previous cycle (kept as theirs).
    public var foreignAdded: PortSet
    /// Conflicts first seen in this cycle.
    public var conflictsStarted: [Conflict]
    /// Conflicts seen in the previous cycle and gone now.
    public var conflictsEnded: [Conflict]
    /// Every current conflict, ordered by port, protocol and entry.
    public var conflicts: [Conflict]
    /// Holders of sockets on declared ports, by inode (for `status` without root).
    public var holders: [DaemonView.SocketHolders]
    /// The classification of every declared entry and protocol at the last successful
    /// holder check (`status`'s rows; metrics are built from them).
    public var statuses: [EntryStatus] = []
    /// Binds the owner guard refused since the previous cycle (read from its ring buffer).
    public var guardDenials: [GuardDenialRecord] = []
    /// Why the cycle failed (netlink, /proc, sysctl, state file); nil when it succeeded.
    public var failure: String?
    /// True when this failure follows a successful cycle (reported once, not every cycle).
    public var failureStarted: Bool
    /// True when this cycle succeeded after failing ones.
    public var recovered: Bool

    public init(at: Double, reserved: PortSet? = nil, declared: PortSet = PortSet(), drift: DriftRepair? = nil,
                repairRefused: [Diagnostic] = [], repairWarnings: [Diagnostic] = [],
                foreignAdded: PortSet = PortSet(), conflictsStarted: [Conflict] = [],
                conflictsEnded: [Conflict] = [], conflicts: [Conflict] = [],
                holders: [DaemonView.SocketHolders] = [], failure: String? = nil,
                failureStarted: Bool = false, recovered: Bool = false) {
        self.at = at
        self.reserved = reserved
        self.declared = declared
        self.drift = drift
        self.repairRefused = repairRefused
        self.repairWarnings = repairWarnings
        self.foreignAdded = foreignAdded
        self.conflictsStarted = conflictsStarted
        self.conflictsEnded = conflictsEnded
        self.conflicts = conflicts
        self.holders = holders
        self.failure = failure
        self.failureStarted = failureStarted
        self.recovered = recovered
    }
}
