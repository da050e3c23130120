import Foundation
import Testing

/// `portward run` as systemd would drive it: a NOTIFY_SOCKET listener records each
/// message and, at READY=1, the kernel value at that moment.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1) for a private network namespace"))
struct RunIntegrationTests {
    static let probe = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/sockets.py").path

    /// Shell helpers: start the listener and the daemon, wait for the Nth READY.
    static let prologue = """
        OUT=$ROOT/notify.log
        python3 "$PROBE" notify "$ROOT/notify.sock" > "$OUT" &
        LISTENER=$!
        trap 'kill $LISTENER 2>/dev/null || true' EXIT
        for _ in $(seq 600); do grep -q listening "$OUT" && break; sleep 0.05; done
        wait_ready() { for _ in $(seq 600); do [ "$(grep -c '^READY' "$OUT")" -ge "$1" ] && return 0; sleep 0.05; done; echo "timeout waiting for READY $1"; return 1; }

        """

    @Test func readyOnlyAfterTheKernelHoldsThePorts() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "radius 1812-1813 udp\n"])
        let r = try Netns.run(Self.prologue + """
            echo 7000 > "$KEY"
            NOTIFY_SOCKET="$ROOT/notify.sock" "$PORTWARD" run --root "$ROOT" 2>"$ROOT/daemon.err" &
            DAEMON=$!
            wait_ready 1
            # Reload with a new entry: RELOADING=1, then READY=1 with the new value.
            printf 'radius 1812-1813 udp\\nrsync 873 tcp\\n' > "$ROOT/etc/portward/ports.conf"
            kill -HUP $DAEMON
            wait_ready 2
            # A broken reload keeps the running reservation.
            printf 'radius 1812-1813 udp\\nbroken 99999\\n' > "$ROOT/etc/portward/ports.conf"
            kill -HUP $DAEMON
            wait_ready 3
            kill -TERM $DAEMON
            status=0; wait $DAEMON || status=$?
            sleep 0.1
            echo "exit=$status"
            echo "after=$(cat "$KEY")"
            cat "$OUT"
            cat "$ROOT/daemon.err" >&2
            """, env: ["ROOT": root, "PROBE": Self.probe])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "exit=0")
        #expect(lines.dropFirst().first == "after=873,1812-1813,7000", "stop leaves the reservation")
        let events = lines.filter { $0.hasPrefix("READY") || $0.hasPrefix("RELOADING") || $0.hasPrefix("STOPPING") }
        #expect(events == [
            "READY kernel=1812-1813,7000",
            "RELOADING=1",
            "READY kernel=873,1812-1813,7000",
            "RELOADING=1",
            "READY kernel=873,1812-1813,7000",
            "STOPPING=1",
        ], "\(r.stdout)")
        #expect(lines.contains("STATUS=reserved 2 ports for 1 services"))
        #expect(r.stderr.contains("/etc/portward/ports.conf:2:"), "the reload error is logged: \(r.stderr)")
    }

    @Test func initialFailureExitsAtOnceWithoutReady() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "bad 0 tcp\n"])
        let r = try Netns.run(Self.prologue + """
            status=0; NOTIFY_SOCKET="$ROOT/notify.sock" timeout 10 "$PORTWARD" run --root "$ROOT" 2>/dev/null || status=$?
            sleep 0.1
            echo "exit=$status"
            grep -c READY "$OUT" || true
            """, env: ["ROOT": root, "PROBE": Self.probe])
        #expect(r.stdout == "exit=2\n0\n", "\(r.stdout) \(r.stderr)")
    }

    /// A second daemon for the same root refuses to start (exit 1, with the reason); the
    /// first keeps running, and a daemon for another root starts fine.
    @Test func oneDaemonPerRoot() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "x 40000 tcp\n"])
        let other = try Netns.makeRoot(["etc/portward/ports.conf": "y 40001 tcp\n"])
        let r = try Netns.run("""
            "$PORTWARD" run --root "$ROOT" 2>/dev/null &
            FIRST=$!
            for _ in $(seq 600); do [ "$(cat "$KEY")" = 40000 ] && break; sleep 0.05; done
            status=0; "$PORTWARD" run --root "$ROOT" 2>"$ROOT/second.err" || status=$?
            echo "second=$status"
            "$PORTWARD" run --root "$OTHER" 2>/dev/null &
            THIRD=$!
            for _ in $(seq 600); do [ "$(cat "$KEY")" = 40000-40001 ] && break; sleep 0.05; done
            kill -0 $FIRST && echo first-alive
            kill -0 $THIRD && echo other-root-alive
            kill -TERM $FIRST $THIRD; wait $FIRST $THIRD
            cat "$ROOT/second.err"
            """, env: ["ROOT": root, "OTHER": other])
        #expect(r.stdout.hasPrefix("second=1\nfirst-alive\nother-root-alive\n"), "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("another portward run is already running for this root"), "\(r.stdout)")
    }

    @Test func runsWithoutSystemd() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "x 40000 tcp\n"])
        let r = try Netns.run("""
            "$PORTWARD" run --root "$ROOT" 2>/dev/null &
            DAEMON=$!
            for _ in $(seq 600); do [ "$(cat "$KEY")" = 40000 ] && break; sleep 0.05; done
            kill -INT $DAEMON
            status=0; wait $DAEMON || status=$?
            echo "exit=$status value=$(cat "$KEY")"
            """, env: ["ROOT": root])
        #expect(r.stdout == "exit=0 value=40000\n", "\(r.stdout) \(r.stderr)")
    }
}
