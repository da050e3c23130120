import Foundation
import Testing

/// Runs shell scripts inside a private network namespace (`unshare -n`) with the built
/// `portward` binary, so the real kernel's per-netns `ip_local_reserved_ports` is used and
/// the host's own value is never touched.
enum Netns {
    /// True when we can create network namespaces (root with unshare available).
    static let available: Bool = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")

    /// The `portward` executable built next to the test bundle.
    static let portward: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // swift test runs <scratch>/<config>/portwardPackageTests.xctest
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("portward").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("portward").path
    }()

    /// The package root (for the shipped example configuration).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `script` with bash -eu inside `unshare -n`, loopback up. Env: PORTWARD (binary),
    /// KEY (the reserved-ports sysctl path), RANGE (ip_local_port_range path), plus `env`.
    /// `unshare`: the namespaces to create (`-n` by default; e.g. `-n -m -p -f --mount-proc`
    /// for a test that must see only its own mounts and processes).
    static func run(_ script: String, env: [String: String] = [:], unshare: [String] = ["-n"]) throws -> Result {
        let prologue = """
            set -eu
            ip link set lo up 2>/dev/null || true
            KEY=/proc/sys/net/ipv4/ip_local_reserved_ports
            RANGE=/proc/sys/net/ipv4/ip_local_port_range

            """
        var environment = ProcessInfo.processInfo.environment
        environment["PORTWARD"] = portward
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        for (k, v) in env { environment[k] = v }
        // Output goes to temporary files: no pipe can fill up and block the child.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portward-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outPath = dir.appendingPathComponent("stdout").path, errPath = dir.appendingPathComponent("stderr").path
        let status = try spawnAndWait(
            ["/usr/bin/unshare"] + unshare + ["--", "/bin/bash", "-c", prologue + script],
            environment: environment.map { "\($0.key)=\($0.value)" }, stdout: outPath, stderr: errPath)
        return Result(status: status,
                      stdout: try String(contentsOfFile: outPath, encoding: .utf8),
                      stderr: try String(contentsOfFile: errPath, encoding: .utf8))
    }

    /// Spawns `argv` (clean signal mask and dispositions, `ExternalTools.spawn`) with
    /// `environment`, output to the given files, and waits for it.
    static func spawnAndWait(_ argv: [String], environment: [String], stdout: String, stderr: String) throws -> Int32 {
        ExternalTools.wait(try ExternalTools.spawn(argv, environment: environment, stdout: stdout, stderr: stderr))
    }

    /// A fresh temporary root directory with `files` (path relative to the root → content).
    static func makeRoot(_ files: [String: String]) throws -> String {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("portward-it-\(UUID().uuidString)").path
        for (path, content) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url, atomically: true, encoding: .utf8)
        }
        return root
    }
}
