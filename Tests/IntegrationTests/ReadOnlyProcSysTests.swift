import Foundation
import Testing

/// Docker's situation: a private network namespace whose /proc/sys is mounted read-only
/// (issue 11 item 12). The mount is made in a private mount namespace (`unshare -m`).
@Suite(.enabled(if: Netns.available, "needs root and unshare(1) for a private network namespace"))
struct ReadOnlyProcSysTests {
    @Test func applyExplainsAReadOnlyProcSysInAPrivateNetworkNamespace() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "a 40000 tcp\n"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Netns.run("""
            unshare -m --propagation private sh -c '
                mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys || exit 99
                status=0; timeout 20 "$PORTWARD" apply --root "$ROOT" -q || status=$?
                echo "status=$status value=$(cat "$KEY")"'
            """, env: ["ROOT": root])
        #expect(r.stdout == "status=1 value=\n", "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("Read-only file system (/proc/sys is mounted read-only, as container runtimes do, with or without a private network namespace"),
                "\(r.stderr)")
    }
}
