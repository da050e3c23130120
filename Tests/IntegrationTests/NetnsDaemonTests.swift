import Foundation
import Testing

/// `portward run` following other network namespaces for `netns=` entries (issue 14),
/// inside `unshare -n -m -p -f --mount-proc`: the daemon's own namespace is a private one
/// (the "host" here), /run is a tmpfs of the private mount namespace (so `ip netns add`
/// pins the test's namespaces there, seen by nobody else) bound on ROOT/run (the daemon
/// looks for namespace folders under its --root), and /proc shows only the test's
/// processes (so `netns=all` reaches only namespaces the test created). Every namespace dies
/// with the test's namespaces, also on failure.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1)"))
struct NetnsDaemonTests {
    static let script = """
        mount -t tmpfs -o mode=0755 portward-test-run /run
        # Shared, so the mounts ip netns makes under /run show in ROOT/run too.
        mount --make-shared /run && mkdir -p "$ROOT/run" && mount --bind /run "$ROOT/run"
        wait_for() { # DESCRIPTION COMMAND...: up to 30 s
            local what=$1; shift
            for _ in $(seq 600); do "$@" && return 0; sleep 0.05; done
            echo "timeout: $what"; return 1
        }
        key_is() { [ "$(ip netns exec "$1" cat "$KEY")" = "$2" ]; }
        ip netns add portward-test-before
        ip netns add other-name
        ip netns exec portward-test-before sh -c "echo 7777 > $KEY"
        "$PORTWARD" run --root "$ROOT" --interval 0.05 2>"$ROOT/daemon.err" &
        DAEMON=$!
        trap 'kill $DAEMON 2>/dev/null || true' EXIT
        wait_for "host applied" grep -q '^5001,5003$' "$KEY"
        wait_for "existing namespace" key_is portward-test-before 5002-5003,7777
        # A namespace created after the daemon started.
        ip netns add portward-test-after
        wait_for "new namespace" key_is portward-test-after 5002-5003
        # A namespace held only by a process: only netns=all reaches it.
        unshare -n sleep 600 &
        HOLDER=$!
        wait_for "process namespace" sh -c "[ \\"\\$(nsenter -t $HOLDER -n cat $KEY)\\" = 5003 ]"
        # Drift inside a namespace is repaired, the other writer's port kept.
        ip netns exec portward-test-after sh -c "echo 9 > $KEY"
        wait_for "drift repaired" key_is portward-test-after 9,5002-5003
        # State folders are named INODE-COOKIE (the cookie is never reused).
        INODE=$(stat -L -c %i /run/netns/portward-test-after)
        wait_for "state file" sh -c "test -s $ROOT/run/portward/netns/$INODE-[0-9]*/state.json"
        BEFORE=$(stat -L -c %i /run/netns/portward-test-before)
        # A namespace that goes away: its folder is removed, nothing is logged.
        ip netns del portward-test-before
        wait_for "vanished folder removed" sh -c "! ls -d $ROOT/run/portward/netns/$BEFORE-* >/dev/null 2>&1"
        # A reload that drops the vpn entry releases its port in the namespaces.
        printf 'hostsvc 5001 tcp\\neverywhere 5003 tcp netns=all\\n' > "$ROOT/etc/portward/ports.conf"
        kill -HUP $DAEMON
        wait_for "released after reload" key_is portward-test-after 9,5003
        kill -TERM $DAEMON
        wait $DAEMON
        kill $HOLDER
        echo "host=$(cat "$KEY")"
        echo "other=$(ip netns exec other-name cat "$KEY")"
        cat "$ROOT/daemon.err" >&2
        """

    @Test func followsNamedAllAndNewNamespaces() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": """
            hostsvc     5001 tcp
            vpn         5002 udp netns=portward-test-*
            everywhere  5003 tcp netns=all
            pod         5004 tcp netns=pods

