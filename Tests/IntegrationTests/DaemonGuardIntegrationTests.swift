import Foundation
import Testing

/// `portward run` with the owner guard, as root in the box of BPFBox (a throwaway cgroup as
/// the cgroup namespace root, private netns, cgroup2 mount and bpffs): the daemon attaches
/// "at the cgroup root", which is the box. `--root` keeps its files apart, `--guard` turns
/// the guard on despite `--root`. The journal falls back to stderr.
@Suite(.enabled(if: BPFBox.guardAvailable, "\(BPFBox.unavailableReason ?? "")"))
struct DaemonGuardIntegrationTests {
    static let prologue = BPFGuardTests.prologue + """
        ROOT=$(mktemp -d)
        mkdir -p "$ROOT/etc/portward"
        printf 'svc 7001 tcp,udp user:4242\\nfree 7002 tcp -\\n' >"$ROOT/etc/portward/ports.conf"
        DAEMON=
        trap '[ -n "$DAEMON" ] && kill -9 $DAEMON 2>/dev/null; rm -rf "$ROOT"' EXIT
        # Waits (up to 30 s) until the daemon's stderr has N lines matching PATTERN.
        wait_log() { for _ in $(seq 600); do [ "$(grep -c "$2" "$ROOT/err" || true)" -ge "$1" ] && return 0; sleep 0.05; done; echo "timeout: $2" >&2; cat "$ROOT/err" >&2; return 1; }
        start() { "$PORTWARD" run --root "$ROOT" --interval 0.1 "$@" 2>>"$ROOT/err" & DAEMON=$!; }
        # Waits (up to 30 s) until the daemon published a guarded entry in daemon.json: what
        # register-owner --root checks before it touches the pins (so kill -9 only after it).
        wait_guarded() { for _ in $(seq 600); do grep -q '"state":"guarded"' "$ROOT/run/portward/daemon.json" 2>/dev/null && return 0; sleep 0.05; done; echo "timeout: daemon.json guarded" >&2; return 1; }
        attached() { bpftool cgroup show "$CG" | grep -c portward_bind || true; }

        """

