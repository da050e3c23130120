import Glibc
import PortwardCore
@testable import PortwardLinux

/// Namespaces and processes the netns tests create, and remove again in deinit (so also
/// when a test fails or throws).
enum TestProcess {
    static let canCreateNetns = getuid() == 0 && access("/usr/sbin/ip", X_OK) == 0 && access("/usr/bin/unshare", X_OK) == 0

    /// posix_spawn with a clean signal mask and default dispositions; stdin, stdout and
    /// stderr from/to the given files (default /dev/null).
    static func spawn(_ argv: [String], environment: [String]? = nil, stdin: String = "/dev/null",
                      stdout: String = "/dev/null", stderr: String = "/dev/null") -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
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
        let env = environment ?? ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        let cEnv = env.map { strdup($0) } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        precondition(rc == 0, "posix_spawn \(argv[0]): \(rc)")
        return pid
    }

    /// Waits for `pid`; the exit status, or 128 + signal.
    @discardableResult
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Runs `argv` to completion; its exit status.
    @discardableResult
    static func run(_ argv: [String]) -> Int32 { wait(spawn(argv)) }

    /// Runs a shell command; its exit status.
    @discardableResult
    static func shell(_ script: String) -> Int32 { run(["/bin/sh", "-c", script]) }

    /// `ip netns exec NAME cat KEY`, read through iproute2 (an independent way in).
    static func readKey(inNamed name: String) -> PortSet? {
        let out = "/tmp/portward-netns-read-\(getpid())-\(name)"
        defer { unlink(out) }
        guard wait(spawn(["/usr/sbin/ip", "netns", "exec", name, "cat", "/proc/sys/net/ipv4/ip_local_reserved_ports"],
                         stdout: out)) == 0,
              let text = try? SysctlFile(path: out).read() else { return nil }
        return try? ReservedPortsValue.decode(text)
    }

    /// The test process's own reserved ports (read only, never written).
    static func ownKey() -> PortSet? { try? ReservedPortsSysctl().read() }
}

/// `ip netns add portward-test-XXXXXXXX`, deleted in deinit.
final class NamedTestNetns {
    let name: String
    var path: String { "/run/netns/" + name }

    init() {
        name = "portward-test-" + String(UInt32.random(in: .min ... .max), radix: 16)
        precondition(TestProcess.run(["/usr/sbin/ip", "netns", "add", name]) == 0, "ip netns add \(name)")
    }

    /// Sets the namespace's key with a shell redirect inside it (a foreign writer).
    func setKey(_ text: String) {
        precondition(TestProcess.run(["/usr/sbin/ip", "netns", "exec", name, "/bin/sh", "-c",
                                      "printf '%s\\n' '\(text)' > /proc/sys/net/ipv4/ip_local_reserved_ports"]) == 0)
    }

    func delete() { TestProcess.run(["/usr/sbin/ip", "netns", "del", name]) }

    deinit { delete() }
}

/// A process holding a private network namespace (`unshare -n sleep`), no bind mount;
/// killed and reaped in deinit. Or a process started inside a named namespace.
final class HeldTestNetns {
    let pid: pid_t
    private var reaped = false
    var path: String { "/proc/\(pid)/ns/net" }

    init(inNamed name: String? = nil) {
        let argv = name.map { ["/usr/sbin/ip", "netns", "exec", $0, "/bin/sleep", "infinity"] }
            ?? ["/usr/bin/unshare", "-n", "--", "/bin/sleep", "infinity"]
        pid = TestProcess.spawn(argv)
        // Wait (bounded, not timed) until the exec of sleep happened: then the namespace is
        // the final one.
        for _ in 0..<20_000 {
            if NetnsDiscovery.readSmallFile("/proc/\(pid)/comm") == "sleep\n" { break }
            usleep(500)
        }
    }

    func kill() {
        guard !reaped else { return }
        Glibc.kill(pid, SIGKILL)
        TestProcess.wait(pid)
        reaped = true
    }

    deinit { kill() }
}
