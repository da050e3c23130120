import Foundation
import Testing

/// `portward run` following other network namespaces for `netns=` entries (issue 14),
/// inside `unshare -n -m -p -f --mount-proc`: the daemon's own namespace is a private one
/// (the "host" here), /run is a tmpfs of the private mount namespace (so `ip netns add`
/// pins the test's namespaces there, seen by nobody else), and /proc shows only the test's
/// processes (so `netns=all` reaches only namespaces the test created). Every namespace dies
/// with the test's namespaces, also on failure.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1)"))
struct NetnsDaemonTests {
    static let script = """
        mount -t tmpfs -o mode=0755 portward-test-run /run
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
        INODE=$(stat -L -c %i /run/netns/portward-test-after)
        wait_for "state file" test -s "$ROOT/run/portward/netns/$INODE/state.json"
        BEFORE=$(stat -L -c %i /run/netns/portward-test-before)
        # A namespace that goes away: its folder is removed, nothing is logged.
        ip netns del portward-test-before
        wait_for "vanished folder removed" sh -c "! test -e $ROOT/run/portward/netns/$BEFORE"
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