    @Test("a user: entry is guarded: another uid gets EADDRINUSE, the owner binds, the denial is journalled; SIGTERM detaches it; kill -9 keeps it, a restart takes over; --root --no-guard leaves it")
    func userOwnerGuarded() throws {
        let v = try BPFBox.values(Self.prologue + """
            start --guard
            wait_log 1 'owner guard in force for svc'
            as other --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001 6/udp/7001 mapped/tcp/7001 4/tcp/7002
            as owner --cgroup "$CG/other" --uid 4242 bind 4/tcp/7001 6/udp/7001 mapped/tcp/7001
            wait_log 1 'guard: denied 7001/udp (svc) to pid [0-9]* (python3) uid 4243 (EADDRINUSE)'
            say denied-tcp sh -c "grep -c 'guard: denied 7001/tcp (svc) to pid [0-9]* (python3) uid 4243 2 times (EADDRINUSE)' '$ROOT/err' || true"
            say fields sh -c "grep 'guard: denied 7001/udp' '$ROOT/err' | grep -o 'MESSAGE_ID=[0-9a-f]*\\|PORTWARD_HOLDER_UID=[0-9]*\\|PORTWARD_VERDICT=[a-z]*' | tr '\\n' ' '"
            wait_log 1 'denied'
            for _ in $(seq 600); do grep -q '"denied":3' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            say status sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^(svc|free) ' | awk '{ print \\$1, \\$2, \\$6 }' | tr '\\n' ' '"
            say status-denials sh -c "'$PORTWARD' status --root '$ROOT' | grep -c '^denied: 7001/' || true"
            # An orderly stop (systemctl stop): the guard is detached and unpinned.
            kill -TERM $DAEMON; wait $DAEMON || true; DAEMON=
            as stopped --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001 6/udp/7001
            say attached-stopped attached
            say pins-stopped sh -c 'test -e /sys/fs/bpf/portward && echo present || echo gone'
            say stopping-line sh -c "grep -c 'stopping; the reservation stays in place; the owner guard is detached (5 programs)' '$ROOT/err' || true"
            start --guard
            wait_log 2 'owner guard in force for svc'
            say fresh sh -c "grep -c 'took over the pinned programs' '$ROOT/err' || true"
            kill -9 $DAEMON; wait $DAEMON || true; DAEMON=
            as killed --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001 6/udp/7001
            as killed-owner --cgroup "$CG/other" --uid 4242 bind 4/tcp/7001
            say status-killed sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^svc ' | awk '{ print \\$6 }' | tr '\\n' ' '"
            start --guard
            wait_log 1 'owner guard in force for svc (took over the pinned programs)'
            say attached attached
            kill -9 $DAEMON; wait $DAEMON || true; DAEMON=
            # Switched off with --root: the pins stand for the host's, which only a daemon for /
            # empties (DaemonOptions.clearsPinnedGuard); this one leaves them.
            start --no-guard
            wait_log 3 'applied: '
            for _ in $(seq 600); do grep -q '"state":"report-only"' "$ROOT/run/portward/daemon.json" 2>/dev/null && grep -q "\\"pid\\":$DAEMON" "$ROOT/run/portward/daemon.json" && break; sleep 0.05; done
            as off --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001
            say status-off sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^report-only: svc'"
            """)
        #expect(v["other 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["other 6/udp/7001"] == "EADDRINUSE")
        #expect(v["other mapped/tcp/7001"] == "EADDRINUSE")
        #expect(v["other 4/tcp/7002"] == "bound", "an entry without an owner is not guarded")
        #expect(v["owner 4/tcp/7001"] == "bound")
        #expect(v["owner 6/udp/7001"] == "bound")
        #expect(v["owner mapped/tcp/7001"] == "bound")
        #expect(v["denied-tcp"] == "1", "the two tcp denials of one process are one event")
        #expect(v["fields"] == "MESSAGE_ID=d0f1bb41287246d99a82b05ffa9aea84 PORTWARD_HOLDER_UID=4243 PORTWARD_VERDICT=denied", "\(v["fields"] ?? "")")
        #expect(v["status"] == "svc tcp guarded svc udp guarded free tcp -", "\(v["status"] ?? "")")
        #expect(v["status-denials"] == "2")
        #expect(v["stopped 4/tcp/7001"] == "bound", "an orderly stop takes the guard away")
        #expect(v["stopped 6/udp/7001"] == "bound")
        #expect(v["attached-stopped"] == "0")
        #expect(v["pins-stopped"] == "gone")
        #expect(v["stopping-line"] == "1")
        #expect(v["fresh"] == "0", "after an orderly stop there is nothing to take over")
        #expect(v["attached"] == "2", "after kill -9: taken over, not attached twice")
        #expect(v["killed 4/tcp/7001"] == "EADDRINUSE", "kill -9 keeps the guard")
        #expect(v["killed 6/udp/7001"] == "EADDRINUSE")
        #expect(v["killed-owner 4/tcp/7001"] == "bound")
        #expect(v["status-killed"] == "guarded guarded", "status (root) reads the pinned map: \(v["status-killed"] ?? "")")
        #expect(v["off 4/tcp/7001"] == "EADDRINUSE", "a --root daemon with --no-guard leaves the pinned entries")
        #expect(v["status-off"] == "report-only: svc: the guard is switched off (--no-guard)")
    }

    @Test("portward guard --detach (package removal) takes the guard away, and is idempotent")
    func detachTakesItAway() throws {
        let v = try BPFBox.values(Self.prologue + """
            start --guard
            wait_log 1 'owner guard in force for svc'
            # Killed: the guard stays until the package's removal script detaches it.
            kill -9 $DAEMON; wait $DAEMON || true; DAEMON=
            mkdir -p "$ROOT/run/portward/owners"; echo 1 >"$ROOT/run/portward/owners/x.service"
            as before --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001
            say detach "$PORTWARD" guard --detach --root "$ROOT"
            say attached attached
            say pins sh -c 'test -e /sys/fs/bpf/portward && echo present || echo gone'
            say registry sh -c "test -e '$ROOT/run/portward/owners' && echo present || echo gone"
            as after --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001 6/udp/7001
            say again "$PORTWARD" guard --detach --root "$ROOT"
            """)
        #expect(v["before 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["detach"] == "owner guard: detached 5 programs, removed /sys/fs/bpf/portward")
        #expect(v["attached"] == "0")
        #expect(v["pins"] == "gone")
        #expect(v["registry"] == "gone")
        #expect(v["after 4/tcp/7001"] == "bound")
        #expect(v["after 6/udp/7001"] == "bound")
        #expect(v["again"] == "owner guard: detached 0 programs, removed /sys/fs/bpf/portward")
    }

