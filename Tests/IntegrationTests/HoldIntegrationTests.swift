import Foundation
import Testing

/// The hold fallback (docs/guard.md "Hold fallback"), as root in a network namespace the test
/// creates (`unshare -n`): `portward run --no-guard --hold` holds the ports of a `unit:`
/// owner whose drop-in exists; another process's bind gets EADDRINUSE (IPv4, IPv6,
/// dual-stack, v4-mapped; TCP, UDP); `register-owner` (the start hook) returns only after the
/// sockets are closed, so the owner binds right after it; `owner-stopped` (the stop hook)
/// has them held again. The journal falls back to stderr.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1)"))
struct HoldIntegrationTests {
    static let bind = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/guard_bind.py").path

    static let prologue = """
        ROOT=$(mktemp -d)
        mkdir -p "$ROOT/etc/portward"
        printf 'svc 7001 tcp,udp unit:owner.service\\nbusy 7002 udp unit:owner.service\\nuser 7003 tcp user:4242\\n' >"$ROOT/etc/portward/ports.conf"
        "$PORTWARD" generator --root "$ROOT" "$ROOT/run/systemd/generator"
        DAEMON= HOLDER=
        trap '[ -n "$DAEMON" ] && kill -9 $DAEMON 2>/dev/null; [ -n "$HOLDER" ] && kill -9 $HOLDER 2>/dev/null; rm -rf "$ROOT"' EXIT
        wait_log() { for _ in $(seq 600); do [ "$(grep -c "$2" "$ROOT/err" || true)" -ge "$1" ] && return 0; sleep 0.05; done; echo "timeout: $2" >&2; cat "$ROOT/err" >&2; return 1; }
        start() { "$PORTWARD" run --root "$ROOT" --interval 0.1 "$@" 2>>"$ROOT/err" & DAEMON=$!; }
        as() { local who=$1; shift; python3 "$BIND" "$@" | sed "s|^|$who |"; }
        say() { local name=$1; shift; echo "$name: $("$@" 2>&1 | tr '\\n' ' ' | sed 's/ *$//')"; }

        """

