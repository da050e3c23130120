import Benchmark
import Glibc
import Logging
import PortwardAgent
import PortwardCore
import PortwardLinux

// Micro benchmarks for portward's hot paths (issue 6, BENCHMARKS.md). The socket benchmarks
// open up to 100,000 sockets and let the watch repair net.ipv4.ip_local_reserved_ports, so
// they only run inside a private network namespace (bench/run.sh uses `unshare -n`); in the
// host's netns they are skipped.

/// A config of `count` entries, one per line, like the examples in portward.conf(5): every
/// fifth entry a range, protocols and owners mixed. Ports are in 1024-9999 and 20000-29999.
func configText(entries count: Int) -> String {
    var text = "# NAME PORTS PROTOCOLS OWNER\n"
    for i in 0..<count {
        let port = i < 4_000 ? 1_024 + 2 * i : 20_000 + 2 * (i - 4_000)
        let ports = i % 5 == 0 ? "\(port)-\(port + 1)" : "\(port)"
        let protocols = ["tcp", "udp", "tcp,udp", "-"][i % 4]
        let owner = ["unit:svc\(i).service", "user:root", "exe:/usr/bin/svc\(i)", "-"][i % 4]
        text += "svc\(i)\t\(ports)\t\(protocols)\t\(owner)\n"
    }
    return text
}

func configuration(entries count: Int) -> Configuration {
    let parsed = ConfigParser.parse(configText(entries: count), file: "ports.conf") { _, _ in nil }
    precondition(!parsed.hasErrors, "\(parsed.diagnostics)")
    return Configuration.merge([parsed]).configuration
}

/// True when this process is in a private network namespace made for the benchmark:
/// bench/run.sh sets PORTWARD_BENCH_HOST_NETNS to the netns it started in (outside
/// `unshare -n`), and the current netns must be another one.
func inPrivateNetns() -> Bool {
    guard let host = getenv("PORTWARD_BENCH_HOST_NETNS").map({ String(cString: $0) }), !host.isEmpty
    else { return false }
    var buffer = [CChar](repeating: 0, count: 256)
    let n = readlink("/proc/self/ns/net", &buffer, buffer.count - 1)
    guard n > 0 else { return false }
    let mine = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return mine != host
}

/// Sockets held for a benchmark: descriptors of this process, and child processes holding
/// the unrelated sockets.
nonisolated(unsafe) var openSockets: [Int32] = []
nonisolated(unsafe) var socketHolders: [pid_t] = []

/// Unrelated UDP sockets (see `bindUDP`), held by child processes of 15,000 each: the
/// descriptor hard limit here is 20,000 and cannot be raised without CAP_SYS_RESOURCE.
func openUnrelatedSockets(_ count: Int) {
    let perProcess = 15_000
    for start in stride(from: 0, to: count, by: perProcess) {
        var pipeFDs: [Int32] = [0, 0]
        precondition(pipe(&pipeFDs) == 0)
        let parent = getpid()
        let pid = fork()
        precondition(pid >= 0, "fork: errno \(errno)")
        if pid == 0 {
            close(pipeFDs[0])
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            limit.rlim_cur = limit.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            for i in start..<min(count, start + perProcess) where bindUDP(index: i) < 0 { _exit(Int32(errno)) }
            var byte: UInt8 = 1
            _ = write(pipeFDs[1], &byte, 1)
            while getppid() == parent { usleep(100_000) }  // ends with the benchmark, even if it crashed
            _exit(0)
        }
        close(pipeFDs[1])
        var byte: UInt8 = 0
        if read(pipeFDs[0], &byte, 1) != 1 {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            fatalError("socket holder for sockets \(start)... failed: errno \((status >> 8) & 0xff)")
        }
        close(pipeFDs[0])
        socketHolders.append(pid)
    }
}