            """])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Netns.run(Self.script, env: ["ROOT": root],
                              unshare: ["-n", "-m", "-p", "-f", "--mount-proc"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("host=5001,5003"), "the host gets host and all entries only: \(r.stdout)")
        #expect(lines.contains("other=5003"), "a non-matching name gets only netns=all: \(r.stdout)")
        #expect(r.stderr.contains("network namespace net:[") && r.stderr.contains("portward-test-after: reserved 5002-5003"),
                "\(r.stderr)")
        #expect(r.stderr.contains("lost declared ports 5002-5003; restored"), "\(r.stderr)")
        #expect(!r.stderr.contains("cannot apply"), "a vanished namespace is not an error: \(r.stderr)")
        #expect(!r.stderr.contains("5004"), "pods entries are for the CNI plugin only: \(r.stderr)")
    }
}

/// Namespaces held only by short-lived processes, found by the rescans (every 0.5 s here)
/// while they die: one can be gone between discovery and the open, or once opened end while
/// its key is written (the open handle keeps it alive). Neither is an error: no "cannot
/// apply" line, the daemon keeps running, the host's key and a long-lived one are right.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1)"))
struct NetnsVanishingTests {
    @Test func namespacesDyingDuringRescansAreNotErrors() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "hostsvc 5001 tcp\neverywhere 5003 tcp netns=all\n"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Netns.run("""
            mount -t tmpfs -o mode=0755 portward-test-run /run
            wait_for() { local what=$1; shift; for _ in $(seq 600); do "$@" && return 0; sleep 0.05; done; echo "timeout: $what"; return 1; }
            "$PORTWARD" run --root "$ROOT" --interval 0.05 2>"$ROOT/daemon.err" &
            DAEMON=$!
            trap 'kill $DAEMON 2>/dev/null || true' EXIT
            wait_for "host applied" grep -q '^5001,5003$' "$KEY"
            unshare -n sleep 600 &
            HOLDER=$!
            # About 6 s of namespaces living 0-0.2 s each, a new one every 20 ms.
            end=$((SECONDS + 6))
            while [ $SECONDS -lt $end ]; do unshare -n sleep 0.$((RANDOM % 3)) & sleep 0.02; done
            wait_for "long-lived namespace" sh -c "[ \\"\\$(nsenter -t $HOLDER -n cat $KEY)\\" = 5003 ]"
            echo "alive=$(kill -0 $DAEMON && echo yes)"
            echo "short-lived=$(grep -c 'network namespace net:\\[[0-9]*\\] /proc/[0-9]*/ns/net: reserved 5003' "$ROOT/daemon.err")"
            kill -TERM $DAEMON
            wait $DAEMON
            kill $HOLDER
            echo "host=$(cat "$KEY")"
            cat "$ROOT/daemon.err" >&2
            """, env: ["ROOT": root], unshare: ["-n", "-m", "-p", "-f", "--mount-proc"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("alive=yes"), "\(r.stdout)")
        #expect(r.stdout.contains("host=5001,5003"), "\(r.stdout)")
        let applied = r.stdout.split(separator: "\n").first { $0.hasPrefix("short-lived=") }.flatMap { Int($0.dropFirst(12)) } ?? 0
        #expect(applied > 1, "the rescans reached short-lived namespaces: \(r.stdout)")
        #expect(!r.stderr.contains("cannot apply") && !r.stderr.contains("2f227765ff834047948d733637c66f81"),
                "a namespace that goes away is not an error: \(r.stderr)")
    }
}

/// inotify on the bind-mount folders under the daemon's --root: with a rescan period of
/// 100 s (`--interval 10`), a namespace pinned in ROOT/run/netns is covered all the same,
/// also when that folder did not exist when the daemon started; the watch is set up only
/// once an entry reaches other namespaces (a reload here); a namespace in the real /run/netns
/// (outside the root) is not the daemon's.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1)"))
struct NetnsFolderWatchTests {
    @Test func newNamedNamespaceIsCoveredWithoutWaitingForTheRescan() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "hostsvc 5001 tcp\n"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Netns.run("""
            mount -t tmpfs -o mode=0755 portward-test-run /run
            mkdir -p "$ROOT/run" && mount -t tmpfs -o mode=0755 portward-test-root-run "$ROOT/run"
            wait_for() { local what=$1; shift; for _ in $(seq 600); do "$@" && return 0; sleep 0.05; done; echo "timeout: $what"; return 1; }
            key_is() { [ "$(ip netns exec "$1" cat "$KEY" 2>/dev/null)" = "$2" ]; }
            # ip netns add pins in /run/netns; the daemon's folder is ROOT/run/netns.
            pin() { ip netns add "$1" && mkdir -p "$ROOT/run/netns" && touch "$ROOT/run/netns/$1" && mount --bind "/run/netns/$1" "$ROOT/run/netns/$1"; }
            inotify_fds() { ls -l /proc/$DAEMON/fd | grep -c 'anon_inode:inotify' || true; }
            "$PORTWARD" run --root "$ROOT" --interval 10 2>"$ROOT/daemon.err" &
            DAEMON=$!
            trap 'kill $DAEMON 2>/dev/null || true' EXIT
            wait_for "daemon state" test -e "$ROOT/run/portward/state.json"
            echo "inotify before: $(inotify_fds)"
            printf 'hostsvc 5001 tcp\nvpn 5002 udp netns=portward-test-*\n' > "$ROOT/etc/portward/ports.conf"
            kill -HUP $DAEMON
            wait_for "watch set up" sh -c "[ \\"\\$(ls -l /proc/$DAEMON/fd | grep -c anon_inode:inotify)\\" = 1 ]"
            echo "inotify after: $(inotify_fds)"
            ip netns add portward-test-outside
            pin portward-test-first
            wait_for "first namespace (folder created)" key_is portward-test-first 5002
            pin portward-test-second
            wait_for "second namespace" key_is portward-test-second 5002
            echo "outside=$(ip netns exec portward-test-outside cat "$KEY")"
            kill -TERM $DAEMON
            wait $DAEMON
            echo done
            """, env: ["ROOT": root], unshare: ["-n", "-m", "-p", "-f", "--mount-proc"])
        #expect(r.status == 0 && r.stdout.contains("done"), "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("inotify before: 0\n"), "no watch while no entry needs one: \(r.stdout)")
        #expect(r.stdout.contains("inotify after: 1\n"), "\(r.stdout)")
        #expect(r.stdout.contains("outside=\n"), "/run/netns is not under --root: \(r.stdout)")
    }
}

/// `status --netns NAME|PATH|all` (issue 14): the entries that select each namespace, its
/// key and its sockets (sock_diag inside it), the table per namespace and the JSON's
/// `namespace` member.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1)"))
struct NetnsStatusTests {
    @Test func statusPerNamespace() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": """
            hostsvc     5001 tcp
            vpn         5002 udp netns=portward-test-*
            everywhere  5003 tcp netns=all

