import Foundation
import PortwardCore
import PortwardLinux
import Testing

/// The metrics textfile and the example alert rules against the real Prometheus tools:
/// promtool (Debian `prometheus`) and node_exporter (`prometheus-node-exporter`) scraped
/// with curl over loopback. No root needed; each test is skipped without its tool.
@Suite struct MetricsIntegrationTests {
    static let docs = Netns.packageRoot.appendingPathComponent("docs").path

    /// Every family with samples, hostile label values (quote, backslash, newline, control
    /// characters, UTF-8), conflicts past the series limit.
    static let busy: MetricsSnapshot = {
        var conflicts: [MetricsSnapshot.ConflictHolder] = [
            .init(entry: "radius", transport: .udp, ports: "1812-1813", command: "ev\"il\\x\nz\u{1B}[31m",
                  unit: "session-3.scope", sockets: 2),
            .init(entry: "radius", transport: .udp, ports: "1812-1813", command: "", unit: "", sockets: 1),
        ]
        for i in 0..<80 {
            conflicts.append(.init(entry: "grabbed", transport: .tcp, ports: "40000-40999", command: "curl\(i)",
                                   unit: "cron-\(i).service", sockets: 1))
        }
        return MetricsSnapshot(
            version: "0.1.0",
            entries: [
                .init(name: "radius", transport: .udp, ports: "1812-1813", reserved: true, state: .conflict,
                      protection: .guarded, holders: 3),
                .init(name: "grabbed", transport: .tcp, ports: "40000-40999", reserved: true, state: .conflict,
                      protection: .reportOnly, holders: 80),
                .init(name: "web", transport: .tcp, ports: "8080", reserved: false, state: .unreserved,
                      protection: .held, holders: 0),
                .init(name: "名前", transport: .sctp, ports: "9090", reserved: true, state: .unverified,
                      protection: .none, holders: 0),
            ],
            conflicts: conflicts,
            counters: .init(driftRepairs: 4, guardDenials: 1234, conflictsStarted: 82, eventsDropped: 1,
                            configurationErrors: 2),
            lastSuccessfulCheck: 1_764_586_800.25, configurationValid: false, watchMode: .events,
            networkNamespaces: 3)
    }()

    static let empty = MetricsSnapshot(version: "0.1.0", entries: [], conflicts: [], lastSuccessfulCheck: nil,
                                       configurationValid: true, watchMode: .polling)

