/// What the CNI plugin needs from the system: the reserved ports of the namespace at a
/// `CNI_NETNS` path. PortwardLinux's `CNINetnsSysctl` does it with setns; tests use fakes.
/// Implementations throw `CNIError` with portward's codes (100 namespace unavailable, 101
/// sysctl failure) or 11 (try again later) for transient errnos.
public protocol CNINamespaceIO {
    /// Adds `ports` to the namespace's key, keeping every port already there; returns the
    /// value read back.
    func merge(_ ports: PortSet, netns: String) throws(CNIError) -> PortSet
    /// The namespace's key now.
    func read(netns: String) throws(CNIError) -> PortSet
}

/// portward as a chained CNI plugin (CNI spec 1.0/1.1): pure request handling over a
/// `CNINamespaceIO`.
///
/// - ADD: merges `ports` into the key of the namespace at CNI_NETNS (ports already there,
///   from any writer, are kept) and prints `prevResult` unchanged, byte for byte.
///   Needs a `prevResult` (a chained plugin: error 7 without one).
/// - CHECK: reads the key and fails with code 102 listing the missing ports unless it holds
///   every one of `ports` (a set comparison: the kernel's normalised text, `80-81` for
///   `80,81`, never matters). Needs `prevResult`. Prints nothing.
/// - DEL: succeeds and prints nothing, whatever the namespace's state (even gone). The
///   ports are left in the key: other writers may have reserved the same ports, and the
///   namespace is being torn down.
/// - VERSION: `{"cniVersion": <input's or 1.1.0>, "supportedVersions": [...]}`.
/// - STATUS, GC: succeed (portward keeps no state and depends on no daemon here).
public enum CNIPlugin {
    /// Versions whose request and result formats portward accepts. CHECK exists from 0.4.0.
    public static let supportedVersions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
    /// The version used for replies when the input names none that can be used.
    public static let defaultVersion = "1.1.0"

    /// What to print on stdout and the exit status.
    public struct Outcome: Equatable, Sendable {
        public let stdout: String
        public let exitStatus: Int32
        /// The error, when the invocation failed (also rendered in `stdout`).
        public let error: CNIError?

        public init(stdout: String, exitStatus: Int32, error: CNIError?) {
            self.stdout = stdout
            self.exitStatus = exitStatus
            self.error = error
        }
    }

    /// Handles one invocation: `environment` is the process environment, `stdin` the
    /// bytes read from standard input, `ports` the ports selected for pods.
    public static func run(environment: [String: String], stdin: [UInt8], ports: PortSet,
                           io: some CNINamespaceIO) -> Outcome {
        run(environment: environment, stdin: stdin, ports: { () throws(CNIError) in ports }, io: io)
    }

    /// `run(environment:stdin:ports:io:)` with the ports computed only when ADD or CHECK
    /// needs them, after the environment and the network configuration were validated (so
    /// VERSION, DEL, STATUS and GC never read portward's configuration). An error thrown by
    /// `ports` (e.g. `CNIError.configurationInvalid`) is the invocation's error.
    public static func run(environment: [String: String], stdin: [UInt8],
                           ports: () throws(CNIError) -> PortSet,
                           io: some CNINamespaceIO) -> Outcome {
        var replyVersion = defaultVersion
        do throws(CNIError) {
            let env = try CNIEnvironment.parse(environment)
            if env.command == .version {
                let version = (try? CNINetworkConfig.parse(stdin))?.cniVersion ?? defaultVersion
                return Outcome(stdout: CNIJSON.encode(VersionReply(cniVersion: version,
                                                                   supportedVersions: supportedVersions)),
                               exitStatus: 0, error: nil)
            }
            let config: CNINetworkConfig
            do throws(CNIError) { config = try CNINetworkConfig.parse(stdin) } catch {
                // DEL is best effort: a configuration portward cannot read leaves nothing to undo.
                if env.command == .del { return Outcome(stdout: "", exitStatus: 0, error: nil) }
                throw error
            }
            replyVersion = config.cniVersion
            guard let version = SemanticVersion(config.cniVersion), supportedVersions.contains(config.cniVersion) else {
                throw CNIError(code: CNIError.incompatibleVersion, msg: "incompatible CNI versions",
                               details: "config is \(config.cniVersion.debugDescription), portward supports \(supportedVersions.joined(separator: ", "))")
            }
            switch env.command {
            case .add:
                guard let prevResult = config.prevResult else { throw chainedOnly }
                let ports = try ports()
                _ = try io.merge(ports, netns: env.netns!)
                return Outcome(stdout: prevResult + "\n", exitStatus: 0, error: nil)
            case .check:
                guard version >= SemanticVersion("0.4.0")! else {
                    throw CNIError(code: CNIError.incompatibleVersion, msg: "incompatible CNI versions",
                                   details: "CHECK needs cniVersion 0.4.0 or later, config is \(config.cniVersion.debugDescription)")
                }
                guard config.prevResult != nil else { throw chainedOnly }
                let ports = try ports()
                let current = try io.read(netns: env.netns!)
                let missing = ports.subtracting(current)
                guard missing.isEmpty else {
                    throw CNIError(code: CNIError.portsMissing, msg: "reserved ports missing",
                                   details: "\(env.netns!) lacks \(missing) in net.ipv4.ip_local_reserved_ports")
                }
                return Outcome(stdout: "", exitStatus: 0, error: nil)
            case .del, .status, .gc, .version:
                return Outcome(stdout: "", exitStatus: 0, error: nil)
            }
        } catch {
            return Outcome(stdout: error.render(cniVersion: replyVersion), exitStatus: 1, error: error)
        }
    }

    private static let chainedOnly = CNIError(
        code: CNIError.invalidConfig, msg: "invalid network configuration",
        details: "portward is a chained plugin: it must follow an interface plugin (no prevResult)")

    private struct VersionReply: Encodable {
        let cniVersion: String
        let supportedVersions: [String]
    }
}

/// `MAJOR.MINOR.PATCH` with numeric comparison.
struct SemanticVersion: Comparable {
    let parts: [Int]
    init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 != nil && $0! >= 0 }) else { return nil }
        self.parts = parts.map { $0! }
    }
    static func < (a: Self, b: Self) -> Bool { a.parts.lexicographicallyPrecedes(b.parts) }
}
