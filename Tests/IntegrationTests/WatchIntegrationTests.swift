import Foundation
import Testing

/// `portward run` watching: conflicts and drift reported on stderr (the journal fallback),
/// each in its own network namespace. Waits are bounded loops, not timing assertions.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1) for a private network namespace"))
struct WatchIntegrationTests {
    static let probe = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/sockets.py").path

    static let prologue = """
        "$PORTWARD" run --root "$ROOT" --interval 100ms 2>"$ROOT/daemon.log" &
        DAEMON=$!
        trap 'kill $DAEMON 2>/dev/null || true' EXIT
        # wait_log PATTERN [COUNT]: until the daemon log has COUNT lines matching (max 30 s).
        wait_log() { for _ in $(seq 600); do [ "$(grep -c -- "$1" "$ROOT/daemon.log")" -ge "${2:-1}" ] && return 0; sleep 0.05; done; echo "timeout: $1"; return 1; }
        wait_log 'applied:'

        """

    static func fields(_ line: Substring) -> [String: String] {
        var result: [String: String] = [:]
        for word in line.split(separator: " ") {
            if let eq = word.firstIndex(of: "="), word[..<eq].allSatisfy({ $0.isUppercase || $0 == "_" }) {
                result[String(word[..<eq])] = String(word[word.index(after: eq)...])
            }
        }
        return result
    }