/// Unrelated socket number `index`: UDP on 127.0.0.(1 + index / 25,000), port chosen by the
/// kernel (autobind, from ip_local_port_range 32768-60999, which no benchmark entry declares;
/// each address has its own port space). Explicit ports collided with sockets of the
/// framework's own processes in the netns.
func bindUDP(index i: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    if fd < 0 { return -1 }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = (UInt32(0x7F00_0001) + UInt32(i / 25_000)).bigEndian
    address.sin_port = 0
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// A TCP listener on `port` (0.0.0.0), held by this process.
func holdDeclaredPort(_ port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    precondition(rc == 0 && listen(fd, 16) == 0, "listen \(port): errno \(errno)")
    openSockets.append(fd)
}

func closeSockets() {
    for fd in openSockets { close(fd) }
    openSockets = []
    for pid in socketHolders {
        kill(pid, SIGKILL)
        waitpid(pid, nil, 0)
    }
    socketHolders = []
}

let heldPort: UInt16 = 1_024  // declared by svc0 in every generated config

nonisolated(unsafe) var daemon: Daemon?
nonisolated(unsafe) var lookup: HolderLookup?

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(2),
        maxIterations: 10_000)

    // Configuration parsing (pure; no services lookup).
    for count in [50, 5_000] {
        let bytes = Array(configText(entries: count).utf8)
        Benchmark("config parse \(count) entries") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(ConfigParser.parse(bytes, file: "ports.conf") { _, _ in nil })
            }
        }
    }
    let config50 = configuration(entries: 50)
    Benchmark("config parse+merge 50 entries") { benchmark in
        let text = configText(entries: 50)
        for _ in benchmark.scaledIterations {
            let parsed = ConfigParser.parse(text, file: "ports.conf") { _, _ in nil }
            blackHole(Configuration.merge([parsed]))
        }
    }

    // Port sets: the worst case for the bitmap is no worse than one port.
    let odd = PortSet(stride(from: UInt16(1), through: 65_535, by: 2))
    let kubernetes = PortSet(ranges: [PortRange(30_000, 32_767)])
    Benchmark("PortSet union") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(odd.union(kubernetes)) }
    }
    Benchmark("PortSet subtracting") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(odd.subtracting(kubernetes)) }
    }
    Benchmark("PortSet union 50-entry declared") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(config50.declaredPorts.union(kubernetes)) }
    }

    // The kernel value, worst case: every odd port, 32,768 single ports, 191,053 bytes.
    let oddText = ReservedPortsValue.encode(odd)
    Benchmark("kernel value encode 32768 scattered ports") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(ReservedPortsValue.encode(odd)) }
    }
    Benchmark("kernel value decode 32768 scattered ports") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try? ReservedPortsValue.decode(oddText)) }
    }

    // The watch, against the real kernel, with N unrelated sockets open in the netns.
    guard inPrivateNetns() else {
        print("portward-bench: not in a private network namespace; skipping the socket benchmarks")
        return
    }
    let root = "/tmp/portward-bench-root"
    let declared = config50.declaredPorts
    for count in [0, 10_000, 100_000] {
        Benchmark("watch poll, \(count) unrelated sockets",
                  configuration: .init(maxDuration: .seconds(3), maxIterations: 2_000)) { benchmark in
            for _ in benchmark.scaledIterations { daemon!.poll() }
        } setup: {
            openUnrelatedSockets(count)
            holdDeclaredPort(heldPort)
            try! FileContents.writeAtomically(Array(configText(entries: 50).utf8), to: root + "/etc/portward/ports.conf")
            let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
            let context = TargetContext(root: root)
            var environment = DaemonEnvironment.system(context, procRoot: "/proc")
            environment.logger = logger
            daemon = Daemon(context: context, options: DaemonOptions(force: true, interval: 1), environment: environment)
            try! daemon!.start()  // applies the reservation and fills the holder cache
        } teardown: {
            daemon = nil
            closeSockets()
        }
        Benchmark("sock_diag filtered dump, \(count) unrelated sockets",
                  configuration: .init(maxDuration: .seconds(3), maxIterations: 2_000)) { benchmark in
            let diag = try! SockDiag()
            for _ in benchmark.scaledIterations { blackHole(try! diag.sockets(sourcePorts: declared)) }
        } setup: {
            openUnrelatedSockets(count)
            holdDeclaredPort(heldPort)
        } teardown: {
            closeSockets()
        }
    }

    // Holder attribution from cold: a new HolderLookup (netlink socket, dump, /proc scan,
    // process details) for one declared port held by this process, as `portward status` does.
    Benchmark("holder attribution, 1 declared port, cold") { benchmark in
        let port = PortSet([heldPort])
        for _ in benchmark.scaledIterations {
            let report = try! HolderLookup().holders(of: port)
            precondition(report.sockets.first?.holders.first?.pid == getpid())
            blackHole(report)
        }
    } setup: {
        holdDeclaredPort(heldPort)
    } teardown: {
        closeSockets()
    }
    Benchmark("holder attribution, 1 declared port, cached") { benchmark in
        let port = PortSet([heldPort])
        for _ in benchmark.scaledIterations { blackHole(try! lookup!.holders(of: port)) }
    } setup: {
        holdDeclaredPort(heldPort)
        lookup = try HolderLookup()
        _ = try lookup!.holders(of: PortSet([heldPort]))
    } teardown: {
        lookup = nil
        closeSockets()
    }
}
