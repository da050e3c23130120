/// One socket in the wrong hands, as the watcher tracks it between polls.
public struct Conflict: Hashable, Sendable, Codable {
    public var entry: String
    public var file: String
    public var line: Int
    public var port: UInt16
    public var transport: TransportProtocol
    public var verdict: SocketFinding.Verdict
    /// The first holder (lowest pid), nil when unknown (TIME_WAIT, or not root).
    public var holder: HolderInfo?
    public var socketUID: UInt32
    public var socketState: String
    public var remote: String?
    /// CLOCK_REALTIME seconds when first seen.
    public var since: Double
    /// Wrong-owner listener only, when the owner serves other address families on the port
    /// (`SocketFinding.ownerFamilies`): this socket's families and the owner's, `ipv4`/`ipv6`.
    public var families: [String]?
    public var ownerFamilies: [String]?
    /// `unattributed` only: why the owner could not be verified.
    public var unverifiedReason: String?
    /// The socket's inode (nil for TIME_WAIT and request sockets, whose inode is 0).
    public var inode: UInt64?

    /// The identity of a conflict across polls: the same socket on the same declared port.
    public struct Key: Hashable, Sendable {
        public let entry: String
        public let port: UInt16
        public let transport: TransportProtocol
        public let socket: String
    }

    /// A socket with an inode is that inode, whether or not its holder could be named in
    /// this poll (so a holder seen only now and then is one conflict, not a new one each
    /// time); one without (TIME_WAIT) is its state, peer and holder.
    public var key: Key {
        if let inode { return Key(entry: entry, port: port, transport: transport, socket: "inode \(inode)") }
        return Key(entry: entry, port: port, transport: transport,
                   socket: "\(socketState) \(remote ?? "-") \(holder.map { String($0.pid) } ?? "?")")
    }

    /// Codable copy of the holder's identity.
    public struct HolderInfo: Hashable, Sendable, Codable {
        public init(pid: Int32, command: String, unit: String?, uid: UInt32, startedAt: Double? = nil,
                    executable: String? = nil) {
            self.executable = executable
            self.pid = pid
            self.command = command
            self.unit = unit
            self.uid = uid
            self.startedAt = startedAt
        }

        public var pid: Int32
        public var command: String
        public var unit: String?
        public var uid: UInt32
        /// `Holder.startedAt`.
        public var startedAt: Double?
        /// `Holder.executablePath` (lets `status` check `exe:` owners without root).
        public var executable: String?
    }

    public init(entry: PortEntry, transport: TransportProtocol, finding: SocketFinding, since: Double) {
        self.entry = entry.name
        file = entry.location.file
        line = entry.location.line
        port = finding.socket.localPort
        self.transport = transport
        verdict = finding.verdict
        holder = finding.holders.first.map(HolderInfo.init)
        socketUID = finding.socket.uid
        inode = finding.socket.inode == 0 ? nil : finding.socket.inode
        socketState = finding.socket.state.description
        remote = finding.socket.remotePort == 0 ? nil : "\(finding.socket.remoteAddress):\(finding.socket.remotePort)"
        self.since = since
        if let owners = finding.ownerFamilies {
            families = finding.socket.servedFamilies.map(\.description)
            ownerFamilies = owners.map(\.description)
        }
        unverifiedReason = finding.unverifiedReason(owner: entry.owner)
    }

    /// `an` before a state name starting with a vowel (`an ESTABLISHED`), else `a`.
    public static func article(_ word: String) -> String {
        word.first.map { "AEIOU".contains($0) } == true ? "an" : "a"
    }

    /// `IPv4`, `IPv6`, `IPv4 and IPv6`.
    public static func familyNames(_ families: [String]) -> String {
        families.map { $0 == "ipv4" ? "IPv4" : $0 == "ipv6" ? "IPv6" : $0 }.joined(separator: " and ")
    }

    /// `named[812] (named.service)`, or `an unknown process (uid 0)`; control characters
    /// escaped (`escapingControlCharacters`).
    public var holderDescription: String {
        guard let holder else {
            return socketState == "TIME_WAIT" ? "a TIME_WAIT socket" : "an unknown process (uid \(socketUID))"
        }
        return ("\(holder.command)[\(holder.pid)]" + (holder.unit.map { " (\($0))" } ?? "")).escapingControlCharacters
    }

    /// Why it is a conflict, for messages.
    public var explanation: String {
        switch verdict {
        case .ephemeralGrab:
            return "taken as the local port of \(Self.article(socketState)) \(socketState) connection to \(remote ?? "?") by \(holderDescription), before the reservation (an ephemeral grab)"
        case .boundAfterReservation:
            return "bound explicitly by \(holderDescription) after the reservation (the kernel key cannot stop an explicit bind), as the local port of \(Self.article(socketState)) \(socketState) connection to \(remote ?? "?")"
        case .unattributed:
            return "could not be verified: held by \(holderDescription); \(unverifiedReason ?? "the holder is unknown")"
        default:
            if let families, let ownerFamilies {
                let theirs = Self.familyNames(families)
                return "\(theirs) is held by \(holderDescription), not by the declared owner; the owner holds only \(Self.familyNames(ownerFamilies)), so \(theirs) clients reach \(holderDescription)"
            }
            return "held by \(holderDescription), not by the declared owner"
        }
    }
}

extension SocketFinding.Verdict: Codable {}
