import Foundation
import Testing

/// `portward status` against real sockets in a private network namespace.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1) for a private network namespace"))
struct StatusIntegrationTests {
    static let probe = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/sockets.py").path

    struct Document: Decodable {
        struct Entry: Decodable {
            struct Socket: Decodable {
                struct Process: Decodable { var pid: Int; var command: String }
                var port: Int
                var verdict: String
                var holders: [Process]
            }
            var name: String
            var `protocol`: String
            var reserved: String
            var state: String
            var sockets: [Socket]
        }
        var schema: Int
        var reservedPorts: String
        var entries: [Entry]
    }

    @Test func namesThePidAndCommandHoldingADeclaredPort() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": """
            radius 1812-1813 udp unit:freeradius.service
            web 8080 tcp
            spare 9090 tcp

            """])
        let r = try Netns.run("""
            "$PORTWARD" apply --root "$ROOT" -q 2>/dev/null
            python3 "$PROBE" hold udp 1812 > "$ROOT/a.out" &
            A=$!
            python3 "$PROBE" hold tcp 8080 > "$ROOT/b.out" &
            B=$!
            for _ in $(seq 600); do grep -q ready "$ROOT/a.out" && grep -q ready "$ROOT/b.out" && break; sleep 0.05; done
            echo "pids=$A,$B"
            status=0; "$PORTWARD" status --root "$ROOT" --json > "$ROOT/status.json" || status=$?
            echo "status=$status"
            "$PORTWARD" status --root "$ROOT" || true
            kill $A $B
            """, env: ["ROOT": root, "PROBE": Self.probe])
        #expect(r.status == 0, "\(r.stderr)")
        let pids = r.stdout.split(separator: "\n").first { $0.hasPrefix("pids=") }!
            .dropFirst(5).split(separator: ",").map { Int($0)! }
        #expect(r.stdout.contains("status=3"), "a conflict makes status exit 3: \(r.stdout)")
        let doc = try JSONDecoder().decode(Document.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/status.json")))
        #expect(doc.schema == 1)
        #expect(doc.reservedPorts == "1812-1813,8080,9090")
        let rows = Dictionary(uniqueKeysWithValues: doc.entries.map { ($0.name, $0) })
        #expect(rows["radius"]?.state == "conflict")
        #expect(rows["radius"]?.sockets.first?.holders.first?.pid == pids[0])
        #expect(rows["radius"]?.sockets.first?.holders.first?.command == "python3")
        #expect(rows["radius"]?.sockets.first?.verdict == "wrong-owner")
        #expect(rows["web"]?.state == "ok", "no owner declared: any listener is fine")
        #expect(rows["web"]?.sockets.first?.holders.first?.pid == pids[1])
        #expect(rows["spare"]?.state == "free")
        #expect(r.stdout.contains("python3[\(pids[0])]"), "the table names it too: \(r.stdout)")
    }

    /// A holder that names itself with a newline and a terminal escape sequence: the table
    /// and the conflict line show them escaped, on one line; `--json` keeps the real name.
    @Test func holderNamesCannotInjectLinesOrEscapes() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "radius 41812 udp unit:freeradius.service\n"])
        let r = try Netns.run("""
            "$PORTWARD" apply --root "$ROOT" -q
            python3 "$PROBE" hold udp 41812 $'name=x\\n\\e[31mZ' > "$ROOT/holder.out" &
            HOLDER=$!
            for _ in $(seq 600); do grep -q ready "$ROOT/holder.out" && break; sleep 0.05; done
            "$PORTWARD" status --root "$ROOT" || true
            "$PORTWARD" status --root "$ROOT" --json > "$ROOT/status.json" || true
            kill $HOLDER
            """, env: ["ROOT": root, "PROBE": Self.probe])
        #expect(!r.stdout.contains("\u{1B}"), "\(r.stdout)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("radius") && $0.contains("x\\x0a\\x1b[31mZ[") }, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("conflict: 41812/udp") && $0.contains("x\\x0a\\x1b[31mZ[") }, "\(r.stdout)")
        let json = try String(contentsOfFile: root + "/status.json", encoding: .utf8)
        #expect(json.contains(#""command" : "x\n\u001b[31mZ""#) || json.contains(#""command":"x\n\u001b[31mZ""#), "\(json)")
    }

    @Test func unreservedPortsAreReported() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "svc 40000-40001 tcp\n"])
        let r = try Netns.run("""
            echo 40001 > "$KEY"
            status=0; "$PORTWARD" status --root "$ROOT" || status=$?
            echo "status=$status"
            """, env: ["ROOT": root])
        #expect(r.stdout.contains("svc    tcp    40000-40001  partly    unreserved"), "\(r.stdout)")
        #expect(r.stdout.contains("status=3"))
    }
}
