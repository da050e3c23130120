/// A transport protocol whose local ports the kernel allocates from
/// `ip_local_port_range` and which honours `ip_local_reserved_ports`.
public enum TransportProtocol: String, CaseIterable, Hashable, Sendable, Comparable, Codable {
    case tcp, udp, sctp

    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A set of transport protocols, as written in the PROTOCOLS column (`tcp,udp`, or `-` for
/// all).
public struct ProtocolSet: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let tcp = ProtocolSet(rawValue: 1 << 0)
    public static let udp = ProtocolSet(rawValue: 1 << 1)
    public static let sctp = ProtocolSet(rawValue: 1 << 2)
    public static let all: ProtocolSet = [.tcp, .udp, .sctp]

    public init(_ proto: TransportProtocol) {
        switch proto {
        case .tcp: self = .tcp
        case .udp: self = .udp
        case .sctp: self = .sctp
        }
    }

    /// Members in canonical order (tcp, udp, sctp).
    public var members: [TransportProtocol] {
        TransportProtocol.allCases.filter { contains(ProtocolSet($0)) }
    }

    /// `tcp,udp`, or `-` for all three.
    public var description: String {
        self == .all ? "-" : members.map(\.rawValue).joined(separator: ",")
    }
}
