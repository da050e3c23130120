import Glibc
import PortwardCore
import PortwardLinux

/// portward as a chained CNI plugin (docs/netns.md, portward(8)): the same binary, installed
/// as `/usr/lib/cni/portward -> /usr/sbin/portward` (Debian's containernetworking-plugins
/// folder), so that a network configuration list's `"type": "portward"` runs it. A runtime
/// runs a plugin without arguments and with `CNI_COMMAND` in the environment (CNI spec 1.x,
/// "Protocol parameters"), which no portward subcommand needs: that pair selects this mode.
public enum CNICommand {
    /// For `main` when the process got no arguments: when `CNI_COMMAND` is set (to anything:
    /// an unknown command gets the spec's error 4), handles the
    /// invocation (`run`, with the process environment) and returns its exit status; nil
    /// otherwise (one getenv(3), nothing else, on the ordinary path).
    public static func runIfInvoked() -> Int32? {
        guard getenv("CNI_COMMAND") != nil else { return nil }
        return run(environment: processEnvironment())
    }

    /// The process environment (`environ`), as a dictionary; the first of duplicate names
    /// wins, as for getenv(3).
    public static func processEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "="), environment[String(text[..<eq])] == nil {
                environment[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            cursor += 1
        }
        return environment
    }

    /// Handles one CNI invocation (`CNIMain.run`: stdin, stdout, the pod's namespace) and
    /// returns the exit status (0 or 1). ADD and CHECK read portward's configuration under
    /// `root` (`ConfigLoader`: /etc/portward/ports.conf and the drop-ins) and use the ports
    /// of the entries scoped `netns=pods` or `netns=all` (`Configuration.podPorts`); a
    /// configuration with errors fails them with `CNIError.configurationInvalid` (103) and
    /// changes nothing. VERSION, DEL, STATUS and GC never read it.
    public static func run(environment: [String: String], root: String = "/") -> Int32 {
        CNIMain.run(ports: { () throws(CNIError) in try podPorts(root: root) }, environment: environment)
    }

    /// The ports the plugin reserves in a pod's namespace. Throws
    /// `CNIError.configurationInvalid` with the first errors (at most 5, `FILE:LINE:COLUMN:
    /// error: ...`, joined by `; `) in `details`.
    public static func podPorts(root: String = "/") throws(CNIError) -> PortSet {
        let loaded = ConfigLoader(root: root).load()
        let errors = loaded.diagnostics.filter { $0.severity == .error }
        guard errors.isEmpty else {
            var details = errors.prefix(5).map(\.description).joined(separator: "; ")
            if errors.count > 5 { details += "; and \(errors.count - 5) more (portward check)" }
            throw CNIError(code: CNIError.configurationInvalid,
                           msg: "portward's configuration has errors; no port was reserved", details: details)
        }
        return loaded.allEntries.podPorts
    }
}
