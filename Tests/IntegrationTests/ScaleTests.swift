import Foundation
import Testing

/// 65,535 single-port entries (every port 1-65535) spread over 1,000 drop-in files apply
/// correctly in a private network namespace. Time and peak memory are printed for
/// BENCHMARKS.md (no timed assertion).
@Suite(.enabled(if: Netns.available, "needs root and unshare(1) for a private network namespace"))
struct ScaleTests {
    @Test func sixtyFiveThousandEntriesInAThousandDropIns() throws {
        var files: [String: String] = [:]
        var port = 1
        for file in 0..<1000 {
            let count = 65_535 / 1000 + (file < 65_535 % 1000 ? 1 : 0)
            var text = ""
            for _ in 0..<count {
                text += "p\(port) \(port) tcp\n"
                port += 1
            }
            files["usr/lib/portward/ports.d/\(String(format: "%04d", file))-scale.conf"] = text
        }
        #expect(port == 65_536)
        let root = try Netns.makeRoot(files)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let timer = FileManager.default.isExecutableFile(atPath: "/usr/bin/time") ? "/usr/bin/time -f 'time=%e s maxrss=%M KB'" : ""
        let r = try Netns.run("""
            \(timer) "$PORTWARD" apply --root "$ROOT" --force -q 2> "$ROOT/stderr" || { tail -5 "$ROOT/stderr" >&2; exit 1; }
            grep -E '^time=' "$ROOT/stderr" >&2 || true
            cat "$KEY"
            """, env: ["ROOT": root])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "1-65535\n", "\(r.stdout.prefix(200))")
        print("scale: 65,535 entries in 1,000 drop-ins: \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
}
