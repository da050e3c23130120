import FoundationEssentials
import PortwardCore

/// `portward status --json`: a stable schema, documented in docs/status-json.md.
/// Field names never change meaning within a schema version; new fields may be added.
public enum StatusJSON {
    struct Document: Encodable {
        var schema = 1
        var reservedPorts: String
        var attributionComplete: Bool
        var daemon: Daemon
        var entries: [Entry]
        /// `status --netns` only.
        var namespace: Namespace?
    }

    /// The network namespace a document is about (`status --netns`).
    public struct Namespace: Encodable, Sendable {
        /// `st_ino` of the nsfs inode (`net:[INODE]`).
        var inode: UInt64
        /// True for the namespace `status` runs in (the host's).
        var host: Bool
        /// The `ip netns` names (files in /run/netns).
        var names: [String]
        /// The path it was reached by (bind mount or /proc/PID/ns/net).
        var path: String
        /// The owning container or pod, when its processes' cgroup names one.
        var runtime: String?
        var container: String?
        var pod: String?

        public init(_ netns: DiscoveredNetns) {
            inode = netns.identity.inode
            host = netns.isOwn
            names = netns.names
            path = netns.path
            runtime = netns.owner?.runtime
            container = netns.owner?.container
            pod = netns.owner?.pod
        }

        /// `net:[INODE] NAME-OR-PATH [OWNER]`, or `net:[INODE] (host)`.
        var label: String {
            var text = "net:[\(inode)] " + (host ? "(host)" : names.first ?? path)
            if let runtime {
                text += " [\(NetnsOwner(runtime: runtime, container: container, pod: pod))]"
            }
            return text.escapingControlCharacters
        }
    }

    struct Daemon: Encodable {
        var running: Bool
        var pid: Int?
        var startedAt: Double?
        var lastPollAt: Double?
        var pollError: String?
        var conflicts: [Conflict]
        var drift: [DaemonView.Drift]
        var repairRefused: String?
        var omitted: DaemonView.Omitted?
        var `guard`: Guard?
        /// How the daemon watches (events or polling, and why); absent from a daemon that
        /// predates it.
        var watch: DaemonView.WatchView?
        /// Why the running daemon cannot reach other network namespaces (with the fix).
        var netnsUnavailable: String?
    }

    struct Guard: Encodable {
        var unavailable: String?
        var denied: Int
        var denials: [GuardDenialRecord]
    }

    struct Entry: Encodable {
        var name: String
        var `protocol`: String
        var ports: String
        var owner: String
        var file: String
        var line: Int
        var reserved: String
        var unreservedPorts: String
        var state: String
        /// `unverified` only: why the owner could not be checked (first such socket).
        var unverifiedReason: String?
        var `guard`: EntryProtection
        var sockets: [Socket]
    }

    struct Socket: Encodable {
        var port: Int
        var family: String
        var localAddress: String
        var remoteAddress: String?
        var remotePort: Int?
        var socketState: String
        var uid: Int
        var inode: UInt64
        var verdict: String
        /// Address families whose clients reach this socket.
        var families: [String]
        /// A wrong-owner listener: the families the owner holds instead (disjoint).
        var ownerFamilies: [String]?
        /// complete, needs-root, hidepid, proc-unreadable.
        var attribution: String
        var holders: [Process]
    }

    struct Process: Encodable {
        var pid: Int
        var command: String
        var executable: String?
        var unit: String?
        var uid: Int
        var startedAt: Double?
    }

    /// The document, pretty-printed with sorted keys (no trailing newline).
    /// - Parameter protections: each entry's protection by the owner guard, by entry name.
    public static func render(_ rows: [EntryStatus], reserved: PortSet, attributionComplete: Bool,
                              daemon: DaemonProbe, protections: [String: EntryProtection] = [:],
                              namespace: Namespace? = nil) -> String {
        let view = daemon.view
        let guardView = daemon.isRunning ? view?.ownerGuard : nil
        let document = Document(
            reservedPorts: reserved.description,
            attributionComplete: attributionComplete,
            daemon: Daemon(running: daemon.isRunning, pid: view.map { Int($0.pid) }, startedAt: view?.startedAt,
                           lastPollAt: view?.lastPollAt, pollError: view?.pollError,
                           conflicts: view?.conflicts ?? [], drift: view?.drift ?? [],
                           repairRefused: view?.repairRefused, omitted: view?.omitted,
                           guard: guardView.map { Guard(unavailable: $0.unavailable, denied: $0.denied, denials: $0.denials) },
                           watch: daemon.isRunning ? view?.watch : nil,
                           netnsUnavailable: daemon.isRunning ? view?.netnsUnavailable : nil),
            entries: rows.map { row in
                Entry(name: row.entry.name, protocol: row.transport.rawValue,
                      ports: row.entry.portsDescription, owner: row.entry.owner.description,
                      file: row.entry.location.file, line: row.entry.location.line,
                      reserved: row.reserved.rawValue, unreservedPorts: row.unreserved.description,
                      state: row.state.rawValue,
                      unverifiedReason: row.findings.lazy.compactMap { $0.unverifiedReason(owner: row.entry.owner) }.first,
                      guard: protections[row.entry.name] ?? EntryProtection(.unguarded),
                      sockets: row.findings.map { f in
                          Socket(port: Int(f.socket.localPort), family: f.socket.family.description,
                                 localAddress: f.socket.localAddress,
                                 remoteAddress: f.socket.remotePort == 0 ? nil : f.socket.remoteAddress,
                                 remotePort: f.socket.remotePort == 0 ? nil : Int(f.socket.remotePort),
                                 socketState: f.socket.state.description, uid: Int(f.socket.uid),
                                 inode: f.socket.inode, verdict: f.verdict.rawValue,
                                 families: f.socket.servedFamilies.map(\.description),
                                 ownerFamilies: f.ownerFamilies?.map(\.description),
                                 attribution: f.attribution.rawValue,
                                 holders: f.holders.map {
                                     Process(pid: Int($0.pid), command: $0.command, executable: $0.executablePath,
                                             unit: $0.unit, uid: Int($0.uid), startedAt: $0.startedAt)
                                 })
                      })
            },
            namespace: namespace)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain values cannot fail.
        return String(decoding: (try? encoder.encode(document)) ?? Data(), as: UTF8.self)
    }
}
