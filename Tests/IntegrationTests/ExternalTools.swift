import Foundation

/// The real tools the metrics and schema tests drive: Debian's `prometheus` (promtool),
/// `prometheus-node-exporter`, `curl`, `iproute2` (ss) and `python3-jsonschema`
/// (`scripts/deps --tests` installs them). Each test is skipped when its tool is missing.
enum ExternalTools {
    static let promtool = find("promtool")
    static let nodeExporter = find("prometheus-node-exporter")
    static let curl = find("curl")
    static let ss = find("ss")

    /// A python3 that can `import jsonschema`: Debian's /usr/bin/python3 first (the
    /// python3-jsonschema package), then python3 from PATH.
    static let jsonschemaPython: String? = {
        for candidate in ["/usr/bin/python3", find("python3")].compactMap({ $0 }) {
            if let r = try? run([candidate, "-c", "import jsonschema"]), r.status == 0 { return candidate }
        }
        return nil
    }()

    /// The first executable `name` on PATH (or /usr/sbin, /usr/bin).
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin"] {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `argv` to completion (stdin from `stdin` or /dev/null, output to temporary files).
    /// `environment`: `KEY=VALUE` strings, nil for this process's.
    static func run(_ argv: [String], stdin: String? = nil, environment: [String]? = nil) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portward-tool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("stdout").path, err = dir.appendingPathComponent("stderr").path
        let pid = try spawn(argv, stdin: stdin ?? "/dev/null", environment: environment, stdout: out, stderr: err)
        let status = wait(pid)
        return Result(status: status, stdout: try String(contentsOfFile: out, encoding: .utf8),
                      stderr: try String(contentsOfFile: err, encoding: .utf8))
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which the Glibc module
    /// does not export; nil on an older glibc.
    private static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// posix_spawn with a clean signal mask and default dispositions (the test runner's
    /// threads may block signals; a child must still die of SIGTERM). `environment`:
    /// `KEY=VALUE` strings, nil for this process's. Returns the pid.
    static func spawn(_ argv: [String], stdin: String = "/dev/null", environment: [String]? = nil,
                      stdout: String, stderr: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else: another test's thread may have a file open for writing right now
        // (without O_CLOEXEC); a child holding it would close it later, and a daemon under
        // test watching that directory (--watch-config) would see IN_CLOSE_WRITE.
        _ = closeFrom?(&actions, 3)
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
        let cEnv = (environment ?? ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }).map { strdup($0) } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        return pid
    }

    /// waitpid; a signal death is reported as 128 + signal, like a shell.
    static func wait(_ pid: pid_t) -> Int32 {
        var wstatus: Int32 = 0
        while waitpid(pid, &wstatus, 0) < 0 && errno == EINTR {}
        return wstatus & 0x7f == 0 ? (wstatus >> 8) & 0xff : 128 + (wstatus & 0x7f)
    }

    /// True while `pid` (our child) has not exited; reaps it if it has.
    static func isRunning(_ pid: pid_t) -> Bool {
        var wstatus: Int32 = 0
        return waitpid(pid, &wstatus, WNOHANG) == 0
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
    static func freeLoopbackPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return UInt16(bigEndian: address.sin_port)
    }
}

/// Samples of the Prometheus text format, for comparing what node_exporter serves with
/// what portward wrote: `name{label="value",...}` (labels sorted, values unescaped) → value
/// (Go writes `1.76458680025e+09` for portward's `1764586800.25`: compared as numbers).
enum PrometheusSamples {
    static func parse(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            var rest = Substring(line)
            let name = rest.prefix { $0 != "{" && $0 != " " }
            rest = rest.dropFirst(name.count)
            var labels: [(String, String)] = []
            if rest.first == "{" {
                rest = rest.dropFirst()
                while rest.first != "}" {
                    if rest.first == "," { rest = rest.dropFirst(); continue }
                    let label = rest.prefix { $0 != "=" }
                    rest = rest.dropFirst(label.count + 2)  // `="`
                    var value = ""
                    while let c = rest.first, c != "\"" {
                        rest = rest.dropFirst()
                        if c == "\\", let next = rest.first {
                            rest = rest.dropFirst()
                            value.append(next == "n" ? "\n" : next)
                        } else {
                            value.append(c)
                        }
                    }
                    rest = rest.dropFirst()  // closing quote
                    labels.append((String(label), value))
                }
                rest = rest.dropFirst()  // }
            }
            let key = String(name) + "{" + labels.sorted { $0.0 < $1.0 }
                .map { "\($0.0)=\(String(reflecting: $0.1))" }.joined(separator: ",") + "}"
            samples[key] = Double(String(rest.drop { $0 == " " }.prefix { $0 != " " })) ?? .nan
        }
        return samples
    }
}
