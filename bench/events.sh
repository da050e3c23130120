#!/usr/bin/env bash
# Events versus polling (issue 13, BENCHMARKS.md "Events, not polls"), side by side in one
# run, inside the box of Tests/IntegrationTests/Support/bpf-box.sh: a throwaway cgroup as the
# cgroup root, a private network namespace, cgroup2 mount and bpffs. The BPF programs are
# attached at the box's root only, never at the host's root cgroup; the box is removed
# afterwards. Root only.
#
# Usage: bench/events.sh [--quick]     BENCH_PORTWARD=FILE: measure that binary (default: a
#        release build, --static-swift-stdlib, in .build-bench-release)
# Writes bench/results/events.json (bench/events.py: idle CPU, latency, bind-and-exit, RSS),
# events-bind.txt (ns per socket+bind+close with and without the programs) and
# events-startup.txt (callgrind instructions before READY=1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
out=${BENCH_OUT:-$here/results}
work=/tmp/portward-bench-events
[ "$(id -u)" -eq 0 ] || { echo "bench/events.sh: needs root" >&2; exit 1; }
mkdir -p "$out"
rm -rf "$work"; mkdir -p "$work"
if [ -n "${BENCH_PORTWARD:-}" ]; then
    cp "$BENCH_PORTWARD" "$work/portward.unstripped"
else
    (cd "$top" && swift build -c release --static-swift-stdlib --scratch-path .build-bench-release --product portward >"$work/build.log" 2>&1)
    cp "$(cd "$top" && swift build -c release --static-swift-stdlib --scratch-path .build-bench-release --show-bin-path)/portward" "$work/portward.unstripped"
fi
strip --strip-debug -o "$work/portward" "$work/portward.unstripped"
cc -O2 -Wall -o "$work/bindloop" "$here/bindloop.c"
cc -O2 -Wall -o "$work/notify-wait" "$here/notify-wait.c"
chmod 755 "$work"

W=$work HERE=$here QUICK=${1:-} bash "$top/Tests/IntegrationTests/Support/bpf-box.sh" '
set -eu
python3 "$HERE/events.py" "$W/portward" "$W/box" $QUICK
' >"$out/events.json"
cat "$out/events.json"

# The cost post_bind adds to one bind(): socket+bind+close (bench/bindloop.c) from inside the
# box (the programs run) and from outside its cgroup in the same netns (`outside`: they do
# not), interleaved, 7 rounds, medians; on an undeclared port (one map lookup) and a
# declared one (a ring-buffer record the daemon reads). With the events daemon running.
W=$work QUICK=${1:-} bash "$top/Tests/IntegrationTests/Support/bpf-box.sh" '
set -eu
root=$(mktemp -d); mkdir -p "$root/etc/portward"
printf "svc 40000 udp unit:svc.service\n" >"$root/etc/portward/ports.conf"
NOTIFY_SOCKET= "$W/portward" run --root "$root" --guard 2>/dev/null & d=$!
for _ in $(seq 100); do grep -q "\"mode\":\"events\"" "$root/run/portward/daemon.json" 2>/dev/null && break; sleep 0.1; done
n=100000; [ -n "$QUICK" ] && n=10000
for round in 1 2 3 4 5 6 7; do
    echo "inside undeclared $("$W/bindloop" 45000 $n)"
    echo "outside undeclared $(outside "$W/bindloop" 45000 $n)"
    echo "inside declared $("$W/bindloop" 40000 $n)"
    echo "outside declared $(outside "$W/bindloop" 40000 $n)"
done | sort | awk "{ v[\$1\" \"\$2] = v[\$1\" \"\$2] \" \" \$3 } END { for (k in v) print k \":\" v[k] }" | sort
kill $d; wait $d || true
"$W/portward" guard --detach --root "$root" >/dev/null 2>&1 || true
' | tee "$out/events-bind.txt"

# Start-up instructions (user space, callgrind), exec to READY=1 (the first sd_notify),
# median of 3: polling (--root: no BPF) and events (--root --guard), for this binary and,
# with BENCH_BASELINE=FILE, for that one too; "guarded" adds one user: entry (the guard's
# programs load in both binaries: the events' share of the BPF start-up).
[ -n "${BENCH_BASELINE:-}" ] && strip --strip-debug -o "$work/baseline" "$BENCH_BASELINE"
W=$work bash "$top/Tests/IntegrationTests/Support/bpf-box.sh" '
set -eu
root=$(mktemp -d); mkdir -p "$root/etc/portward"
write_config() {
python3 - "$root/etc/portward/ports.conf" "$1" <<PY
import sys
with open(sys.argv[1], "w") as f:
    for i in range(50):
        f.write(f"svc{i}\t{40000 + 2 * i}-{40001 + 2 * i}\ttcp,udp\tunit:svc{i}.service\n")
    if sys.argv[2] == "guarded":
        f.write("guarded\t40100\ttcp\tuser:4242\n")
PY
}
measure() {
    local bin=$1; shift
    for _ in 1 2 3; do
        printf "\n" >/proc/sys/net/ipv4/ip_local_reserved_ports; rm -rf "$root/run/portward" "$W"/callgrind.out.*
        (cd "$W" && "$W/notify-wait" valgrind --tool=callgrind --dump-before=sd_notify "$bin" run --root "$root" "$@" >/dev/null 2>&1) || true
        f=$(ls "$W"/callgrind.out.*.1 2>/dev/null | head -1)
        [ -n "$f" ] && awk "/^summary:/ { print \$2 }" "$f"
        "$W/portward" guard --detach --root "$root" >/dev/null 2>&1 || true
    done | sort -n | sed -n 2p
}
for bin in portward baseline; do
    [ -x "$W/$bin" ] || continue
    write_config plain
    echo "$bin polling (--root): $(measure "$W/$bin")"
    echo "$bin --guard, no owner entry: $(measure "$W/$bin" --guard)"
    write_config guarded
    echo "$bin --guard, guarded entry: $(measure "$W/$bin" --guard)"
    if [ "$bin" = portward ]; then echo "$bin --guard --no-events, guarded entry: $(measure "$W/$bin" --guard --no-events)"; fi
done
' | tee "$out/events-startup.txt"
