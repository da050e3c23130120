import Foundation
import Testing

/// Runs shell scripts in the box of Support/bpf-box.sh: a throwaway cgroup that is the root
/// of a private cgroup namespace, with a private network namespace, cgroup2 mount and bpffs
/// (../shared/ebpf-notes.md, "A box for tests"). BPF programs attached at the box's cgroup
/// root act only on the script's processes; everything is removed afterwards, also on failure.
///
/// The script runs with `bash -eu`. Environment: CG (the cgroup2 mount = the box's root
/// cgroup), TOOL (portward-guard-tool), BIND (Support/guard_bind.py), PORTWARD (the binary),
/// and the shell function `outside CMD` (runs CMD outside the box's cgroup, in its netns).
enum BPFBox {
    static let support = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support")
    static let tool = URL(fileURLWithPath: Netns.portward).deletingLastPathComponent()
        .appendingPathComponent("portward-guard-tool").path

    /// Root, with unshare and nsenter: the box can be built.
    static let available: Bool = getuid() == 0
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter")

    /// The box can be built and the BPF guard loads in it (bpf() allowed, kernel 5.19+).
    /// When false, `unavailableReason` says why (tests that need the guard are skipped).
    static let guardAvailable: Bool = unavailableReason == nil

    static let unavailableReason: String? = {
        guard available else { return "needs root, unshare(1) and nsenter(1)" }
        guard let result = try? run("$TOOL probe") else { return "cannot run the box" }
        return result.status == 0 ? nil : "BPF guard unavailable here: \(result.stderr)"
    }()

    /// Runs `script` in a fresh box; the result's status is the script's.
    static func run(_ script: String) throws -> Netns.Result {
        var environment = ProcessInfo.processInfo.environment
        environment["TOOL"] = tool
        environment["BIND"] = support.appendingPathComponent("guard_bind.py").path
        environment["PORTWARD"] = Netns.portward
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portward-box-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outPath = dir.appendingPathComponent("stdout").path, errPath = dir.appendingPathComponent("stderr").path
        let status = try Netns.spawnAndWait(
            ["/bin/bash", support.appendingPathComponent("bpf-box.sh").path, "set -eu\n" + script],
            environment: environment.map { "\($0.key)=\($0.value)" }, stdout: outPath, stderr: errPath)
        return Netns.Result(status: status,
                            stdout: try String(contentsOfFile: outPath, encoding: .utf8),
                            stderr: try String(contentsOfFile: errPath, encoding: .utf8))
    }

    /// Runs `script` and returns its stdout as `name value` pairs: every line `name: value`.
    /// Records an issue when the script fails.
    static func values(_ script: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: String] {
        let result = try run(script)
        #expect(result.status == 0, "box script failed (\(result.status)): \(result.stderr)\n\(result.stdout)", sourceLocation: sourceLocation)
        var values: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            values[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }
}
