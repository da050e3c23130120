import Foundation
import Testing

/// `portward status --json` from real runs in a private network namespace, validated
/// against docs/status-json.schema.json with python3-jsonschema: as published (consumers
/// ignore unknown fields) and strict (every emitted field must be in the schema).
@Suite(.enabled(if: Netns.available && ExternalTools.jsonschemaPython != nil,
                "needs root and unshare(1), and python3-jsonschema"))
struct StatusSchemaIntegrationTests {
    static let probe = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/sockets.py").path
    static let validator = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/validate_json.py").path
    static let schema = Netns.packageRoot.appendingPathComponent("docs/status-json.schema.json").path

    static func validate(_ documents: [String], strict: Bool) throws -> ExternalTools.Result {
        try ExternalTools.run([ExternalTools.jsonschemaPython!, validator] + (strict ? ["--strict"] : []) + [schema]
                              + documents)
    }

    /// Every state, verdict and optional field: no daemon; a running daemon that saw a
    /// conflict and repaired drift (daemon.conflicts with a holder, daemon.drift,
    /// lastPollAt); an accepted connection (remoteAddress, remotePort); unreserved ports
    /// after the daemon stopped.
    @Test func statusJSONMatchesTheSchema() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": """
            radius 1812-1813 udp unit:freeradius.service
            web 8080 tcp
            conn 8081 tcp
            spare 9090 tcp
            v6 9091 tcp

