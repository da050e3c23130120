/// Conflict classification: for each declared entry and protocol, whether its ports are
/// reserved in the kernel and whether the sockets on them are in the right hands.
///
/// Pure: the caller supplies the kernel's reserved ports, the sockets on declared ports
/// (from sock_diag) with their holders (from the /proc fd scan), and resolved user ids.
public enum PortClassifier {
    /// Classifies every (entry, protocol) pair of `configuration`, in configuration order.
    ///
    /// - Parameters:
    ///   - reserved: the kernel's `ip_local_reserved_ports` now.
    ///   - sockets: sockets whose local port is declared; holders empty when unknown.
    ///   - userIDs: uid for each `user:NAME` owner that could be resolved.
    public static func classify(
        configuration: Configuration,
        reserved: PortSet,
        sockets: [HeldSocket],
        userIDs: [String: UInt32] = [:],
        reservationTimes: ReservationTimes = ReservationTimes()
    ) -> [EntryStatus] {
        // Ports with a listener, per protocol: a connected socket there is the server's own.
        var listening: Set<SocketKey> = []
        for held in sockets where held.socket.isListening {
            listening.insert(SocketKey(transport: held.socket.transport, port: held.socket.localPort))
        }
        var result: [EntryStatus] = []
        for entry in configuration.entries {
            for transport in entry.protocols.members {
                let mine = sockets.filter { $0.socket.transport == transport && entry.declares($0.socket.localPort) }
                var findings = mine.map { held in
                    SocketFinding(socket: held.socket, holders: held.holders, verdict: verdict(
                        held, owner: entry.owner,
                        hasListener: listening.contains(SocketKey(transport: transport, port: held.socket.localPort)),
                        userIDs: userIDs, reservedAt: reservationTimes.reservedAt(held.socket.localPort)),
                        attribution: held.attribution)
                }
                markFamilySplits(&findings)
                result.append(EntryStatus(entry: entry, transport: transport,
                                          unreserved: entry.ports.subtracting(reserved),
                                          findings: findings.sorted { $0.socket.localPort < $1.socket.localPort }))
            }
        }
        return result
    }

    /// A wrong-owner listener serving only address families that the owner's listener on
    /// the same port does not serve (rsync on `[::]:873` v6-only, another process on
    /// `0.0.0.0:873`): those families' clients reach the wrong process. Records the owner's
    /// families on it (`SocketFinding.ownerFamilies`).
    private static func markFamilySplits(_ findings: inout [SocketFinding]) {
        for i in findings.indices where findings[i].verdict == .wrongOwner && findings[i].socket.isListening {
            let port = findings[i].socket.localPort
            let owners = findings.filter { $0.verdict == .expected && $0.socket.localPort == port }
            guard !owners.isEmpty else { continue }
            let ownerFamilies = Set(owners.flatMap(\.socket.servedFamilies))
            let theirs = Set(findings[i].socket.servedFamilies)
            if ownerFamilies.isDisjoint(with: theirs) {
                findings[i].ownerFamilies = [SocketRecord.Family.ipv4, .ipv6].filter(ownerFamilies.contains)
            }
        }
    }

    /// The verdict for one socket on a port declared with `owner`.
    ///
    /// - Parameter reservedAt: when the socket's port went into the reservation
    ///   (`ReservationTimes`), CLOCK_REALTIME seconds; nil when unknown.
    public static func verdict(_ held: HeldSocket, owner: Owner, hasListener: Bool,
                               userIDs: [String: UInt32], reservedAt: Double? = nil) -> SocketFinding.Verdict {
        let socket = held.socket
        if !socket.isListening {
            // A connected socket on a port that also has a listener is the server's own
            // (an accepted connection); otherwise the port was taken as a source port:
            // by the kernel (an ephemeral grab) unless every holder started after the
            // port was reserved, when the kernel cannot have picked it.
            if hasListener { return .accepted }
            let starts = held.holders.map(\.startedAt)
            if let reservedAt, !starts.isEmpty, starts.allSatisfy({ ($0 ?? -.infinity) > reservedAt + startTimeSlack }) {
                return .boundAfterReservation
            }
            return .ephemeralGrab
        }
        switch owner {
        case .any:
            return .expected
        case .user(let user):
            // The socket's uid comes from sock_diag: verifiable without root.
            let uid: UInt32?
            switch user {
            case .uid(let value): uid = value
            case .name(let name): uid = userIDs[name]
            }
            guard let uid else { return .unattributed }
            return socket.uid == uid ? .expected : .wrongOwner
        case .unit(let name):
            if held.holders.isEmpty { return .unattributed }
            // systemd's own listener: the owner's .socket unit (socket activation), which
            // is only root's unit files' doing. Which socket unit it is, is not checked.
            return held.holders.contains { $0.unit == name || $0.isServiceManager } ? .expected : .wrongOwner
        case .exe(let path):
            if held.holders.isEmpty { return .unattributed }
            if held.holders.contains(where: { $0.executablePath.map(stripDeleted) == path }) { return .expected }
            // An unreadable executable (another user's process) may be the owner's.
            return held.holders.contains { $0.executablePath == nil } ? .unattributed : .wrongOwner
        }
    }