    @Test("a netns= entry is guarded in the namespaces it covers (their cookies), also in one added later, and nowhere else; the denial names the namespace")
    func otherNamespacesGuarded() throws {
        let v = try BPFBox.values(Self.prologue + """
            # ip netns pins in a private /run, bound (shared) on ROOT/run where the daemon looks.
            mount -t tmpfs -o mode=0755 portward-test-run /run
            mount --make-shared /run && mkdir -p "$ROOT/run" && mount --bind /run "$ROOT/run"
            trap '[ -n "$DAEMON" ] && kill -9 $DAEMON 2>/dev/null; umount -l "$ROOT/run" 2>/dev/null; rm -rf "$ROOT"' EXIT
            printf 'vpn 7001 tcp user:4242 netns=portward-test-blue,portward-test-late\\nhostsvc 7002 tcp user:4242\\n' >"$ROOT/etc/portward/ports.conf"
            ip netns add portward-test-blue
            ip netns add portward-test-red
            inns() { local ns=$1 who=$2; shift 2; nsenter --net=/run/netns/$ns python3 "$BIND" "$@" | sed "s|^|$who |"; }
            cookie() { nsenter --net=/run/netns/$1 "$TOOL" cookie; }
            keys_of() { "$TOOL" list | grep -c "netns=$1 " || true; }
            wait_keys() { for _ in $(seq 600); do [ "$(keys_of "$1")" -ge 1 ] && return 0; sleep 0.05; done; echo "timeout: keys of $1" >&2; "$TOOL" list >&2; cat "$ROOT/err" >&2; return 1; }
            start --guard
            wait_log 1 'owner guard in force for hostsvc'
            BLUE=$(cookie portward-test-blue)
            wait_keys "$BLUE"
            say blue-keys keys_of "$BLUE"
            say red-keys keys_of "$(cookie portward-test-red)"
            inns portward-test-blue blue --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001 4/tcp/7002
            inns portward-test-blue blue-owner --cgroup "$CG/other" --uid 4242 bind 4/tcp/7001
            inns portward-test-red red --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001
            as host --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001 4/tcp/7002
            wait_log 1 'guard: denied 7001/tcp (vpn) in network namespace net:\\[[0-9]*\\] portward-test-blue to pid [0-9]* (python3) uid 4243 (EADDRINUSE)'
            say fields sh -c "grep 'in network namespace' '$ROOT/err' | grep -o 'PORTWARD_NETNS_NAME=[a-z-]*' | sort -u"
            for _ in $(seq 600); do grep -q '"netnsName":"portward-test-blue"' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            say status-denial sh -c "'$PORTWARD' status --root '$ROOT' | grep '^denied: 7001/tcp (vpn) in network namespace net:\\[[0-9]*\\] portward-test-blue to pid' | wc -l"
            # A namespace created while the daemon runs is covered once the map has its cookie.
            ip netns add portward-test-late
            LATE=$(cookie portward-test-late)
            wait_keys "$LATE"
            inns portward-test-late late --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001
            # Deleted: its keys go at the next full rescan (a reload here).
            ip netns del portward-test-blue
            kill -HUP $DAEMON
            for _ in $(seq 600); do [ "$(keys_of "$BLUE")" = 0 ] && break; sleep 0.05; done
            say blue-keys-after keys_of "$BLUE"
            kill -TERM $DAEMON; wait $DAEMON || true; DAEMON=
            """)
        #expect(v["blue-keys"] == "1", "vpn's one port, with blue's cookie")
        #expect(v["red-keys"] == "0")
        #expect(v["blue 4/tcp/7001"] == "EADDRINUSE", "the entry covers blue")
        #expect(v["blue 4/tcp/7002"] == "bound", "a host entry does not reach blue")
        #expect(v["blue-owner 4/tcp/7001"] == "bound")
        #expect(v["red 4/tcp/7001"] == "bound", "red is not covered")
        #expect(v["host 4/tcp/7001"] == "bound", "vpn is not a host entry")
        #expect(v["host 4/tcp/7002"] == "EADDRINUSE")
        #expect(v["fields"] == "PORTWARD_NETNS_NAME=portward-test-blue", "\(v["fields"] ?? "")")
        #expect(v["status-denial"] == "1", "status names the namespace: \(v["status-denial"] ?? "")")
        #expect(v["late 4/tcp/7001"] == "EADDRINUSE", "a namespace added later is guarded")
        #expect(v["blue-keys-after"] == "0")
    }