    static func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portward-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    @Test(.enabled(if: ExternalTools.promtool != nil, "needs promtool (Debian package prometheus)"),
          arguments: [("busy", busy), ("empty", empty)])
    func promtoolChecksTheWrittenFile(_ name: String, _ snapshot: MetricsSnapshot) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try MetricsFile(path: dir + "/portward.prom")
        try file.write(snapshot)
        let r = try ExternalTools.run([ExternalTools.promtool!, "check", "metrics"], stdin: file.path)
        // Exit 0 and no lint complaint (promtool prints problems, one per line).
        #expect(r.status == 0, "\(name): \(r.stdout)\(r.stderr)")
        #expect(r.stdout.isEmpty && r.stderr.isEmpty, "\(name): \(r.stdout)\(r.stderr)")
    }

    /// promtool must catch what it is there to catch: a counter without `_total`, an
    /// unescaped label value. Guards against a check that cannot fail.
    @Test(.enabled(if: ExternalTools.promtool != nil, "needs promtool (Debian package prometheus)"))
    func promtoolRejectsABrokenFile() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try MetricsFile(path: dir + "/broken.prom")
        try file.write(text: "# HELP portward_repairs Repairs.\n# TYPE portward_repairs counter\nportward_repairs 1\n")
        #expect(try ExternalTools.run([ExternalTools.promtool!, "check", "metrics"], stdin: file.path).status != 0)
        try file.write(text: "# HELP portward_x X.\n# TYPE portward_x gauge\nportward_x{a=\"1\"\"} 1\n")
        #expect(try ExternalTools.run([ExternalTools.promtool!, "check", "metrics"], stdin: file.path).status != 0)
    }

    @Test(.enabled(if: ExternalTools.promtool != nil, "needs promtool (Debian package prometheus)"))
    func alertRulesPassCheckAndTheirUnitTests() throws {
        let check = try ExternalTools.run([ExternalTools.promtool!, "check", "rules", Self.docs + "/portward-alerts.yml"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("SUCCESS: 6 rules found"), "\(check.stdout)")
        let test = try ExternalTools.run([ExternalTools.promtool!, "test", "rules",
                                          Self.docs + "/portward-alerts.test.yml"])
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")
        // Every alert of the rule file has a unit test.
        let rules = try String(contentsOfFile: Self.docs + "/portward-alerts.yml", encoding: .utf8)
        let tests = try String(contentsOfFile: Self.docs + "/portward-alerts.test.yml", encoding: .utf8)
        let alerts = rules.split(separator: "\n").compactMap { line -> String? in
            let t = line.trimmingCharacters(in: .whitespaces)
            return t.hasPrefix("- alert: ") ? String(t.dropFirst(9)) : nil
        }
        #expect(alerts.count == 6)
        for alert in alerts { #expect(tests.contains("alertname: \(alert)\n"), "no unit test for \(alert)") }
    }

    /// The daemon's path from kernel data to the file: a socket this test holds on a port
    /// declared for another owner, found by sock_diag and the /proc scan, classified,
    /// turned into a snapshot, written and checked by promtool. Reads the host's reserved
    /// ports (read-only); listens on 127.0.0.1 only, closed at the end. SOCK_CLOEXEC: a
    /// child another test spawns meanwhile must not become a second holder.
    @Test(.enabled(if: ExternalTools.promtool != nil, "needs promtool (Debian package prometheus)"))
    func aSnapshotFromARealClassification() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 && listen(fd, 1) == 0
            }
        }
        try #require(listening)
        let port = UInt16(bigEndian: address.sin_port)

        let parsed = ConfigParser.parse("grabbed \(port) tcp unit:nobody-runs-this.service\n",
                                        file: "/etc/portward/ports.conf", resolveService: { _, _ in nil })
        let configuration = Configuration.merge([parsed]).configuration
        let report = try HolderLookup().holders(of: configuration.declaredPorts)
        let rows = PortClassifier.classify(configuration: configuration, reserved: try ReservedPortsSysctl().read(),
                                           sockets: report.sockets)
        let snapshot = MetricsSnapshot(version: "0.1.0", statuses: rows, protection: { _ in .reportOnly },
                                       lastSuccessfulCheck: Date().timeIntervalSince1970, configurationValid: true,
                                       watchMode: .polling)
        let command = try String(contentsOfFile: "/proc/self/comm", encoding: .utf8)
            .trimmingCharacters(in: .newlines)
        #expect(snapshot.entries.map(\.state) == [.conflict])
        #expect(snapshot.entries.first?.holders == 1)
        #expect(snapshot.conflicts.map(\.command) == [command])
        #expect(snapshot.conflicts.map(\.sockets) == [1])

        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try MetricsFile(path: dir + "/portward.prom")
        try file.write(snapshot)
        let text = try String(contentsOfFile: file.path, encoding: .utf8)
        #expect(text.contains("portward_entry_state{entry=\"grabbed\",protocol=\"tcp\",state=\"conflict\"} 1\n"))
        let r = try ExternalTools.run([ExternalTools.promtool!, "check", "metrics"], stdin: file.path)
        #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty, "\(r.stdout)\(r.stderr)")
    }

    /// A real node_exporter, textfile collector only, on 127.0.0.1 and a free port: it
    /// serves every portward sample with portward's value, and the new values after the
    /// file is rewritten. Stopped by pid, also when an expectation fails.
    @Test(.enabled(if: ExternalTools.nodeExporter != nil && ExternalTools.curl != nil && ExternalTools.ss != nil,
                   "needs prometheus-node-exporter, curl and ss"))
    func nodeExporterServesThePortwardSeries() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let textfiles = dir + "/textfile"
        let file = try MetricsFile(path: textfiles + "/portward.prom")
        try file.write(Self.busy)

        // Start it; a port taken between the probe and the start is retried with another.
        var exporter: (pid: pid_t, port: UInt16)?
        for _ in 0..<3 where exporter == nil {
            let port = try ExternalTools.freeLoopbackPort()
            let pid = try ExternalTools.spawn(
                [ExternalTools.nodeExporter!, "--collector.disable-defaults", "--collector.textfile",
                 "--collector.textfile.directory=\(textfiles)", "--web.listen-address=127.0.0.1:\(port)"],
                stdout: dir + "/exporter.out", stderr: dir + "/exporter.err")
            if try waitUntilServing(pid: pid, port: port) {
                exporter = (pid, port)
            } else {
                kill(pid, SIGTERM)
                _ = ExternalTools.wait(pid)
            }
        }
        guard let exporter else {
            Issue.record("node_exporter did not start: \((try? String(contentsOfFile: dir + "/exporter.err", encoding: .utf8)) ?? "")")
            return
        }
        defer {
            kill(exporter.pid, SIGTERM)
            _ = ExternalTools.wait(exporter.pid)
        }

        // It listens on 127.0.0.1:PORT and nothing else.
        let ss = try ExternalTools.run([ExternalTools.ss!, "-H", "-l", "-n", "-p", "-t", "-u", "-w", "-x"])
        let own = ss.stdout.split(separator: "\n").filter { $0.contains("pid=\(exporter.pid),") }
        #expect(own.count == 1, "\(ss.stdout)")
        #expect(own.allSatisfy { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).first
                                 == "127.0.0.1:\(exporter.port)" }, "\(own)")

        try expectServed(Self.busy, port: exporter.port, file: file.path)

        // Rewritten: the new values, the old conflict series gone.
        var later = Self.busy
        later.conflicts = []
        later.entries = later.entries.map { var e = $0; e.state = .ok; e.reserved = true; return e }
        later.counters.guardDenials = 5000
        later.configurationValid = true
        try file.write(later)
        let served = try expectServed(later, port: exporter.port, file: file.path)
        #expect(!served.keys.contains { $0.hasPrefix("portward_conflict_sockets{") })
    }

    func waitUntilServing(pid: pid_t, port: UInt16) throws -> Bool {
        for _ in 0..<600 {
            if !ExternalTools.isRunning(pid) { return false }
            if try scrape(port).status == 0 { return true }
            usleep(50_000)
        }
        return false
    }

    func scrape(_ port: UInt16) throws -> ExternalTools.Result {
        try ExternalTools.run([ExternalTools.curl!, "-sSf", "--max-time", "10", "http://127.0.0.1:\(port)/metrics"])
    }

    /// Every sample of `snapshot`'s file is served with its value; no other portward sample
    /// is; the collector read the file without error.
    @discardableResult
    func expectServed(_ snapshot: MetricsSnapshot, port: UInt16, file: String) throws -> [String: Double] {
        let r = try scrape(port)
        #expect(r.status == 0, "\(r.stderr)")
        let served = PrometheusSamples.parse(r.stdout)
        let written = PrometheusSamples.parse(PrometheusText.render(snapshot))
        #expect(!written.isEmpty)
        for (series, value) in written {
            #expect(served[series] == value, "\(series): wrote \(value), served \(served[series].map { "\($0)" } ?? "nothing")")
        }
        let extra = served.keys.filter { $0.hasPrefix("portward_") && written[$0] == nil }
        #expect(extra.isEmpty, "\(extra)")
        #expect(served["node_textfile_scrape_error{}"] == 0, "\(r.stdout)")
        // The series the PortwardDown alert reads, with the label value its regex expects.
        let mtime = served.keys.filter { $0.hasPrefix("node_textfile_mtime_seconds{") }
        #expect(mtime == ["node_textfile_mtime_seconds{file=\(String(reflecting: file))}"]
                || mtime == ["node_textfile_mtime_seconds{file=\"portward.prom\"}"], "\(mtime)")
        return served
    }
}