    static func values(_ script: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: String] {
        let result = try Netns.run(prologue + script, env: ["BIND": bind])
        #expect(result.status == 0, "script failed (\(result.status)): \(result.stderr)\n\(result.stdout)", sourceLocation: sourceLocation)
        var values: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            values[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }

    @Test("held while the owner is stopped (v4, v6, tcp, udp); released synchronously by its start hook, held again by its stop hook, 10 restarts in a row")
    func heldReleasedHeldAgain() throws {
        let v = try Self.values("""
            # Someone else has 7002/udp: it cannot be held, and that is said.
            python3 -c 'import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("0.0.0.0",7002)); print("ok",flush=True); time.sleep(120)' >"$ROOT/holder" & HOLDER=$!
            for _ in $(seq 600); do grep -q ok "$ROOT/holder" && break; sleep 0.05; done
            start --no-guard --hold
            wait_log 1 'hold fallback: holding 2 sockets of svc for owner.service while it is not running'
            wait_log 1 'hold fallback: cannot hold 7002/udp (busy) for owner.service: in use by another socket (EADDRINUSE)'
            as held bind 4/tcp/7001 6/tcp/7001 6only/tcp/7001 mapped/tcp/7001 4/udp/7001 6/udp/7001 6only/udp/7001 mapped/udp/7001 4/tcp/7003
            for _ in $(seq 600); do grep -q '"state":"held"' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            say status sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^(svc|busy|user) ' | awk '{ print \\$1, \\$6 }' | tr '\\n' ' '"
            say status-busy sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^held: busy'"
            say status-user sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^report-only: user'"
            say json sh -c "grep -o '\\"svc\\":{[^}]*}' '$ROOT/run/portward/daemon.json'"
            say own-conflicts sh -c "grep -c 'conflict: 7001\\|unverified: 7001' '$ROOT/err' || true"
            say busy-conflict sh -c "grep -c 'conflict: 7002/udp (busy)' '$ROOT/err' || true"
            say status-state sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^svc ' | awk '{ print \\$5 }' | tr '\\n' ' '"
            kill $HOLDER; wait $HOLDER || true; HOLDER=
            wait_log 1 'hold fallback: holding 1 socket of busy for owner.service'
            ok=0 again=0
            for i in $(seq 10); do
                "$PORTWARD" register-owner --root "$ROOT" owner.service >>"$ROOT/hook" 2>&1 || true
                # Right after the hook returns: the owner binds.
                r=$(python3 "$BIND" bind 6/tcp/7001 6/udp/7001 4/udp/7002 | tr '\\n' ' ')
                [ "$r" = "6/tcp/7001: bound 6/udp/7001: bound 4/udp/7002: bound " ] && ok=$((ok + 1)) || echo "start $i: $r" >&2
                "$PORTWARD" owner-stopped --root "$ROOT" owner.service >>"$ROOT/hook" 2>&1
                r=$(python3 "$BIND" bind 4/tcp/7001 6/udp/7001 4/udp/7002 | tr '\\n' ' ')
                [ "$r" = "4/tcp/7001: EADDRINUSE 6/udp/7001: EADDRINUSE 4/udp/7002: EADDRINUSE " ] && again=$((again + 1)) || echo "stop $i: $r" >&2
            done
            echo "owner-bound: $ok"
            echo "held-again: $again"
            say hook-lines sh -c "grep -c 'hold fallback: \\(released\\|held\\) 3$' '$ROOT/hook'"
            say journal-released sh -c "grep -c 'hold fallback: released 3 sockets to owner.service (its start hook)' '$ROOT/err'"
            # kill -9: nothing is held any more; the hook finds no daemon and returns at once.
            kill -9 $DAEMON; wait $DAEMON || true; DAEMON=
            say no-daemon sh -c "'$PORTWARD' register-owner --root '$ROOT' owner.service 2>&1 | grep -c 'hold fallback' || true"
            as dead bind 4/tcp/7001
            """)
        for spec in ["4/tcp/7001", "6/tcp/7001", "6only/tcp/7001", "mapped/tcp/7001", "4/udp/7001", "6/udp/7001", "6only/udp/7001", "mapped/udp/7001"] {
            #expect(v["held \(spec)"] == "EADDRINUSE", "\(spec)")
        }
        #expect(v["held 4/tcp/7003"] == "bound", "a user: owner is not held")
        #expect(v["status"] == "svc held svc held busy held user report-only", "one row per protocol")
        #expect(v["status-busy"] == "held: busy: 1 of 1 sockets not held: 7002/udp (in use by another socket (EADDRINUSE))")
        #expect(v["status-user"]?.contains("user: owners are not held") == true)
        #expect(v["json"] == #""svc":{"state":"held"}"#)
        #expect(v["own-conflicts"] == "0", "the daemon's held sockets are not conflicts")
        #expect(v["status-state"] == "free free")
        #expect(v["busy-conflict"] == "1", "a port someone else holds is still a conflict")
        #expect(v["owner-bound"] == "10")
        #expect(v["held-again"] == "10")
        #expect(v["hook-lines"] == "20", "each hook says what it did")
        #expect(v["journal-released"] == "10")
        #expect(v["no-daemon"] == "0")
        #expect(v["dead 4/tcp/7001"] == "bound")
    }

    @Test("an owner started before portward, and portward killed and restarted while it runs: not held; held after it stops")
    func ownerRunningBeforeAndAcrossRestarts() throws {
        let v = try Self.values("""
            # The owner starts with no daemon: its hook records its cgroup, finds no daemon.
            say early sh -c "'$PORTWARD' register-owner --root '$ROOT' owner.service 2>&1 | grep -c 'hold fallback\\|did not answer' || true"
            start --no-guard --hold
            wait_log 1 'applied: '
            for _ in $(seq 600); do grep -q 'released: owner.service is running' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            as running bind 4/tcp/7001 6/udp/7001
            kill -9 $DAEMON; wait $DAEMON || true; DAEMON=
            start --no-guard --hold
            wait_log 2 'applied: '
            for _ in $(seq 600); do grep -q "\\"pid\\":$DAEMON" "$ROOT/run/portward/daemon.json" 2>/dev/null && grep -q 'released: owner.service is running' "$ROOT/run/portward/daemon.json" && break; sleep 0.05; done
            as restarted bind 4/tcp/7001 6/udp/7001
            say held-lines sh -c "grep -c 'hold fallback: holding' '$ROOT/err' || true"
            "$PORTWARD" owner-stopped --root "$ROOT" owner.service >/dev/null
            as stopped bind 4/tcp/7001 6/udp/7001
            """)
        #expect(v["early"] == "0", "no daemon: the hook returns at once, saying nothing")
        #expect(v["running 4/tcp/7001"] == "bound", "the owner runs: its ports are not held")
        #expect(v["running 6/udp/7001"] == "bound")
        #expect(v["restarted 4/tcp/7001"] == "bound", "a restarted daemon does not hold a running owner's ports")
        #expect(v["restarted 6/udp/7001"] == "bound")
        #expect(v["held-lines"] == "0", "both entries are owner.service's: nothing of it is held while it runs")
        #expect(v["stopped 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["stopped 6/udp/7001"] == "EADDRINUSE")
    }

    @Test("a daemon that does not answer (SIGSTOP): the start hook gives up after 5 s and says so; the daemon, resumed, releases and survives the closed peer")
    func hookTimesOut() throws {
        let v = try Self.values("""
            start --no-guard --hold
            wait_log 1 'hold fallback: holding 3 sockets of svc, busy for owner.service'
            kill -STOP $DAEMON
            rc=0; "$PORTWARD" register-owner --root "$ROOT" owner.service >"$ROOT/hook" 2>&1 || rc=$?
            echo "hook-rc: $rc"
            say hook-said sh -c "grep -o 'the daemon did not answer on .* within 5 s; going on' '$ROOT/hook' | sed 's|$ROOT||'"
            kill -CONT $DAEMON
            wait_log 1 'hold fallback: released 3 sockets to owner.service (its start hook)'
            as resumed bind 4/tcp/7001 6/udp/7001
            "$PORTWARD" owner-stopped --root "$ROOT" owner.service >/dev/null
            as stopped bind 4/tcp/7001
            say alive sh -c "kill -0 $DAEMON && echo yes"
            """)
        #expect(v["hook-rc"] == "0", "the owner is never locked out: the hook goes on")
        #expect(v["hook-said"] == "the daemon did not answer on /run/portward/hold.sock within 5 s; going on")
        #expect(v["resumed 4/tcp/7001"] == "bound")
        #expect(v["resumed 6/udp/7001"] == "bound")
        #expect(v["stopped 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["alive"] == "yes", "the hook's closed socket did not kill the daemon (MSG_NOSIGNAL)")
    }

    @Test("a large range: 30000-32767 tcp,udp is 5536 sockets, all held; under a descriptor limit of 1024 the rest is reported, not held")
    func largeRangeAndTheLimit() throws {
        let v = try Self.values("""
            printf 'sched 30000-32767 tcp,udp unit:owner.service\\n' >"$ROOT/etc/portward/ports.conf"
            "$PORTWARD" generator --root "$ROOT" "$ROOT/run/systemd/generator"
            start --no-guard --hold
            wait_log 1 'hold fallback: holding 5536 sockets of sched for owner.service'
            as big bind 4/tcp/30000 6/udp/31000 4/tcp/32767
            say fds sh -c "ls /proc/$DAEMON/fd | wc -l"
            kill $DAEMON; wait $DAEMON || true; DAEMON=
            prlimit --nofile=1024:1024 "$PORTWARD" run --root "$ROOT" --interval 0.1 --no-guard --hold 2>>"$ROOT/err" & DAEMON=$!
            wait_log 1 'hold fallback: 5024 sockets are not held (over the limit of 512 sockets: sched)'
            wait_log 1 'hold fallback: holding 512 sockets of sched'
            as limited bind 4/tcp/30000 4/udp/30255 4/tcp/30256 4/udp/32767
            for _ in $(seq 600); do grep -q 'over the hold limit' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            say status sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^held: sched'"
            """)
        #expect(v["big 4/tcp/30000"] == "EADDRINUSE")
        #expect(v["big 6/udp/31000"] == "EADDRINUSE")
        #expect(v["big 4/tcp/32767"] == "EADDRINUSE")
        #expect((Int(v["fds"] ?? "") ?? 0) >= 5536, "one descriptor per held socket")
        #expect(v["limited 4/tcp/30000"] == "EADDRINUSE", "the first 512 in configuration order (port, then protocol)")
        #expect(v["limited 4/udp/30255"] == "EADDRINUSE")
        #expect(v["limited 4/tcp/30256"] == "bound", "past the limit: not held")
        #expect(v["limited 4/udp/32767"] == "bound")
        #expect(v["status"] == "held: sched: 5024 sockets over the hold limit of 512 not held")
    }

    @Test("the control socket answers root only")
    func controlSocketRefusesOtherUsers() throws {
        let v = try Self.values("""
            start --no-guard --hold
            wait_log 1 'hold fallback: holding 3 sockets of svc, busy for owner.service'
            chmod 755 "$ROOT" "$ROOT/run" "$ROOT/run/portward"
            chmod 777 "$ROOT/run/portward/hold.sock"
            say other setpriv --reuid 4243 --regid 4243 --clear-groups /usr/bin/python3 -c '
            import socket
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect("'"$ROOT"'/run/portward/hold.sock")
            try:
                s.send(b"release owner.service")
                print("refused" if s.recv(512) == b"" else "answered")
            except (BrokenPipeError, ConnectionResetError):
                print("refused")'
            as still bind 4/tcp/7001
            """)
        #expect(v["other"] == "refused", "closed without an answer")
        #expect(v["still 4/tcp/7001"] == "EADDRINUSE")
    }
}