    @Test("without bpffs the daemon starts, says why once, and the entry is report-only (fail open)")
    func unavailableFallsBack() throws {
        let v = try BPFBox.values(Self.prologue + """
            umount /sys/fs/bpf
            start --guard
            wait_log 1 'applied: '
            for _ in $(seq 600); do grep -q '"lastPollAt"' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            as other --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001
            kill -HUP $DAEMON
            wait_log 2 'reloaded: \\|applied: '
            say degraded sh -c "grep -c 'owner guard: BPF guard unavailable: no BPF filesystem' '$ROOT/err' || true"
            say status sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^report-only: svc'"
            say attached attached
            """)
        #expect(v["other 4/tcp/7001"] == "bound")
        #expect(v["degraded"] == "1", "one degraded line, not one per reload")
        #expect(v["status"]?.hasPrefix("report-only: svc: BPF guard unavailable: no BPF filesystem") == true, "\(v["status"] ?? "")")
        #expect(v["attached"] == "0")
    }
}

/// `unit:` owners, race-free: the generator's drop-in, and its `register-owner` hook run in
/// the unit's new cgroup before the unit's processes (here: a cgroup the script creates for
/// each "start", the hook run in it, then the owner's bind from it, as systemd does for
/// `ExecStartPre=` then `ExecStart=`).
@Suite(.enabled(if: BPFBox.guardAvailable, "\(BPFBox.unavailableReason ?? "")"))
struct UnitOwnerGuardIntegrationTests {
    static let prologue = DaemonGuardIntegrationTests.prologue + """
        # killed_guard: radius 7001/tcp for owner.service, guarded by a --guard daemon that is
        # then killed (-9): its pins stay.
        killed_guard() {
            printf 'radius 7001 tcp unit:owner.service\\n' >"$ROOT/etc/portward/ports.conf"
            generate
            start --guard
            wait_log 1 'owner guard in force for radius'
            wait_guarded
            kill -9 $DAEMON; wait $DAEMON || true; DAEMON=
        }
        # hook UNIT: what systemd's ExecStartPre=-+portward register-owner %n does, in a new cgroup.
        hook() { mkdir "$CG/$1"; sh -c "echo \\$\\$ >'$CG/$1/cgroup.procs'; exec '$PORTWARD' register-owner --root '$ROOT' '$1'" >/dev/null; }
        stop_unit() { rmdir "$CG/$1"; }
        generate() { "$PORTWARD" generator --root "$ROOT" "$ROOT/run/systemd/generator"; }

        """

