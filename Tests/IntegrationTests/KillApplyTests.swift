import Foundation
import Testing

/// SIGKILL `portward apply` (and `portward run`) while it rewrites a long (multi-chunk, > 4 KB) reserved-ports
/// value with foreign ports present: at every write() system call in turn (strace fault
/// injection) and at random moments. After each kill the kernel must still hold every
/// foreign port and every port that is in both the old and the new value, nothing outside
/// their union, and the next apply must produce exactly the new value.
/// The loop itself is Support/kill_loop.py (run inside the netns).
@Suite(.enabled(if: Netns.available, "needs root and unshare(1) for a private network namespace"))
struct KillApplyTests {
    /// `apply`: a strace sweep over every write() plus 60 random kills; `run`: 40 random
    /// kills of the daemon (it never exits by itself, so no sweep). "large": foreign
    /// reservations of about 9 KB, past what a replace's first chunk holds; a kill may then
    /// leave some out, and every kill is followed by an apply that must restore them.
    @Test(arguments: [("apply", 60, 7, "small"), ("run", 40, 11, "small"), ("apply", 30, 13, "large")])
    func killedCommandNeverLosesPortsAndNextApplyRepairs(command: String, kills: Int, seed: Int, foreign: String) throws {
        let script = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/kill_loop.py").path
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("portward-kill-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let r = try Netns.run(#"python3 "$SCRIPT" "$PORTWARD" "$WORK" \#(kills) \#(seed) \#(command) \#(foreign)"#,
                              env: ["SCRIPT": script, "WORK": work])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr.suffix(2000))")
        #expect(r.stdout.contains(" random=\(kills) "), "\(r.stdout)")
        let writes = r.stdout.split(separator: " ").first.flatMap { Int($0.dropFirst("writes=".count)) } ?? -1
        if command == "apply" {
            // The strace sweep ran (strace is in scripts/deps --tests) and covered several chunks.
            #expect(writes >= 5, "\(r.stdout)")
        } else {
            #expect(writes == 0, "\(r.stdout)")
        }
    }
}
