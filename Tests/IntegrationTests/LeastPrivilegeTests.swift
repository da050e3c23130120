import Foundation
import Testing

/// Every command run as an unprivileged user (uid/gid 65534, no groups, via setpriv(1)) in
/// a private network namespace: `check` and `cat-config` work fully, `status` answers what
/// it can and says what needs root, `apply` and `run` fail with exit 1 and a message naming
/// the missing permission, without a stack trace and without writing anything.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1) for a private network namespace"))
struct LeastPrivilegeTests {
    static let nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups --"

    static func root() throws -> String {
        try Netns.makeRoot(["etc/portward/ports.conf": "radius 1812-1813 udp\nweb 40080 tcp\n"])
    }

    @Test func checkAndCatConfigWorkFully() throws {
        let root = try Self.root()
        let r = try Netns.run("""
            echo 5000 > "$KEY"
            \(Self.nobody) "$PORTWARD" check --root "$ROOT"; echo "check=$?"
            \(Self.nobody) "$PORTWARD" cat-config --root "$ROOT"; echo "cat-config=$?"
            """, env: ["ROOT": root])
        #expect(r.stdout.contains("check=0\n"), "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("cat-config=0\n"))
        // The plan is computed from the kernel value, readable by anyone.
        #expect(r.stdout.contains("reserved by others: 5000"), "\(r.stdout)")
        #expect(r.stdout.contains("# \(root)/etc/portward/ports.conf\nradius 1812-1813 udp\n"))
    }

    @Test func statusReportsWhatItCanAndSaysWhatNeedsRoot() throws {
        let root = try Self.root()
        let probe = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/sockets.py").path
        let r = try Netns.run("""
            "$PORTWARD" apply --root "$ROOT" -q 2>/dev/null
            # A root-owned listener on a declared port: its process is invisible to nobody.
            python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",40080)); s.listen(); print("ready", flush=True); time.sleep(30)' > "$ROOT/ready" &
            listener=$!
            for i in $(seq 600); do [ -s "$ROOT/ready" ] && break; sleep 0.05; done
            status=0; \(Self.nobody) "$PORTWARD" status --root "$ROOT" || status=$?
            echo "status=$status"
            kill $listener
            """, env: ["ROOT": root, "PROBE": probe])
        #expect(r.stdout.contains("status=0\n"), "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("radius"))
        #expect(r.stdout.contains("needs root"), "\(r.stdout)")
        #expect(!r.stderr.contains("Fatal error"))
    }

    @Test(arguments: ["apply", "run"])
    func writingCommandsFailNamingThePermission(_ command: String) throws {
        let root = try Self.root()
        let r = try Netns.run("""
            echo 5000,40000-40010 > "$KEY"
            status=0; timeout 20 \(Self.nobody) "$PORTWARD" \(command) --root "$ROOT" || status=$?
            echo "status=$status value=$(cat "$KEY")"
            """, env: ["ROOT": root])
        #expect(r.stdout == "status=1 value=5000,40000-40010\n", "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("/proc/sys/net/ipv4/ip_local_reserved_ports"), "\(r.stderr)")
        #expect(r.stderr.contains("Permission denied"), "\(r.stderr)")
        #expect(r.stderr.contains("CAP_NET_ADMIN"), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Stack dump"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/run/portward/state.json"))
    }
}