    @Test("the owner unit binds at every start (restarted many times, the daemon killed or restarted meanwhile); others get EADDRINUSE, also before its first start and between starts")
    func restartsAndDaemonRestarts() throws {
        let v = try BPFBox.values(Self.prologue + """
            printf 'radius 7001 tcp,udp unit:owner.service\\n' >"$ROOT/etc/portward/ports.conf"
            generate
            start --guard
            wait_log 1 'owner guard in force for radius'
            wait_guarded
            as never-started --cgroup "$CG/other" bind 4/tcp/7001 6/udp/7001
            ok=0
            for i in $(seq 10); do
                hook owner.service
                r=$(python3 "$BIND" --cgroup "$CG/owner.service" bind 4/tcp/7001 6/udp/7001 | tr '\\n' ' ')
                [ "$r" = "4/tcp/7001: bound 6/udp/7001: bound " ] && ok=$((ok + 1))
                stop_unit owner.service
                if [ $i = 3 ]; then wait_guarded; kill -9 $DAEMON; wait $DAEMON || true; DAEMON=; fi
                if [ $i = 6 ]; then start --guard; wait_log 2 'owner guard in force for radius'; wait_guarded; fi
                if [ $i = 8 ]; then kill -HUP $DAEMON; wait_log 1 'reloaded: '; fi
            done
            echo "owner-starts: $ok"
            as between --cgroup "$CG/other" bind 4/tcp/7001
            # A running owner, then the daemon restarted: it keeps the registered cgroup.
            hook owner.service
            kill -TERM $DAEMON; wait $DAEMON || true; DAEMON=
            start --guard
            wait_log 3 'owner guard in force for radius'
            wait_guarded
            as running-owner --cgroup "$CG/owner.service" bind 4/tcp/7001 6/udp/7001
            as running-other --cgroup "$CG/other" bind 4/tcp/7001 6/udp/7001
            say status sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^radius ' | awk '{ print \\$6 }' | tr '\\n' ' '"
            kill -9 $DAEMON; wait $DAEMON || true; DAEMON=
            say status-killed sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^radius ' | awk '{ print \\$6 }' | tr '\\n' ' '"
            say check sh -c "'$PORTWARD' check --root '$ROOT' 2>/dev/null | grep -E '^radius ' | awk '{ print \\$5 }'"
            """)
        #expect(v["status-killed"] == "guarded guarded", "root reads the pinned map: \(v["status-killed"] ?? "")")
        #expect(v["check"] == "guarded", "the drop-in is there")
        #expect(v["never-started 4/tcp/7001"] == "EADDRINUSE", "closed to others before the owner's first start")
        #expect(v["never-started 6/udp/7001"] == "EADDRINUSE")
        #expect(v["owner-starts"] == "10", "the owner bound at every one of 10 starts")
        #expect(v["between 4/tcp/7001"] == "EADDRINUSE", "closed to others while the owner is stopped")
        #expect(v["running-owner 4/tcp/7001"] == "bound")
        #expect(v["running-owner 6/udp/7001"] == "bound")
        #expect(v["running-other 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["running-other 6/udp/7001"] == "EADDRINUSE")
        #expect(v["status"] == "guarded guarded", "\(v["status"] ?? "")")
    }

    /// Socket activation: the socket unit's drop-in runs the hook from the socket unit's
    /// cgroup. Before the service runs, that cgroup becomes the owner (systemd makes the
    /// listeners there); while the service runs, the service stays the owner.
    @Test("the socket unit's hook makes its cgroup the owner until the service runs, and never takes it from a running service")
    func socketUnitHook() throws {
        let v = try BPFBox.values(Self.prologue + """
            printf 'radius 7001 tcp unit:owner.service\\n' >"$ROOT/etc/portward/ports.conf"
            generate
            start --guard
            wait_log 1 'owner guard in force for radius'
            wait_guarded
            sock() { mkdir -p "$CG/owner.socket"; sh -c "echo \\$\\$ >'$CG/owner.socket/cgroup.procs'; exec '$PORTWARD' register-owner --root '$ROOT' owner.service"; }
            sock
            as listener --cgroup "$CG/owner.socket" bind 4/tcp/7001
            as other --cgroup "$CG/other" bind 4/tcp/7001
            hook owner.service
            as service --cgroup "$CG/owner.service" bind 4/tcp/7001
            sock | sed 's/^/again /'
            as service-after --cgroup "$CG/owner.service" bind 4/tcp/7001
            """)
        #expect(v["listener 4/tcp/7001"] == "bound", "\(v)")
        #expect(v["other 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["service 4/tcp/7001"] == "bound")
        #expect(v["again registered owner.service"]?.contains("(owner.service runs)") == true, "\(v)")
        #expect(v["service-after 4/tcp/7001"] == "bound", "the running service is still the owner")
    }

    /// The pins are the host's: a `--root` daemon switched off (a test's, an image build's)
    /// must not empty them, nor may its owners' hooks rewrite them. Here the pins a killed
    /// `--guard` daemon left stay exactly as they were (the box stands for the host).
    @Test("a --root daemon with the guard off, and its owners' hooks, leave the pinned guard alone")
    func rootWithoutGuardLeavesThePins() throws {
        let v = try BPFBox.values(Self.prologue + """
            killed_guard
            start --no-guard
            for _ in $(seq 600); do grep -q 'switched off' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            say published sh -c "grep -c 'switched off' '$ROOT/run/portward/daemon.json' || true"
            mkdir "$CG/owner.service"
            sh -c "echo \\$\\$ >'$CG/owner.service/cgroup.procs'; exec '$PORTWARD' register-owner --root '$ROOT' owner.service"
            as owner --cgroup "$CG/owner.service" bind 4/tcp/7001
            as other --cgroup "$CG/other" bind 4/tcp/7001
            say attached attached
            """)
        #expect(v["published"] != "0", "the --no-guard daemon ran: \(v)")
        #expect(v["registered owner.service"]?.hasSuffix("(--root: this root's daemon has no guard)") == true, "\(v)")
        #expect(v["other 4/tcp/7001"] == "EADDRINUSE", "the pinned entry was not emptied")
        #expect(v["owner 4/tcp/7001"] == "EADDRINUSE", "nor rewritten to the new cgroup")
        #expect(v["attached"] == "2", "bind4 and bind6 still attached")
    }

