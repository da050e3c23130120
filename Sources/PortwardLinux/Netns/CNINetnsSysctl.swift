import Glibc
import PortwardCore
import SystemPackage

/// `CNINamespaceIO` over the real kernel: enters `CNI_NETNS` on a dedicated thread
/// (`NetnsSysctl`) and reads or merges its `ip_local_reserved_ports`. Errors become CNI
/// error objects: 100 (cannot open or enter the namespace), 101 (the sysctl failed), 11
/// (try again later: EAGAIN, EBUSY or EINTR).
public struct CNINetnsSysctl: CNINamespaceIO {
    public init() {}

    public func merge(_ ports: PortSet, netns: String) throws(CNIError) -> PortSet {
        do { return try NetnsSysctl.merge(ports, netnsAt: netns) } catch { throw Self.cniError(error) }
    }

    public func read(netns: String) throws(CNIError) -> PortSet {
        do { return try NetnsSysctl.read(netnsAt: netns) } catch { throw Self.cniError(error) }
    }

    static func cniError(_ error: NetnsError) -> CNIError {
        let transient: Set<Errno> = [.resourceTemporarilyUnavailable, .resourceBusy, .interrupted]
        switch error {
        case .sysctl(let sysctl):
            let errno: Errno? = switch sysctl {
            case .openFailed(_, let e), .readFailed(_, let e), .writeRejected(_, let e, _): e
            default: nil
            }
            if let errno, transient.contains(errno) {
                return CNIError(code: CNIError.tryAgainLater, msg: "try again later", details: sysctl.description)
            }
            return CNIError(code: CNIError.sysctlFailed, msg: "cannot reserve ports in the network namespace",
                            details: sysctl.description)
        case .threadFailed(let errno) where transient.contains(errno):
            return CNIError(code: CNIError.tryAgainLater, msg: "try again later", details: error.description)
        default:
            return CNIError(code: CNIError.netnsUnavailable, msg: "cannot enter the network namespace",
                            details: error.description)
        }
    }
}

/// The CNI plugin's process entry point, for `main` to call when portward is run as a CNI
/// plugin (argv[0] `portward` in a CNI_PATH folder, or a subcommand: the lead's choice).
public enum CNIMain {
    /// Reads stdin to EOF, handles the request from the process environment with
    /// `CNIPlugin.run` over `CNINetnsSysctl`, writes the reply to stdout, and returns the
    /// exit status (0 or 1). `ports`: the ports selected for pods.
    public static func run(ports: PortSet, environment: [String: String]) -> Int32 {
        run(ports: { () throws(CNIError) in ports }, environment: environment)
    }

    /// `run(ports:environment:)` with the ports computed only when ADD or CHECK needs them
    /// (`CNIPlugin.run(environment:stdin:ports:io:)`): what the real binary passes, so
    /// that VERSION and DEL never read the configuration.
    public static func run(ports: () throws(CNIError) -> PortSet, environment: [String: String]) -> Int32 {
        var input: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var readError: Errno?
        while input.count < 16 << 20 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                readError = Errno(rawValue: errno)
                break
            }
            if n == 0 { break }
            input += chunk[..<n]
        }
        let outcome: CNIPlugin.Outcome
        if let readError, environment["CNI_COMMAND"] != "VERSION" {
            let error = CNIError(code: CNIError.ioFailure, msg: "cannot read the network configuration from stdin",
                                 details: "\(readError)")
            outcome = .init(stdout: error.render(cniVersion: CNIPlugin.defaultVersion), exitStatus: 1, error: error)
        } else {
            outcome = CNIPlugin.run(environment: environment, stdin: input, ports: ports, io: CNINetnsSysctl())
        }
        var bytes = Array(outcome.stdout.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(1, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            offset += n
        }
        return outcome.exitStatus
    }
}
