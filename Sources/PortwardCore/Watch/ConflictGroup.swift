/// Conflicts of one watch cycle gathered per entry, protocol, verdict and holder, so that
/// one process binding 2,000 declared ports gives one journal event, not 2,000.
public struct ConflictGroup: Hashable, Sendable {
    /// The conflicts of the group, by port; never empty.
    public let conflicts: [Conflict]

    /// The first conflict (lowest port): its entry, holder and verdict stand for the group.
    public var first: Conflict { conflicts[0] }

    /// The ports of the group (a port held through two sockets counts once).
    public var ports: PortSet { PortSet(conflicts.map(\.port)) }

    /// Groups `conflicts` in their order of first appearance; each group sorted by port.
    public static func group(_ conflicts: [Conflict]) -> [ConflictGroup] {
        var order: [Key] = []
        var members: [Key: [Conflict]] = [:]
        for conflict in conflicts {
            let key = Key(conflict)
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(conflict)
        }
        return order.map { ConflictGroup(conflicts: members[$0]!.sorted { $0.port < $1.port }) }
    }

    private struct Key: Hashable {
        let entry: String
        let transport: TransportProtocol
        let verdict: SocketFinding.Verdict
        /// The holding process, or the socket's uid and state when none is known.
        let holder: String

        init(_ conflict: Conflict) {
            entry = conflict.entry
            transport = conflict.transport
            verdict = conflict.verdict
            holder = conflict.holder.map { "pid \($0.pid) \($0.command)" } ?? "uid \(conflict.socketUID) \(conflict.socketState)"
        }
    }
}