    /// Seconds a process must have started after the reservation to count as later: the
    /// start time is derived from `btime` (whole seconds) and clock ticks.
    public static let startTimeSlack = 1.0

    /// /proc/PID/exe of a binary replaced on disk (a package upgrade) reads "PATH (deleted)".
    private static func stripDeleted(_ path: String) -> String {
        path.hasSuffix(" (deleted)") ? String(path.dropLast(10)) : path
    }

    private struct SocketKey: Hashable {
        let transport: TransportProtocol
        let port: UInt16
    }
}

/// One socket's classification.
public struct SocketFinding: Hashable, Sendable {
    public enum Verdict: String, Hashable, Sendable {
        /// Held by the declared owner (or, without an owner, a listener).
        case expected
        /// A connection accepted by the listener on the same port.
        case accepted
        /// Held by a process that is not the declared owner.
        case wrongOwner = "wrong-owner"
        /// The port is the local end of an outbound/connected socket with no listener: an
        /// ephemeral grab that happened before the reservation.
        case ephemeralGrab = "ephemeral-grab"
        /// The local end of an outbound/connected socket with no listener, held only by
        /// processes that started after the port was reserved: the kernel cannot have
        /// picked it, so it was bound explicitly (which the key cannot stop).
        case boundAfterReservation = "explicit-bind"
        /// The owner could not be checked: the holder could not be identified (another
        /// user's process without root, /proc hidepid, a kernel socket), or a `user:NAME`
        /// owner does not resolve. Never satisfies an owner: the entry is `unverified`.
        case unattributed

        public var isConflict: Bool { self == .wrongOwner || self == .ephemeralGrab || self == .boundAfterReservation }

        /// Conflicts and unverified sockets: what the daemon tracks and reports.
        public var needsReport: Bool { isConflict || self == .unattributed }
    }

    public let socket: SocketRecord
    public let holders: [Holder]
    public let verdict: Verdict
    /// How complete the scan behind `holders` was.
    public let attribution: HeldSocket.Attribution
    /// For a wrong-owner listener: the families the declared owner serves on the same
    /// port, when they are disjoint from this socket's (`SocketRecord.servedFamilies`):
    /// clients of this socket's families reach the wrong process. Nil otherwise.
    public var ownerFamilies: [SocketRecord.Family]?

    public init(socket: SocketRecord, holders: [Holder], verdict: Verdict,
                attribution: HeldSocket.Attribution = .complete, ownerFamilies: [SocketRecord.Family]? = nil) {
        self.socket = socket
        self.holders = holders
        self.verdict = verdict
        self.attribution = attribution
        self.ownerFamilies = ownerFamilies
    }

    /// Why an `unattributed` socket could not be verified (nil for other verdicts).
    public func unverifiedReason(owner: Owner) -> String? {
        guard verdict == .unattributed else { return nil }
        if case .user(let user) = owner { return "user \(user) does not resolve to a uid on this host" }
        if case .exe = owner, !holders.isEmpty {
            return "the holder's executable cannot be read (another user's process): run portward status as root, or run the daemon (portward run), whose attribution status uses"
        }
        switch attribution {
        case .needsRoot:
            return "its holder is another user's process: run portward status as root, or run the daemon (portward run), whose attribution status uses"
        case .hidepid:
            return "/proc is mounted with hidepid and hides other users' processes: run portward status as root, or run the daemon (portward run), whose attribution status uses"
        case .procUnreadable:
            return "/proc cannot be read"
        case .complete:
            return "no process that /proc shows holds it (a kernel socket, or one closed during the check)"
        }
    }
}

/// The status of one declared entry for one protocol: a row of `portward status`.
public struct EntryStatus: Hashable, Sendable {
    public enum State: String, CaseIterable, Hashable, Sendable, Codable {
        /// Reserved and held by the expected owner.
        case ok
        /// Reserved and not in use.
        case free
        /// A socket on a declared port is held by the wrong process or was grabbed as an
        /// ephemeral source port.
        case conflict
        /// Some declared ports are not in the kernel's reserved ports.
        case unreserved
        /// A socket on a declared port has a holder that could not be identified, so the
        /// owner could not be verified (`SocketFinding.Verdict.unattributed`).
        case unverified
    }

    /// Whether the kernel holds the entry's ports.
    public enum Reserved: String, Hashable, Sendable, Codable {
        case yes, no, partly
    }

    public let entry: PortEntry
    public let transport: TransportProtocol
    /// Declared ports missing from the kernel's reserved ports.
    public let unreserved: PortSet
    public let findings: [SocketFinding]

    public var reserved: Reserved {
        unreserved.isEmpty ? .yes : unreserved.count == entry.portCount ? .no : .partly
    }

    /// conflict, then unreserved, then unverified, then ok (in use), then free. An
    /// unattributed holder never makes an entry `ok`.
    public var state: State {
        if findings.contains(where: { $0.verdict.isConflict }) { return .conflict }
        if !unreserved.isEmpty { return .unreserved }
        if findings.contains(where: { $0.verdict == .unattributed }) { return .unverified }
        return findings.isEmpty ? .free : .ok
    }
}
