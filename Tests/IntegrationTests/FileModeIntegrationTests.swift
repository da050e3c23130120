import Foundation
import Testing

/// Files portward writes with `FileContents.writeAtomically` (the state file, daemon.json,
/// the metrics textfile) are 0644 whatever the umask: `status` as a user and node_exporter
/// (user prometheus) read them. Run in a child with `umask 077`, not by changing the test
/// runner's process-wide umask under the other tests.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1) for a private network namespace"))
struct FileModeIntegrationTests {
    @Test func writtenFilesAre0644UnderUmask077() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "web 40080 tcp\n"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Netns.run("""
            umask 077
            "$PORTWARD" apply --root "$ROOT" -q
            stat -c '%a %n' "$ROOT/run/portward/state.json"
            """, env: ["ROOT": root])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "644 \(root)/run/portward/state.json\n", "\(r.stdout)")
    }
}