            """])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Netns.run("""
            mount -t tmpfs -o mode=0755 portward-test-run /run
            ip netns add portward-test-s
            # The namespace holds 5002 (someone else's) but not 5003: unreserved there.
            ip netns exec portward-test-s sh -c "echo 5002 > $KEY"
            ip netns exec portward-test-s python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",5003)); s.listen(); print("up", flush=True); time.sleep(600)' > "$ROOT/held" &
            for _ in $(seq 600); do grep -q up "$ROOT/held" && break; sleep 0.05; done
            # status --root looks in ROOT/run/netns, as the daemon and check do: the name is
            # moved there (a private bind of the namespace file), and /run/netns loses it.
            mkdir -p "$ROOT/run/netns" && touch "$ROOT/run/netns/portward-test-s"
            mount --bind /run/netns/portward-test-s "$ROOT/run/netns/portward-test-s"
            mount --make-private "$ROOT/run/netns/portward-test-s"
            ip netns del portward-test-s
            test ! -e /run/netns/portward-test-s
            echo "--- one"; rc=0; "$PORTWARD" status --root "$ROOT" --netns portward-test-s || rc=$?; echo "rc=$rc"
            echo "--- all"; rc=0; "$PORTWARD" status --root "$ROOT" --netns all || rc=$?; echo "rc=$rc"
            "$PORTWARD" status --root "$ROOT" --netns "$ROOT/run/netns/portward-test-s" --json > "$ROOT/one.json" || true
            "$PORTWARD" status --root "$ROOT" --netns all --json > "$ROOT/all.json" || true
            echo "--- json"
            python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["namespace"]["names"], d["namespace"]["host"], [(e["name"], e["reserved"], len(e["sockets"])) for e in d["entries"]])' "$ROOT/one.json"
            python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([(x["namespace"]["host"], x["namespace"]["names"], [e["name"] for e in x["entries"]]) for x in d])' "$ROOT/all.json"
            echo "--- missing"; rc=0; "$PORTWARD" status --root "$ROOT" --netns nosuch 2>&1 || rc=$?; echo "rc=$rc"
            """, env: ["ROOT": root], unshare: ["-n", "-m", "-p", "-f", "--mount-proc"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let out = r.stdout
        #expect(out.contains("--- one\nnetwork namespace net:["), "\(out)")
        #expect(out.contains("] portward-test-s\n"), "\(out)")
        #expect(out.contains("vpn         udp    5002   yes       free        -"), "\(out)")
        #expect(out.contains("everywhere  tcp    5003   no        unreserved  -      5003 python3["), "\(out)")
        let one = out.components(separatedBy: "--- all")[0]
        #expect(!one.contains("hostsvc"), "hostsvc only in the host's block: \(out)")
        #expect(out.contains("] (host)\n"), "\(out)")
        #expect(out.contains("rc=3\n--- all"), "unreserved in the namespace: exit 3: \(out)")
        #expect(out.contains("['portward-test-s'] False [('vpn', 'yes', 0), ('everywhere', 'no', 1)]"), "\(out)")
        #expect(out.contains("[(True, [], ['hostsvc', 'everywhere']), (False, ['portward-test-s'], ['vpn', 'everywhere'])]"), "\(out)")
        #expect(out.contains("--netns nosuch: no network namespace of that name in \(root)/run/netns (ip netns list)\nrc=1"), "\(out)")
        // Every emitted field is in the published schema, which has the array of --netns all.
        if ExternalTools.jsonschemaPython != nil {
            let check = try StatusSchemaIntegrationTests.validate(["\(root)/one.json", "\(root)/all.json"], strict: true)
            #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        }
    }
}