/// The file a real `portward run --metrics-file` writes while a conflict and a drift repair
/// happen, checked by promtool.
@Suite(.enabled(if: Netns.available && ExternalTools.promtool != nil, "needs root, unshare(1) and promtool"))
struct DaemonMetricsFileTests {
    @Test func theDaemonsFilePassesPromtoolWithConflictAndDrift() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "radius 41812 udp unit:freeradius.service\n"])
        let probe = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/sockets.py").path
        let r = try Netns.run("""
            M=$ROOT/metrics/portward.prom
            "$PORTWARD" run --root "$ROOT" --interval 100ms --metrics-file "$M" 2>"$ROOT/daemon.log" &
            DAEMON=$!
            trap 'kill $DAEMON 2>/dev/null || true' EXIT
            wait_file() { for _ in $(seq 600); do grep -q -- "$1" "$M" 2>/dev/null && return 0; sleep 0.05; done; echo "timeout: $1"; return 1; }
            wait_file 'portward_build_info'
            python3 "$PROBE" hold udp 41812 > "$ROOT/holder.out" &
            HOLDER=$!
            wait_file 'state="conflict"} 1'
            printf '\\n' > "$KEY"     # another writer drops the reservation
            wait_file 'portward_drift_repairs_total 1'
            "$PROMTOOL" check metrics < "$M"
            echo "promtool=$?"
            stat -c %a "$M"
            kill $HOLDER; wait $HOLDER 2>/dev/null || true
            kill -TERM $DAEMON; wait $DAEMON
            """, env: ["ROOT": root, "PROBE": probe, "PROMTOOL": ExternalTools.promtool!])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("promtool=0\n644\n"), "\(r.stdout)\n\(r.stderr)")
    }
}
