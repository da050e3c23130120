import Foundation
import Testing
import PortwardCore

@Suite struct PrometheusTextTests {
    /// Tests/Fixtures/metrics/: golden textfiles. `PORTWARD_UPDATE_GOLDEN=1 swift test
    /// --filter PrometheusTextTests` rewrites them from the current renderer (review the diff).
    static let goldenDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/metrics")

    /// A fixed snapshot that uses every family: a holder name with a quote, a backslash and
    /// a newline, an unknown holder, a conflict series limit of 2 with 4 holders.
    static let snapshot = MetricsSnapshot(
        version: "0.1.0",
        entries: [
            .init(name: "radius", transport: .udp, ports: "1812-1813", reserved: true, state: .conflict,
                  protection: .guarded, holders: 3),
            .init(name: "radius", transport: .tcp, ports: "1812-1813", reserved: true, state: .ok,
                  protection: .held, holders: 1),
            .init(name: "web", transport: .tcp, ports: "8080", reserved: false, state: .unreserved,
                  protection: .reportOnly, holders: 0),
            .init(name: "spare", transport: .sctp, ports: "9090,9100-9101", reserved: true, state: .free,
                  protection: .none, holders: 0),
        ],
        conflicts: [
            .init(entry: "radius", transport: .udp, ports: "1812-1813", command: "evil\"x\\y\nz",
                  unit: "session-3.scope", sockets: 2),
            .init(entry: "radius", transport: .udp, ports: "1812-1813", command: "", unit: "", sockets: 1),
            .init(entry: "radius", transport: .udp, ports: "1812-1813", command: "named", unit: "named.service",
                  sockets: 1),
            .init(entry: "radius", transport: .udp, ports: "1812-1813", command: "nc", unit: "", sockets: 3),
        ],
        counters: .init(driftRepairs: 4, guardDenials: 1234, conflictsStarted: 7, eventsDropped: 0,
                        configurationErrors: 2),
        lastSuccessfulCheck: 1_764_586_800.25, configurationValid: false, watchMode: .events,
        networkNamespaces: 3, conflictSeriesLimit: 2)

    @Test func goldenTextfile() throws {
        try expectGolden(PrometheusText.render(Self.snapshot), "snapshot.prom")
    }

    /// Nothing declared, no check yet: every family still has HELP and TYPE.
    @Test func goldenEmptySnapshot() throws {
        try expectGolden(PrometheusText.render(MetricsSnapshot(
            version: "0.1.0", entries: [], conflicts: [], lastSuccessfulCheck: nil, configurationValid: true,
            watchMode: .polling)), "empty.prom")
    }

    func expectGolden(_ text: String, _ name: String) throws {
        let url = Self.goldenDirectory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["PORTWARD_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: Self.goldenDirectory, withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOf: url, encoding: .utf8)
        #expect(text == golden, "differs from \(url.path); PORTWARD_UPDATE_GOLDEN=1 rewrites it")
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("a\"b", "a\\\"b"),
        ("back\\slash", "back\\\\slash"),
        ("two\nlines", "two\\nlines"),
        ("\\n", "\\\\n"),
        ("tab\tcr\r", "tab\tcr\r"),
        ("é名\u{FFFD}", "é名\u{FFFD}"),
        ("", ""),
    ])
    func labelValueEscaping(_ value: String, _ escaped: String) {
        #expect(PrometheusText.escapeLabelValue(value) == escaped)
    }

    @Test func helpEscapingKeepsQuotes() {
        #expect(PrometheusText.escapeHelp("say \"hi\"\\\nnext") == "say \"hi\"\\\\\\nnext")
    }

    @Test(arguments: [
        (0.0, "0"), (1.0, "1"), (-3.0, "-3"), (1_764_586_800.25, "1764586800.25"),
        (Double.nan, "NaN"), (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (1e20, "1e+20"),
    ])
    func values(_ value: Double, _ text: String) {
        #expect(PrometheusText.formatValue(value) == text)
    }

    /// Every sample line is `name{labels} value`: one line each, whatever the label values.
    @Test func hostileLabelValuesStayOnOneLine() {
        var snapshot = Self.snapshot
        snapshot.entries = [.init(name: "a\nb", transport: .tcp, ports: "1", reserved: true, state: .ok,
                                  protection: .none, holders: 0)]
        let lines = PrometheusText.render(snapshot).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "", "a trailing newline")
        for line in lines.dropLast() where !line.hasPrefix("#") {
            #expect(line.hasPrefix("portward_"), "\(line)")
            #expect(line.split(separator: " ").count >= 2, "\(line)")
        }
        #expect(lines.contains(#"portward_entry_reserved{entry="a\nb",protocol="tcp"} 1"#))
    }

    static func conflicts(_ count: Int, entry: String = "e") -> [MetricsSnapshot.ConflictHolder] {
        (0..<count).map {
            .init(entry: entry, transport: .tcp, ports: "1000-2000", command: "cmd\($0)", unit: "", sockets: $0 + 1)
        }
    }

    static func samples(_ text: String, _ name: String) -> [Substring] {
        text.split(separator: "\n").filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
    }

