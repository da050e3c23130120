import Foundation
import Testing

/// `portward run` with the event programs (docs/events.md), as root in the box of BPFBox:
/// the daemon attaches post_bind4, post_bind6 and cgroup/sysctl "at the cgroup root", which
/// is the box. `--root` keeps its files apart, `--guard` turns the guard (and with it the
/// events) on despite `--root`. The journal falls back to stderr. No timed assertions: the
/// scripts wait (bounded) for the lines they expect.
@Suite(.enabled(if: BPFBox.guardAvailable, "\(BPFBox.unavailableReason ?? "")"))
struct DaemonEventIntegrationTests {
    static let prologue = DaemonGuardIntegrationTests.prologue + """
        # A report-only entry (unit: owner without its drop-in), a guarded one, a plain one.
        printf 'svc 7001 tcp unit:owner.service\\nown 7002 tcp user:4242\\nplain 7003 udp -\\n' >"$ROOT/etc/portward/ports.conf"
        # A long --interval: what is seen within it is the events' doing, not a poll's.
        startev() { start --guard --safety-interval 3600 "$@"; }
        mkdir -p "$ROOT/bin"
        # exitbind PORT: binds PORT/tcp and exits at once; prints its pid.
        exitbind() { python3 -c "
        import os, socket, sys
        s = socket.socket(); s.bind(('0.0.0.0', int(sys.argv[1]))); print(os.getpid(), flush=True); os._exit(0)" "$@"; }

        """

    @Test("a wrong-owner bind is journalled with pid and command even when the process exits at once; an owner bind is recorded for status; status says events")
    func bindsAreSeen() throws {
        let v = try BPFBox.values(Self.prologue + """
            start --guard --interval 3600 --safety-interval 3600
            wait_log 1 'owner guard in force for own'
            for _ in $(seq 600); do grep -q '"mode":"events"' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            pid=$(exitbind 7001)
            say exited-pid echo $pid
            wait_log 1 "guard: pid $pid (python3) uid 0 bound the report-only port 7001/tcp (svc)"
            say line sh -c "grep 'bound the report-only port 7001/tcp' '$ROOT/err' | grep -o 'guard: .*(svc)'"
            as owner --cgroup "$CG/other" --uid 4242 bind 4/tcp/7002
            # The bind asks for a full check within --interval (an hour here): SIGHUP publishes now.
            kill -HUP $DAEMON
            for _ in $(seq 600); do grep -q '"ownerBinds":{"own"' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            say watch sh -c "'$PORTWARD' status --root '$ROOT' | grep '^watch: '"
            say bound sh -c "'$PORTWARD' status --root '$ROOT' | grep '^bound: ' | sed 's/ at .*//'"
            say json sh -c "'$PORTWARD' status --root '$ROOT' --json | python3 -c 'import json,sys; w=json.load(sys.stdin)[\\"daemon\\"][\\"watch\\"]; print(w[\\"mode\\"], w[\\"checkInterval\\"], sorted(w[\\"ownerBinds\\"]))'"
            say not-reported sh -c "grep -c 'bound the report-only port 7002' '$ROOT/err' || true"
            """)
        let pid = v["exited-pid"] ?? "?"
        #expect(v["line"] == "guard: pid \(pid) (python3) uid 0 bound the report-only port 7001/tcp (svc)", "\(v["line"] ?? "")")
        #expect(v["watch"] == "watch: events (binds and writes of the key are reported by the guard's BPF programs); full check every 3600s", "\(v["watch"] ?? "")")
        #expect(v["owner 4/tcp/7002"] == "bound")
        #expect(v["bound"]?.hasPrefix("bound: own 7002/tcp by python3[") == true && v["bound"]?.hasSuffix("] uid 4242") == true, "\(v["bound"] ?? "")")
        #expect(v["json"] == "events 3600 ['own']", "\(v["json"] ?? "")")
        #expect(v["not-reported"] == "0", "the owner's bind is not a conflict")
    }

    @Test("a write of the key by a named process is re-read, repaired, and the drift event names the writer; the daemon's own writes are not reported")
    func keyWriteIsNamed() throws {
        let v = try BPFBox.values(Self.prologue + """
            cp /bin/sh "$ROOT/bin/keywriter"
            start --guard --interval 3600 --safety-interval 3600
            wait_log 1 'owner guard in force for own'
            for _ in $(seq 600); do grep -q '"mode":"events"' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            say before cat /proc/sys/net/ipv4/ip_local_reserved_ports
            "$ROOT/bin/keywriter" -c 'echo $$ >"$0"; echo 5000 >/proc/sys/net/ipv4/ip_local_reserved_ports' "$ROOT/writer.pid"
            wait_log 1 'dropped 7001-7003 from net.ipv4.ip_local_reserved_ports; restored'
            say writer-pid cat "$ROOT/writer.pid"
            say drift sh -c "grep -o 'keywriter.*dropped 7001-7003 from net.ipv4.ip_local_reserved_ports; restored' '$ROOT/err'"
            say writer-field sh -c "grep 'dropped 7001-7003' '$ROOT/err' | grep -o 'PORTWARD_WRITER=[^ ]*\\\\[[0-9]*\\\\]'"
            say after cat /proc/sys/net/ipv4/ip_local_reserved_ports
            say drift-lines sh -c "grep -c 'dropped 7001-7003\\\\|lost declared ports' '$ROOT/err' || true"
            """)
        let pid = v["writer-pid"] ?? "?"
        #expect(v["before"] == "7001-7003")
        #expect(v["drift"] == "keywriter[\(pid)] uid 0 dropped 7001-7003 from net.ipv4.ip_local_reserved_ports; restored"
                , "\(v["drift"] ?? "")")
        #expect(v["writer-field"] == "PORTWARD_WRITER=keywriter[\(pid)]", "\(v["writer-field"] ?? "")")
        #expect(v["after"] == "5000,7001-7003")
        #expect(v["drift-lines"] == "1", "one repair: the daemon's own write is not a foreign one")
    }

    @Test("without the programs (no bpffs) the daemon polls as before and status says why")
    func pollingFallback() throws {
        let v = try BPFBox.values(Self.prologue + """
            umount /sys/fs/bpf
            start --guard --interval 0.1
            wait_log 1 'applied: '
            for _ in $(seq 600); do grep -q '"mode":"polling"' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            say watch sh -c "'$PORTWARD' status --root '$ROOT' | grep '^watch: '"
            # Polling still repairs drift (no writer named: nothing reported it).
            echo 5000 >/proc/sys/net/ipv4/ip_local_reserved_ports
            wait_log 1 'lost declared ports 7001-7003'
            say after cat /proc/sys/net/ipv4/ip_local_reserved_ports
            """)
        #expect(v["watch"]?.hasPrefix("watch: polling every 100ms: BPF unavailable: ") == true, "\(v["watch"] ?? "")")
        #expect(v["after"] == "5000,7001-7003")
    }
}