    @Test("the hook works from the unit's own network namespace (PrivateNetwork=), and with the daemon killed")
    func hookInPrivateNetns() throws {
        let v = try BPFBox.values(Self.prologue + """
            killed_guard
            mkdir "$CG/owner.service"
            sh -c "echo \\$\\$ >'$CG/owner.service/cgroup.procs'; exec unshare -n '$PORTWARD' register-owner --root '$ROOT' owner.service"
            as owner --cgroup "$CG/owner.service" bind 4/tcp/7001
            as other --cgroup "$CG/other" bind 4/tcp/7001
            """)
        #expect(v["registered owner.service"]?.hasSuffix("1 guard entries updated") == true, "\(v)")
        #expect(v["owner 4/tcp/7001"] == "bound")
        #expect(v["other 4/tcp/7001"] == "EADDRINUSE")
    }

    @Test("a restart whose hook did not run: the daemon finds the unit's new cgroup at the recorded path within a few cycles")
    func unhookedRestartIsRepaired() throws {
        let v = try BPFBox.values(Self.prologue + """
            printf 'radius 7001 tcp unit:owner.service\\n' >"$ROOT/etc/portward/ports.conf"
            generate
            start --guard
            wait_log 1 'owner guard in force for radius'
            wait_guarded
            hook owner.service
            as hooked --cgroup "$CG/owner.service" bind 4/tcp/7001
            stop_unit owner.service
            # Started again, but the hook failed (never ran): a new cgroup at the same path.
            mkdir "$CG/owner.service"
            r=
            for _ in $(seq 600); do
                r=$(python3 "$BIND" --cgroup "$CG/owner.service" bind 4/tcp/7001)
                [ "$r" = "4/tcp/7001: bound" ] && break
                sleep 0.05
            done
            echo "unhooked: $r"
            as other --cgroup "$CG/other" bind 4/tcp/7001
            say in-force sh -c "grep -c 'owner guard in force' '$ROOT/err'"
            """)
        #expect(v["hooked 4/tcp/7001"] == "bound")
        #expect(v["unhooked"] == "4/tcp/7001: bound")
        #expect(v["other 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["in-force"] == "1", "a new cgroup id is not logged as a new guard")
    }

    @Test("an owner started before portward binds (hooked, or found running); an entry without the drop-in (no daemon-reload) is report-only")
    func ownerBeforePortwardAndNoDaemonReload() throws {
        let v = try BPFBox.values(Self.prologue + """
            printf 'early 7001 tcp unit:early.service\\nfound 7002 tcp unit:found.service\\nnew 7003 tcp unit:new.service\\nsock 7004 tcp unit:x.socket\\n' >"$ROOT/etc/portward/ports.conf"
            generate
            # early.service started (its hook ran) before any portward daemon: no guard pinned yet.
            hook early.service
            # found.service runs, but its hook never ran (started before the drop-in existed).
            mkdir "$CG/found.service"
            sh -c "echo \\$\\$ >'$CG/found.service/cgroup.procs'; exec sleep 300" &
            SLEEPER=$!
            trap 'kill $SLEEPER 2>/dev/null; [ -n "$DAEMON" ] && kill -9 $DAEMON 2>/dev/null; rm -rf "$ROOT"' EXIT
            # new.service: added to the configuration after the last daemon-reload.
            rm -r "$ROOT/run/systemd/generator/new.service.d"
            say dropins sh -c "ls '$ROOT/run/systemd/generator' | tr '\\n' ' '"
            start --guard
            wait_log 1 'owner guard in force'
            say check-new sh -c "'$PORTWARD' check --root '$ROOT' 2>&1 | grep -o 'new: report-only (not guarded): .*'"
            as early --cgroup "$CG/early.service" bind 4/tcp/7001
            as found --cgroup "$CG/found.service" bind 4/tcp/7002
            as other --cgroup "$CG/other" bind 4/tcp/7001 4/tcp/7002 4/tcp/7003 4/tcp/7004
            "$PORTWARD" status --root "$ROOT" | sed -n 's/^report-only: \\([a-z]*\\): /status-\\1: /p' || true
            # After a daemon-reload (the generator runs again) and a reload of portward, new.service is guarded.
            generate
            kill -HUP $DAEMON
            wait_log 1 'owner guard in force for early, found, new'
            as other-after --cgroup "$CG/other" bind 4/tcp/7003
            """)
        #expect(v["dropins"] == "early.service.d found.service.d", "no drop-in for x.socket (no ExecStartPre=)")
        #expect(v["early 4/tcp/7001"] == "bound")
        #expect(v["found 4/tcp/7002"] == "bound", "the running owner's cgroup is found")
        #expect(v["other 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["other 4/tcp/7002"] == "EADDRINUSE")
        #expect(v["other 4/tcp/7003"] == "bound", "no drop-in: not guarded")
        #expect(v["other 4/tcp/7004"] == "bound")
        #expect(v["status-new"] == "the generator's drop-in for new.service is missing: run systemctl daemon-reload")
        #expect(v["status-sock"]?.hasPrefix("only a .service owner can register its cgroup") == true, "\(v["status-sock"] ?? "")")
        #expect(v["other-after 4/tcp/7003"] == "EADDRINUSE")
        #expect(v["check-new"] == "new: report-only (not guarded): the generator's drop-in for new.service is missing: run systemctl daemon-reload")
    }
}