    @Test func conflictSeriesAreCappedAndTheRestAggregated() {
        var snapshot = MetricsSnapshot(version: "1", entries: [], conflicts: Self.conflicts(1000) + Self.conflicts(3, entry: "f"),
                                       lastSuccessfulCheck: nil, configurationValid: true, watchMode: .polling)
        let text = PrometheusText.render(snapshot)
        #expect(Self.samples(text, "portward_conflict_sockets").count == MetricsSnapshot.defaultConflictSeriesLimit)
        // Holders 50...999 of e (sockets 51...1000) and all 3 of f (1+2+3) are folded.
        let omitted = Self.samples(text, "portward_conflict_omitted_sockets")
        #expect(omitted == [
            #"portward_conflict_omitted_sockets{entry="e",protocol="tcp",ports="1000-2000"} \#((51...1000).reduce(0, +))"#,
            #"portward_conflict_omitted_sockets{entry="f",protocol="tcp",ports="1000-2000"} 6"#,
        ])
        #expect(Self.samples(text, "portward_conflict_omitted_holders") == ["portward_conflict_omitted_holders 953"])
        #expect(Self.samples(text, "portward_conflict_series_limit") == ["portward_conflict_series_limit 50"])

        snapshot.conflicts = Self.conflicts(50)
        let exact = PrometheusText.render(snapshot)
        #expect(Self.samples(exact, "portward_conflict_sockets").count == 50)
        #expect(Self.samples(exact, "portward_conflict_omitted_sockets").isEmpty)
        #expect(Self.samples(exact, "portward_conflict_omitted_holders") == ["portward_conflict_omitted_holders 0"])

        snapshot.conflictSeriesLimit = -1
        let none = PrometheusText.render(snapshot)
        #expect(Self.samples(none, "portward_conflict_sockets").isEmpty)
        #expect(Self.samples(none, "portward_conflict_omitted_holders") == ["portward_conflict_omitted_holders 50"])
    }

    /// Two input rows with the same labels would be a duplicate series, which makes
    /// node_exporter drop the whole file: they are summed (conflicts) or the first is kept
    /// (entries).
    @Test func duplicateSeriesAreNeverWritten() {
        let holder = MetricsSnapshot.ConflictHolder(entry: "e", transport: .udp, ports: "5", command: "nc", unit: "",
                                                    sockets: 2)
        let entry = MetricsSnapshot.Entry(name: "e", transport: .udp, ports: "5", reserved: true, state: .conflict,
                                          protection: .none, holders: 1)
        var second = entry
        second.reserved = false
        let text = PrometheusText.render(MetricsSnapshot(
            version: "1", entries: [entry, second], conflicts: [holder, holder], lastSuccessfulCheck: 5,
            configurationValid: true, watchMode: .events))
        #expect(Self.samples(text, "portward_conflict_sockets")
                == [#"portward_conflict_sockets{entry="e",protocol="udp",ports="5",holder_command="nc",holder_unit=""} 4"#])
        #expect(Self.samples(text, "portward_entry_reserved") == [#"portward_entry_reserved{entry="e",protocol="udp"} 1"#])
        let sampleLines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        let series = sampleLines.map { $0[..<$0.lastIndex(of: " ")!] }
        #expect(Set(series).count == series.count)
    }

    /// The snapshot built from classifier rows: states, holders counted by pid, conflicts
    /// grouped by the first holder's command and unit.
    @Test func snapshotFromClassifierRows() throws {
        let parsed = ConfigParser.parse("radius 1812-1813 udp unit:freeradius.service\nweb 8080 tcp\n",
                                        file: "/etc/portward/ports.conf", resolveService: { _, _ in nil })
        let configuration = Configuration.merge([parsed]).configuration
        func udp(_ port: UInt16, _ inode: UInt64) -> SocketRecord {
            SocketRecord(transport: .udp, family: .ipv4, localAddress: "0.0.0.0", localPort: port,
                         remoteAddress: "0.0.0.0", remotePort: 0, state: .close, uid: 0, inode: inode)
        }
        let radiusd = Holder(pid: 812, command: "freeradius", executablePath: nil, unit: "freeradius.service", uid: 106)
        let nc1 = Holder(pid: 900, command: "nc", executablePath: nil, unit: nil, uid: 0)
        let nc2 = Holder(pid: 901, command: "nc", executablePath: nil, unit: nil, uid: 0)
        let rows = PortClassifier.classify(
            configuration: configuration, reserved: try ReservedPortsValue.decode("1812-1813"),
            sockets: [HeldSocket(socket: udp(1812, 1), holders: [nc2, nc1]),
                      HeldSocket(socket: udp(1813, 2), holders: [nc2]),
                      HeldSocket(socket: udp(1813, 3), holders: [radiusd])])
        let snapshot = MetricsSnapshot(version: "1", statuses: rows,
                                       protection: { $0.entry.name == "radius" ? .guarded : .none },
                                       lastSuccessfulCheck: 10, configurationValid: true, watchMode: .polling)
        #expect(snapshot.entries == [
            .init(name: "radius", transport: .udp, ports: "1812-1813", reserved: true, state: .conflict,
                  protection: .guarded, holders: 3),
            .init(name: "web", transport: .tcp, ports: "8080", reserved: false, state: .unreserved,
                  protection: .none, holders: 0),
        ])
        // Socket 1's first holder is nc[900], socket 2's nc[901]: one `nc` series of 2 sockets.
        #expect(snapshot.conflicts == [
            .init(entry: "radius", transport: .udp, ports: "1812-1813", command: "nc", unit: "", sockets: 2),
        ])
    }

    @Test func everyEntryStateMaps() {
        #expect(MetricsSnapshot.EntryState(.ok) == .ok)
        #expect(MetricsSnapshot.EntryState(.free) == .free)
        #expect(MetricsSnapshot.EntryState(.conflict) == .conflict)
        #expect(MetricsSnapshot.EntryState(.unreserved) == .unreserved)
    }
}