    @Test func conflictIsReportedWhenItStartsAndWhenItEnds() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "radius 41812 udp unit:freeradius.service\n"])
        let r = try Netns.run(Self.prologue + """
            python3 "$PROBE" hold udp 41812 > "$ROOT/holder.out" &
            HOLDER=$!
            wait_log 'e562e6ddc60c4493ad1810a89f43fe43'
            kill $HOLDER; wait $HOLDER 2>/dev/null || true
            wait_log '737b33c3af3f4f9d8995d3bb02550c37'
            sleep 0.3     # a few more polls: nothing more must be reported
            kill -TERM $DAEMON; wait $DAEMON
            echo "holder=$HOLDER"
            cat "$ROOT/daemon.log"
            """, env: ["ROOT": root, "PROBE": Self.probe])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let holder = r.stdout.split(separator: "\n").first { $0.hasPrefix("holder=") }.map { String($0.dropFirst(7)) }
        let started = r.stdout.split(separator: "\n").filter { $0.contains("MESSAGE_ID=e562e6ddc60c4493ad1810a89f43fe43") }
        let ended = r.stdout.split(separator: "\n").filter { $0.contains("MESSAGE_ID=737b33c3af3f4f9d8995d3bb02550c37") }
        #expect(started.count == 1, "reported once, not every poll: \(r.stdout)")
        #expect(ended.count == 1, "\(r.stdout)")
        let f = Self.fields(started.first ?? "")
        #expect(f["PORTWARD_PORT"] == "41812")
        #expect(f["PORTWARD_PROTOCOL"] == "udp")
        #expect(f["PORTWARD_ENTRY"] == "radius")
        #expect(f["PORTWARD_HOLDER_PID"] == holder)
        #expect(f["PORTWARD_HOLDER_COMM"] == "python3")
        #expect(f["PORTWARD_VERDICT"] == "wrong-owner")
        #expect(f["CONFIG_LINE"] == "1")
        #expect(f["CONFIG_FILE"]?.hasSuffix("/etc/portward/ports.conf") == true)
        #expect(started.first?.contains("warning:") == true)
        #expect(ended.first?.contains("info:") == true)
    }

    @Test func driftIsRepairedAndForeignPortsAreKept() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "svc 40000-40001 tcp\n"])
        let r = try Netns.run(Self.prologue + """
            echo 5000 > "$KEY"                      # someone rewrites the key (sysctl --system)
            wait_log 'a6ef985732c844b184124b10740eeb80'
            echo "after-drift=$(cat "$KEY")"
            printf '%s,6000' "$(cat "$KEY")" > "$KEY"  # someone adds their own port
            wait_log '3c56be0b422849bc85586ba0bf3f6c26'
            sleep 0.3
            kill -TERM $DAEMON; wait $DAEMON
            echo "final=$(cat "$KEY")"
            cat "$ROOT/daemon.log"
            """, env: ["ROOT": root])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.contains("after-drift=5000,40000-40001"), "\(r.stdout)")
        #expect(lines.contains("final=5000,6000,40000-40001"), "\(r.stdout)")
        let drift = lines.filter { $0.contains("MESSAGE_ID=a6ef985732c844b184124b10740eeb80") }
        #expect(drift.count == 1)
        #expect(Self.fields(drift.first ?? "")["PORTWARD_LOST"] == "40000-40001")
        #expect(drift.first?.contains("warning:") == true)
        let foreign = lines.filter { $0.contains("MESSAGE_ID=3c56be0b422849bc85586ba0bf3f6c26") }
        // The rewriter's own 5000, then the later 6000: both kept as foreign.
        #expect(foreign.map { Self.fields($0)["PORTWARD_PORT"] } == ["5000", "6000"])
    }

    @Test func unrelatedSocketsDoNotChangeWhatIsReported() throws {
        // 50,000 sockets on other ports in the same netns; the one conflict is still the only
        // one reported, and status shows the same rows.
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "svc 2000 tcp unit:svc.service\nfree 2001 udp\n"])
        let r = try Netns.run(Self.prologue + """
            echo "1024 65000" > "$RANGE"
            python3 "$PROBE" hold tcp 2000 > /dev/null &
            HOLDER=$!
            wait_log 'e562e6ddc60c4493ad1810a89f43fe43'
            "$PORTWARD" status --root "$ROOT" > "$ROOT/before.txt" || true
            # 5 processes x 10,000 UDP sockets (the open-files limit here is 20,000 per process).
            MANY=""
            for i in 1 2 3 4 5; do
                python3 -c '
            import socket, sys, time
            socks = []
            for _ in range(10000):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", 0))
                socks.append(s)
            open(sys.argv[1], "w").close()
            time.sleep(60)
            ' "$ROOT/many.$i" &
                MANY="$MANY $!"
            done
            for i in 1 2 3 4 5; do
                for _ in $(seq 600); do [ -e "$ROOT/many.$i" ] && break; sleep 0.05; done
            done
            echo "sockets=$(ss -Huan | wc -l)"
            sleep 0.5     # several polls with 50,000 more sockets
            "$PORTWARD" status --root "$ROOT" > "$ROOT/after.txt" || true
            kill $MANY $HOLDER
            kill -TERM $DAEMON; wait $DAEMON
            diff <(grep -v '^daemon:' "$ROOT/before.txt") <(grep -v '^daemon:' "$ROOT/after.txt") && echo same-status
            echo "conflict-events=$(grep -c 'MESSAGE_ID=e562e6ddc60c4493ad1810a89f43fe43' "$ROOT/daemon.log")"
            echo "failures=$(grep -c 'MESSAGE_ID=361a25252d2e42c286a8b151de6f1bfc' "$ROOT/daemon.log" || true)"
            """, env: ["ROOT": root, "PROBE": Self.probe])
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(lines.contains { $0.hasPrefix("sockets=") && Int($0.dropFirst(8)) ?? 0 >= 50_000 }, "\(r.stdout) \(r.stderr)")
        #expect(lines.contains("same-status"), "\(r.stdout)")
        #expect(lines.contains("conflict-events=1"), "\(r.stdout)")
        #expect(lines.contains("failures=0"), "\(r.stdout)")
    }

    /// While another portward process holds the reconcile lock, the daemon does not block
    /// on it: drift repair waits (no repair, no failure reported), polls go on (20 polls at
    /// 100 ms must fit in the 30 s bound; waiting 5 s for the lock each poll would not) and
    /// the conflict is reported while the lock is still held; once the lock is released the
    /// drift is repaired, keeping the other writer's port.
    @Test func heldLockDefersDriftRepairWithoutBlockingTheChecks() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "radius 41812 udp unit:freeradius.service\n"])
        let r = try Netns.run(Self.prologue + """
            flock "$ROOT/run/portward/lock" sh -c "touch '$ROOT/held'; while [ ! -e '$ROOT/release' ]; do sleep 0.05; done" &
            LOCKER=$!
            for _ in $(seq 600); do [ -e "$ROOT/held" ] && break; sleep 0.05; done
            echo 5000 > "$KEY"
            python3 "$PROBE" hold udp 41812 > "$ROOT/holder.out" &
            HOLDER=$!
            wait_log 'e562e6ddc60c4493ad1810a89f43fe43'
            polls=0; last=; end=$((SECONDS + 30))
            while [ $SECONDS -lt $end ]; do
                now=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lastPollAt"])' "$ROOT/run/portward/daemon.json" 2>/dev/null || true)
                [ -n "$now" ] && [ "$now" != "$last" ] && { polls=$((polls + 1)); last=$now; }
                [ $polls -ge 20 ] && break; sleep 0.05
            done
            echo "polls=$polls"
            echo "while-locked: repairs=$(grep -c 'a6ef985732c844b184124b10740eeb80' "$ROOT/daemon.log" || true) failures=$(grep -c '361a25252d2e42c286a8b151de6f1bfc' "$ROOT/daemon.log" || true) value=$(cat "$KEY")"
            touch "$ROOT/release"; wait $LOCKER
            wait_log 'a6ef985732c844b184124b10740eeb80'
            echo "released: value=$(cat "$KEY")"
            kill $HOLDER; kill -TERM $DAEMON; wait $DAEMON
            """, env: ["ROOT": root, "PROBE": Self.probe])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout == "polls=20\nwhile-locked: repairs=0 failures=0 value=5000\nreleased: value=5000,41812\n", "\(r.stdout)")
    }

    /// `apply` with an edited configuration while the daemon runs: the daemon is told to
    /// reload (SIGHUP) before apply releases the lock, so it adopts the new configuration
    /// instead of undoing it as drift.
    @Test func applyWhileTheDaemonRunsMakesItReload() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "a 40000 tcp\nb 40001 tcp\n"])
        let r = try Netns.run(Self.prologue + """
            printf 'a 40000 tcp\\nc 40002 tcp\\n' > "$ROOT/etc/portward/ports.conf"
            "$PORTWARD" apply --root "$ROOT"
            wait_log 'reloaded:'
            sleep 0.5     # five more polls
            echo "value=$(cat "$KEY") drift=$(grep -c 'a6ef985732c844b184124b10740eeb80' "$ROOT/daemon.log" || true)"
            kill -TERM $DAEMON; wait $DAEMON
            """, env: ["ROOT": root])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("asked the running daemon (pid "), "\(r.stdout)")
        #expect(r.stdout.hasSuffix("value=40000,40002 drift=0\n"), "\(r.stdout)")
    }

    /// Stress: 100 applies alternating two configurations while the daemon polls every
    /// 10 ms. A poll that saw apply's value and repaired with the old configuration before
    /// handling the SIGHUP would undo apply and log drift; a pending reload must win.
    @Test func applyInALoopNeverCountsAsDrift() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "a 40000 tcp\n"])
        let r = try Netns.run("""
            "$PORTWARD" run --root "$ROOT" --interval 10ms 2>"$ROOT/daemon.log" &
            DAEMON=$!
            trap 'kill $DAEMON 2>/dev/null || true' EXIT
            for _ in $(seq 600); do grep -q 'applied:' "$ROOT/daemon.log" && break; sleep 0.05; done
            for i in $(seq 100); do
                if [ $((i % 2)) = 0 ]; then echo 'a 40000 tcp'; else echo 'b 40010 tcp'; fi > "$ROOT/etc/portward/ports.conf"
                "$PORTWARD" apply --root "$ROOT" -q
            done
            sleep 0.5     # the last reload (SIGHUPs sent close together may arrive as one)
            echo "reloaded=$(grep -q 'reloaded:' "$ROOT/daemon.log" && echo yes) drift=$(grep -c 'a6ef985732c844b184124b10740eeb80' "$ROOT/daemon.log" || true) value=$(cat "$KEY")"
            kill -TERM $DAEMON; wait $DAEMON
            """, env: ["ROOT": root])
        #expect(r.stdout == "reloaded=yes drift=0 value=40000\n", "\(r.stdout) \(r.stderr)")
    }

    @Test func reloadFailureIsReportedAndKeepsTheReservation() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "a 40000 tcp\n"])
        let r = try Netns.run(Self.prologue + """
            printf 'a 40000 tcp\\nb 99999 tcp\\n' > "$ROOT/etc/portward/ports.conf"
            kill -HUP $DAEMON
            wait_log '9d66d4fa78c043e9be8a295d5d2b695f'
            kill -TERM $DAEMON; wait $DAEMON
            echo "value=$(cat "$KEY")"
            grep '9d66d4fa78c043e9be8a295d5d2b695f' "$ROOT/daemon.log"
            """, env: ["ROOT": root])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("value=40000\n"))
        #expect(r.stdout.contains("CONFIG_LINE=2"))
        #expect(r.stdout.contains("error:"))
    }

    @Test func watchConfigReloadsOnANewDropIn() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "a 40000 tcp\n", "etc/portward/ports.d/.keep": ""])
        let r = try Netns.run("""
            "$PORTWARD" run --root "$ROOT" --interval 100ms --watch-config 2>"$ROOT/daemon.log" &
            DAEMON=$!
            trap 'kill $DAEMON 2>/dev/null || true' EXIT
            for _ in $(seq 600); do grep -q 'applied:' "$ROOT/daemon.log" && break; sleep 0.05; done
            echo 'b 40001 udp' > "$ROOT/etc/portward/ports.d/50-b.conf"
            for _ in $(seq 600); do grep -q 'reloaded:' "$ROOT/daemon.log" && break; sleep 0.05; done
            echo "value=$(cat "$KEY")"
            kill -TERM $DAEMON; wait $DAEMON
            """, env: ["ROOT": root])
        #expect(r.stdout == "value=40000-40001\n", "\(r.stdout) \(r.stderr)")
    }

    /// Drop-in directories that do not exist at start (/run/portward/ports.d, which a tool
    /// creates later) or that are removed and re-created are still followed; and the
    /// daemon's own files in /run/portward (state.json, daemon.json, rewritten every poll)
    /// do not trigger reloads while it watches that directory for ports.d to appear.
    @Test func watchConfigFollowsDirectoriesCreatedLater() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "a 40000 tcp\n", "etc/portward/ports.d/10-b.conf": "b 40001 tcp\n"])
        let r = try Netns.run("""
            "$PORTWARD" run --root "$ROOT" --interval 100ms --watch-config 2>"$ROOT/daemon.log" &
            DAEMON=$!
            trap 'kill $DAEMON 2>/dev/null || true' EXIT
            wait_value() { for _ in $(seq 600); do [ "$(cat "$KEY")" = "$1" ] && return 0; sleep 0.05; done; echo "timeout: $1 (have $(cat "$KEY"))"; }
            wait_value 40000-40001
            sleep 1     # ten polls, each rewriting /run/portward/daemon.json
            echo "reloads=$(grep -c 'reloaded:' "$ROOT/daemon.log" || true)"
            mkdir -p "$ROOT/run/portward/ports.d"
            sleep 0.5   # the directory is watched from here on, not only its parent
            echo 'c 40002 tcp' > "$ROOT/run/portward/ports.d/20-c.conf"
            wait_value 40000-40002
            echo "run=$(cat "$KEY")"
            rm -rf "$ROOT/etc/portward/ports.d"
            wait_value 40000,40002
            mkdir "$ROOT/etc/portward/ports.d"
            sleep 0.5
            echo 'd 40003 tcp' > "$ROOT/etc/portward/ports.d/30-d.conf"
            wait_value 40000,40002-40003
            echo "recreated=$(cat "$KEY")"
            ln -s "$ROOT/d1" "$ROOT/run/portward/ports.d.new"; mkdir "$ROOT/d1" "$ROOT/d2"
            echo 'e 40004 tcp' > "$ROOT/d1/40-e.conf"; echo 'e 40005 tcp' > "$ROOT/d2/40-e.conf"
            rm -rf "$ROOT/run/portward/ports.d"; mv -T "$ROOT/run/portward/ports.d.new" "$ROOT/run/portward/ports.d"
            wait_value 40000,40003-40004
            ln -sfn "$ROOT/d2" "$ROOT/run/portward/ports.d"
            wait_value 40000,40003,40005
            echo "relinked=$(cat "$KEY")"
            kill -TERM $DAEMON; wait $DAEMON
            cat "$ROOT/daemon.log" >&2     # shown when the test fails
            """, env: ["ROOT": root])
        #expect(r.stdout == "reloads=0\nrun=40000-40002\nrecreated=40000,40002-40003\nrelinked=40000,40003,40005\n", "\(r.stdout) \(r.stderr)")
    }
}