            """,
            "conn.py": """
            import socket, sys, time
            srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("::", 8081)); srv.listen(4)
            client = socket.create_connection(("127.0.0.1", 8081))
            peer, _ = srv.accept()
            print("ready", flush=True)
            time.sleep(600)

            """])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Netns.run("""
            PIDS=""
            trap 'kill $PIDS 2>/dev/null || true; wait 2>/dev/null || true' EXIT
            s=0; "$PORTWARD" status --root "$ROOT" --json > "$ROOT/none.json" || s=$?; echo "none=$s"
            "$PORTWARD" apply --root "$ROOT" -q 2>/dev/null
            s=0; "$PORTWARD" status --root "$ROOT" --json > "$ROOT/free.json" || s=$?; echo "free=$s"
            python3 "$PROBE" hold udp 1812 > "$ROOT/a.out" & PIDS="$PIDS $!"
            python3 "$PROBE" hold tcp 8080 > "$ROOT/b.out" & PIDS="$PIDS $!"
            python3 "$ROOT/conn.py" > "$ROOT/c.out" & PIDS="$PIDS $!"
            for _ in $(seq 600); do grep -q ready "$ROOT/a.out" && grep -q ready "$ROOT/b.out" && grep -q ready "$ROOT/c.out" && break; sleep 0.05; done
            "$PORTWARD" run --root "$ROOT" 2>"$ROOT/daemon.err" & DAEMON=$!; PIDS="$PIDS $DAEMON"
            VIEW="$ROOT/run/portward/daemon.json"
            for _ in $(seq 600); do grep -q wrong-owner "$VIEW" 2>/dev/null && break; sleep 0.05; done
            echo 7000 > "$KEY"
            for _ in $(seq 600); do grep -q '"lost"' "$VIEW" 2>/dev/null && break; sleep 0.05; done
            s=0; "$PORTWARD" status --root "$ROOT" --json > "$ROOT/daemon.json" || s=$?; echo "daemon=$s"
            kill -TERM $DAEMON; wait $DAEMON || true
            echo 1812 > "$KEY"
            s=0; "$PORTWARD" status --root "$ROOT" --json > "$ROOT/stopped.json" || s=$?; echo "stopped=$s"
            echo 'broken 99999' > "$ROOT/etc/portward/ports.conf"
            s=0; "$PORTWARD" status --root "$ROOT" --json > "$ROOT/broken.json" 2>/dev/null || s=$?; echo "broken=$s"
            """, env: ["ROOT": root, "PROBE": Self.probe])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        // The exit statuses the schema's description documents.
        for expected in ["none=3", "free=0", "daemon=3", "stopped=3", "broken=2"] {
            #expect(r.stdout.contains(expected + "\n"), "\(expected): \(r.stdout)")
        }
        #expect(try String(contentsOfFile: root + "/broken.json", encoding: .utf8).isEmpty,
                "exit 2 prints nothing on standard output")

        let documents = ["none", "free", "daemon", "stopped"].map { root + "/\($0).json" }
        let published = try Self.validate(documents, strict: false)
        #expect(published.status == 0, "\(published.stdout)\(published.stderr)")
        let strict = try Self.validate(documents, strict: true)
        #expect(strict.status == 0, "fields the schema does not document: \(strict.stdout)\(strict.stderr)")

        // The run covered what it claims to (else the validation proves less).
        let daemon = try String(contentsOfFile: root + "/daemon.json", encoding: .utf8)
        for field in ["\"running\" : true", "\"lastPollAt\"", "\"lost\"", "\"since\"", "\"holder\"", "\"remoteAddress\"",
                      "\"verdict\" : \"accepted\"", "\"verdict\" : \"wrong-owner\"", "\"state\" : \"conflict\"",
                      "\"state\" : \"ok\"", "\"state\" : \"free\"", "\"family\" : \"ipv6\""] {
            #expect(daemon.contains(field), "\(field) in \(daemon)")
        }
        let stopped = try String(contentsOfFile: root + "/stopped.json", encoding: .utf8)
        #expect(stopped.contains("\"state\" : \"unreserved\"") && stopped.contains("\"reserved\" : \"partly\""),
                "\(stopped)")
    }

}

/// The schema itself, no root needed.
@Suite(.enabled(if: ExternalTools.jsonschemaPython != nil, "needs python3-jsonschema"))
struct StatusSchemaTests {
    /// The schema rejects what it must: a wrong type, an unknown state, a missing field, a
    /// newer schema version.
    @Test func theSchemaRejectsBrokenDocuments() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portward-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let entry = #"{"name":"a","protocol":"tcp","ports":"80","owner":"-","file":"f","line":1,"reserved":"yes","unreservedPorts":"","state":"STATE","sockets":[]}"#
        let daemon = #"{"running":false,"conflicts":[],"drift":[]}"#
        let cases = [
            "good": #"{"schema":1,"reservedPorts":"80","attributionComplete":true,"daemon":DAEMON,"entries":[ENTRY]}"#,
            "type": #"{"schema":1,"reservedPorts":80,"attributionComplete":true,"daemon":DAEMON,"entries":[ENTRY]}"#,
            "state": #"{"schema":1,"reservedPorts":"80","attributionComplete":true,"daemon":DAEMON,"entries":[ENTRY]}"#,
            "missing": #"{"schema":1,"reservedPorts":"80","daemon":DAEMON,"entries":[ENTRY]}"#,
            "version": #"{"schema":2,"reservedPorts":"80","attributionComplete":true,"daemon":DAEMON,"entries":[ENTRY]}"#,
            "array": #"[{"schema":1,"reservedPorts":"80","attributionComplete":true,"daemon":DAEMON,"entries":[ENTRY]}]"#,
            "emptyArray": "[]",
        ]
        for (name, template) in cases {
            let text = template.replacingOccurrences(of: "DAEMON", with: daemon)
                .replacingOccurrences(of: "ENTRY", with: entry)
                .replacingOccurrences(of: "STATE", with: name == "state" ? "fine" : "ok")
            let path = dir.appendingPathComponent("\(name).json").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let r = try StatusSchemaIntegrationTests.validate([path], strict: false)
            #expect((r.status == 0) == (name == "good" || name == "array"), "\(name): \(r.stdout)\(r.stderr)")
        }
    }

    /// The status JSON goldens (Tests/PortwardAgentTests/Golden/status*.json.txt: the guard,
    /// unverified holders, address families and owners' binds) are valid, strictly: every
    /// field the renderer writes is in the schema. A golden is the standard output, then
    /// `-- exit N --` (and `-- stderr --`) lines, which are cut off here.
    @Test func theStatusGoldensMatchTheSchema() throws {
        let golden = Netns.packageRoot.appendingPathComponent("Tests/PortwardAgentTests/Golden")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portward-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var documents: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: golden.path).sorted()
        where name.hasPrefix("status") && name.hasSuffix(".json.txt") {
            let text = try String(contentsOf: golden.appendingPathComponent(name), encoding: .utf8)
            let json = text.components(separatedBy: "\n").prefix { !$0.hasPrefix("-- ") }.joined(separator: "\n")
            let path = dir.appendingPathComponent(name).path
            try json.write(toFile: path, atomically: true, encoding: .utf8)
            documents.append(path)
        }
        #expect(documents.count >= 4, "\(documents)")
        let r = try StatusSchemaIntegrationTests.validate(documents, strict: true)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }
}