/// `guard=report-only`, in the box: the map entry lets the non-owner bind and reports it.
@Suite(.enabled(if: BPFBox.guardAvailable, "\(BPFBox.unavailableReason ?? "")"))
struct ReportOnlyGuardIntegrationTests {
    @Test("a guard=report-only entry: the non-owner's bind succeeds and is reported (journal, status), the owner binds")
    func reportOnlyReportsAndAllows() throws {
        let v = try BPFBox.values(DaemonGuardIntegrationTests.prologue + """
            printf 'quiet 7003 tcp,udp user:4242 guard=report-only\\nsvc 7001 tcp user:4242\\n' >"$ROOT/etc/portward/ports.conf"
            start --guard
            wait_log 1 'owner guard in force for svc'
            as other --cgroup "$CG/other" --uid 4243 bind 4/tcp/7003 6/udp/7003 4/tcp/7001
            as owner --cgroup "$CG/other" --uid 4242 bind 4/tcp/7003 6/udp/7003
            wait_log 1 'guard: pid [0-9]* (python3) uid 4243 bound the report-only port 7003/udp (quiet)'
            say reported-tcp sh -c "grep -c 'guard: pid [0-9]* (python3) uid 4243 bound the report-only port 7003/tcp (quiet)' '$ROOT/err' || true"
            say owner-reported sh -c "grep -c 'uid 4242 bound the report-only' '$ROOT/err' || true"
            say verdict sh -c "grep 'report-only port 7003/udp' '$ROOT/err' | grep -o 'PORTWARD_VERDICT=[a-z]*'"
            for _ in $(seq 600); do grep -q '"allowed":true' "$ROOT/run/portward/daemon.json" 2>/dev/null && break; sleep 0.05; done
            say status sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^quiet ' | awk '{ print \\$6 }' | tr '\\n' ' '"
            say status-reason sh -c "'$PORTWARD' status --root '$ROOT' | grep -E '^report-only: quiet'"
            say status-reported sh -c "'$PORTWARD' status --root '$ROOT' | grep -c '^reported: 7003/' || true"
            """)
        #expect(v["other 4/tcp/7003"] == "bound", "report-only: the bind is let through")
        #expect(v["other 6/udp/7003"] == "bound")
        #expect(v["other 4/tcp/7001"] == "EADDRINUSE", "the guarded entry next to it still refuses")
        #expect(v["owner 4/tcp/7003"] == "bound")
        #expect(v["owner 6/udp/7003"] == "bound")
        #expect(v["reported-tcp"] == "1")
        #expect(v["owner-reported"] == "0", "the owner's binds are not reported")
        #expect(v["verdict"] == "PORTWARD_VERDICT=reported")
        #expect(v["status"] == "report-only report-only", "\(v["status"] ?? "")")
        #expect(v["status-reason"] == "report-only: quiet: guard=report-only in the configuration")
        #expect(v["status-reported"] == "2")
    }
}
