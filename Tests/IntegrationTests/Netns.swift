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

    /// posix_spawn with a clean signal mask and default dispositions (the test runner's
    /// threads may block signals; a child must still die of SIGTERM), then waitpid.
    private static func spawnAndWait(_ argv: [String], environment: [String], stdout: String, stderr: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        var wstatus: Int32 = 0
        while waitpid(pid, &wstatus, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS; a signal death is reported as 128 + signal, like a shell.
        return wstatus & 0x7f == 0 ? (wstatus >> 8) & 0xff : 128 + (wstatus & 0x7f)
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
