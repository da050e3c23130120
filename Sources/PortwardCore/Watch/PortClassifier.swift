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
        userIDs: [String: UInt32] = [:]
    ) -> [EntryStatus] {
        // Ports with a listener, per protocol: a connected socket there is the server's own.
        var listening: Set<SocketKey> = []
        for held in sockets where held.socket.isListening {
            listening.insert(SocketKey(transport: held.socket.transport, port: held.socket.localPort))
        }
        var result: [EntryStatus] = []
        for entry in configuration.entries {
            for transport in entry.protocols.members {
                let findings = sockets.lazy
                    .filter { $0.socket.transport == transport && entry.declares($0.socket.localPort) }
                    .map { held in
                        SocketFinding(socket: held.socket, holders: held.holders, verdict: verdict(
                            held, owner: entry.owner,
                            hasListener: listening.contains(SocketKey(transport: transport, port: held.socket.localPort)),
                            userIDs: userIDs))
                    }
                result.append(EntryStatus(entry: entry, transport: transport,
                                          unreserved: entry.ports.subtracting(reserved),
                                          findings: findings.sorted { $0.socket.localPort < $1.socket.localPort }))
            }
        }
        return result
    }

    /// The verdict for one socket on a port declared with `owner`.
    public static func verdict(_ held: HeldSocket, owner: Owner, hasListener: Bool,
                               userIDs: [String: UInt32]) -> SocketFinding.Verdict {
        let socket = held.socket
        if !socket.isListening {
            // A connected socket on a port that also has a listener is the server's own
            // (an accepted connection); otherwise the port was taken as a source port.
            return hasListener ? .accepted : .ephemeralGrab
        }
        switch owner {
        case .any:
            return .expected
        case .user(let user):
            let uid: UInt32?
            switch user {
            case .uid(let value): uid = value
            case .name(let name): uid = userIDs[name]
            }
            guard let uid else { return .unattributed }
            return socket.uid == uid ? .expected : .wrongOwner
        case .unit(let name):
            if held.holders.isEmpty { return .unattributed }
            return held.holders.contains { $0.unit == name } ? .expected : .wrongOwner
        case .exe(let path):
            if held.holders.isEmpty { return .unattributed }
            return held.holders.contains { $0.executablePath.map(stripDeleted) == path } ? .expected : .wrongOwner
        }
    }

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
        /// The holder could not be identified (needs root to scan other users' /proc/PID/fd).
        case unattributed

        public var isConflict: Bool { self == .wrongOwner || self == .ephemeralGrab }
    }

    public let socket: SocketRecord
    public let holders: [Holder]
    public let verdict: Verdict
}

/// The status of one declared entry for one protocol: a row of `portward status`.
public struct EntryStatus: Hashable, Sendable {
    public enum State: String, Hashable, Sendable, Codable {
        /// Reserved and held by the expected owner.
        case ok
        /// Reserved and not in use.
        case free
        /// A socket on a declared port is held by the wrong process or was grabbed as an
        /// ephemeral source port.
        case conflict
        /// Some declared ports are not in the kernel's reserved ports.
        case unreserved
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

    /// conflict, then unreserved, then ok (in use), then free.
    public var state: State {
        if findings.contains(where: { $0.verdict.isConflict }) { return .conflict }
        if !unreserved.isEmpty { return .unreserved }
        return findings.isEmpty ? .free : .ok
    }
}
