#!/usr/bin/env bash
# Runs the whole benchmark suite of BENCHMARKS.md and writes the results to
# bench/results/ (summary.md, the hyperfine JSON of every round, the micro benchmark table).
#
# Usage (root; nothing touches the host's network settings: every section runs in a
# private network namespace made with `unshare -n`):
#   bench/run.sh            everything (about 6 minutes of measuring on 2 cores, plus the builds)
#   bench/run.sh --quick    fewer runs and rounds, a 10 s RSS wait (a smoke test of the suite)
#   BENCH_PORTWARD=FILE bench/run.sh   measure that portward binary instead of building one
#                           (before/after comparisons); BENCH_OUT=DIR writes results there
#
# Sections: build (static release, stripped) -> exec to READY=1 -> one poll at 0/10k/100k
# unrelated sockets -> holder attribution -> conflict detection latency -> idle RSS and size
# -> the owner guard's cost per bind() and at start-up (in the BPF box) -> 1,000 network
# namespaces (netns_scale.py: first apply, RSS, idle CPU, time to cover a new one;
# BENCH_NETNS, BENCH_NETNS_NEW, BENCH_NETNS_IDLE) -> micro benchmarks (ordo-one/benchmark,
# package bench/). Whole-process comparisons use
# hyperfine: every command of a comparison runs in the same hyperfine call, and the call is
# repeated ROUNDS times with the command order rotated (A/B interleaved); medians are over
# the pooled runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
out=${BENCH_OUT:-$here/results}
export BENCH_OUT=$out
work=/tmp/portward-bench

if [ "${1:-}" = "--quick" ]; then
    export BENCH_RUNS=5 BENCH_ROUNDS=2 BENCH_IDLE=10 BENCH_LATENCY_ROUNDS=3
    export BENCH_NETNS=100 BENCH_NETNS_NEW=10 BENCH_NETNS_IDLE=10
    shift
fi
runs=${BENCH_RUNS:-30} rounds=${BENCH_ROUNDS:-3} idle=${BENCH_IDLE:-60} latency_rounds=${BENCH_LATENCY_ROUNDS:-12}
netns_count=${BENCH_NETNS:-1000} netns_new=${BENCH_NETNS_NEW:-50}

# --- sections, each run as `unshare -n bench/run.sh --section NAME` ---------------------

lo_up() { ip link set lo up; }

# hyperfine_rounds NAME CMD... : ROUNDS hyperfine calls over the commands (NAME::COMMAND),
# the order rotated each round; JSON to $out/NAME-rN.json.
hyperfine_rounds() {
    local name=$1; shift
    local -a pairs=("$@")
    local n=${#pairs[@]}
    for ((r = 0; r < rounds; r++)); do
        local -a args=()
        for ((i = 0; i < n; i++)); do
            local pair=${pairs[$(((i + r) % n))]}
            args+=(--command-name "${pair%%::*}" "${pair#*::}")
        done
        hyperfine -N -i --style basic --warmup 3 --runs "$runs" ${prepare:+--prepare "$prepare"} \
            --export-json "$out/$name-r$r.json" "${args[@]}" >>"$out/hyperfine.log" 2>&1
    done
}

section_ready() {
    lo_up
    local bin=$work/portward key=/proc/sys/net/ipv4/ip_local_reserved_ports
    # The same ports as one sysctl.d line: the value portward writes.
    "$bin" apply --root "$work/root50" >/dev/null 2>&1
    local value
    value=$(cat "$key")
    printf 'net.ipv4.ip_local_reserved_ports = %s\n' "$value" >"$work/50-ports.conf"
    prepare="sh -c 'printf \"\\\\n\" > $key; rm -rf $work/root50/run/portward'"
    hyperfine_rounds ready \
        "portward run (exec to READY=1)::$work/notify-wait $bin run --root $work/root50" \
        "portward apply::$work/notify-wait --exit $bin apply --root $work/root50" \
        "systemd-sysctl FILE::$work/notify-wait --exit $(systemd_sysctl) $work/50-ports.conf" \
        "sysctl -w::$work/notify-wait --exit sysctl -q -w net.ipv4.ip_local_reserved_ports=$value"
    # Check that every side really applied the ports.
    for cmd in "$bin apply --root $work/root50" "$(systemd_sysctl) $work/50-ports.conf"; do
        printf '\n' >"$key"; rm -rf "$work/root50/run/portward"
        $cmd >/dev/null 2>&1
        [ "$(cat "$key")" = "$value" ] || { echo "bench: $cmd did not apply the ports" >&2; exit 1; }
    done
}

section_poll() {
    lo_up
    local bin=$work/portward
    "$bin" apply --root "$work/root50" >/dev/null 2>&1
    for count in 0 10000 100000; do
        python3 "$here/sockets.py" hold "$count" >"$work/holder.out" &
        local holder=$!
        until grep -q ready "$work/holder.out" 2>/dev/null; do kill -0 "$holder"; sleep 0.1; done
        prepare="" hyperfine_rounds "poll-$count" \
            "portward status ($count sockets)::$bin status --root $work/root50" \
            "ss -Htuln ($count sockets)::ss -Htuln" \
            "ss -Htuln sport ($count sockets)::ss -Htuln 'sport = :40000'"
        kill "$holder"; wait "$holder" 2>/dev/null || true
    done
}

section_attribution() {
    lo_up
    local bin=$work/portward
    "$bin" apply --root "$work/root1" >/dev/null 2>&1
    python3 "$here/sockets.py" hold 0 40000 >"$work/holder.out" &
    local holder=$!
    until grep -q ready "$work/holder.out" 2>/dev/null; do kill -0 "$holder"; sleep 0.1; done
    { "$bin" status --root "$work/root1" || true; } | grep -q python || { echo "bench: status did not attribute 40000" >&2; exit 1; }
    prepare="" hyperfine_rounds attribution \
        "portward status (1 port)::$bin status --root $work/root1" \
        "ss -Htulpn sport::ss -Htulpn 'sport = :40000'"
    kill "$holder"; wait "$holder" 2>/dev/null || true
}

section_latency() {
    lo_up
    python3 "$here/latency.py" "$work/portward" "$work/root1" 40000 "$latency_rounds" >"$out/latency.json"
}

# The network-namespace scale case (issue 14): run under `unshare -n -m -p -f --mount-proc
# --propagation private` (see the driver), so /run, the namespaces and /proc are private.
section_netns() {
    python3 "$here/netns_scale.py" "$work/portward" "$work" "$netns_count" "$netns_new" >"$out/netns.json"
}

section_rss() {
    lo_up
    local bin=$work/portward
    NOTIFY_SOCKET= "$bin" run --root "$work/root50" 2>/dev/null &
    local pid=$!
    sleep "$idle"
    grep -E '^(VmRSS|VmHWM|RssAnon|RssFile)' "/proc/$pid/status" >"$out/rss.txt"
    kill "$pid"; wait "$pid" || true
}

# The owner guard (docs/guard.md): the cost it adds to one bind() and to start-up. Runs in
# the box of Tests/IntegrationTests/Support/bpf-box.sh (a throwaway cgroup as the cgroup
# namespace root, private netns and bpffs): the programs are attached at the box's root
# only. bind-loop times bind() alone, BENCH_BINDS times per case, median of 5 repetitions.
section_guard() {
    local box=$top/Tests/IntegrationTests/Support/bpf-box.sh
    export BIN=$work/portward LOOP=$work/bind-loop NOTIFY_WAIT=$work/notify-wait OUT=$out RUNS=$runs ROUNDS=$rounds
    export BINDS=${BENCH_BINDS:-20000}
    # shellcheck disable=SC2016 # expanded inside the box
    bash "$box" '
        R=$(mktemp -d)
        mkdir -p "$R/etc/portward"
        printf "svc 7001 tcp,udp user:4242\nunit 7003 tcp,udp unit:owner.service\n" >"$R/etc/portward/ports.conf"
        "$BIN" generator --root "$R" "$R/run/systemd/generator"
        mkdir "$CG/owner.service" "$CG/other"
        chmod 755 "$R"
        # loop NAME CGROUP UID PORT PROTO FAMILY: 5 repetitions, the median of their medians.
        loop() {
            local name=$1 cg=$2 uid=$3 port=$4 proto=$5 family=$6 m=()
            for _ in 1 2 3 4 5; do
                m+=("$(sh -c "echo \$\$ >$cg/cgroup.procs; exec setpriv --reuid $uid --regid $uid --clear-groups $LOOP $port $proto $family $BINDS")")
            done
            printf "%s\n" "${m[@]}" | sort -t= -k2 -n | sed -n 3p | sed "s|^|$name |" >>"$OUT/guard-bind.txt"
        }
        : >"$OUT/guard-bind.txt"
        for pf in "tcp 4" "udp 6"; do
            set -- $pf
            loop "no-programs declared $1/$2" "$CG/other" 4243 7001 $1 $2
            loop "no-programs undeclared $1/$2" "$CG/other" 4243 7002 $1 $2
        done
        sh -c "echo \$\$ >$CG/owner.service/cgroup.procs; exec \"$BIN\" register-owner --root \"$R\" owner.service" >/dev/null
        "$BIN" run --root "$R" --guard 2>"$R/err" & daemon=$!
        for _ in $(seq 600); do grep -q "owner guard in force" "$R/err" && break; sleep 0.05; done
        grep -q "owner guard in force" "$R/err" || { cat "$R/err" >&2; exit 1; }
        for pf in "tcp 4" "udp 6"; do
            set -- $pf
            loop "guard undeclared $1/$2" "$CG/other" 4243 7002 $1 $2
            loop "guard owner-uid $1/$2" "$CG/other" 4242 7001 $1 $2
            loop "guard owner-cgroup $1/$2" "$CG/owner.service" 0 7003 $1 $2
            loop "guard denied $1/$2" "$CG/other" 4243 7001 $1 $2
        done
        kill -9 $daemon; wait $daemon 2>/dev/null || true
        # Start-up: exec to READY=1 without the guard, installing it (detached before each
        # run), and taking over the pins (notify-wait SIGKILLs the daemon: they stay).
        # ROUNDS calls, the command order rotated (A/B interleaved), as the other sections.
        names=("portward run --no-guard" "portward run --guard (install)" "portward run --guard (take over)")
        # Take-over needs no preparation: hyperfine runs all runs of one command in a row, and
        # notify-wait SIGKILLs each daemon, so the pins of the warm-up run are there.
        prepares=("true" "$BIN guard --detach --root $R" "true")
        commands=("$NOTIFY_WAIT $BIN run --root $R --no-guard" "$NOTIFY_WAIT $BIN run --root $R --guard" "$NOTIFY_WAIT $BIN run --root $R --guard")
        for ((r = 0; r < ROUNDS; r++)); do
            args=()
            for ((i = 0; i < 3; i++)); do
                j=$(((i + r) % 3))
                args+=(--prepare "sh -c \"${prepares[$j]}\"" --command-name "${names[$j]}" "${commands[$j]}")
            done
            hyperfine -N -i --style basic --warmup 3 --runs "$RUNS" --export-json "$OUT/guard-ready-r$r.json" \
                "${args[@]}" >>"$OUT/hyperfine.log" 2>&1
        done
        "$BIN" guard --detach --root "$R" >/dev/null
        # The hold fallback: what the synchronous release and hold add to an owner start and
        # stop (both hooks, run from the owner cgroup), with a daemon holding the 2 sockets
        # of the unit entry, and with no daemon (nothing to release: the hooks return at once).
        # The owner cgroup is removed first, so the daemon finds the unit stopped.
        hooks="sh -c \"echo \\\$\\\$ >$CG/owner.service/cgroup.procs; $BIN register-owner --root $R owner.service >/dev/null; $BIN owner-stopped --root $R owner.service >/dev/null\""
        hyperfine -N -i --style basic --warmup 3 --runs "$RUNS" --export-json "$OUT/hold-hooks-r0.json" \
            --command-name "register-owner + owner-stopped (no daemon)" "$hooks" >>"$OUT/hyperfine.log" 2>&1
        rmdir "$CG/owner.service"
        "$BIN" run --root "$R" --no-guard --hold 2>"$R/err-hold" & daemon=$!
        for _ in $(seq 600); do grep -q "hold fallback: holding 2 sockets of unit" "$R/err-hold" && break; sleep 0.05; done
        grep -q "hold fallback: holding 2 sockets of unit" "$R/err-hold" || { cat "$R/err-hold" >&2; exit 1; }
        mkdir "$CG/owner.service"
        hyperfine -N -i --style basic --warmup 3 --runs "$RUNS" --export-json "$OUT/hold-hooks-r1.json" \
            --command-name "register-owner + owner-stopped (hold daemon, 2 sockets)" "$hooks" >>"$OUT/hyperfine.log" 2>&1
        grep -c "released 2 sockets to owner.service (its start hook)" "$R/err-hold" >"$OUT/hold-hooks-released.txt" || true
        kill $daemon; wait $daemon 2>/dev/null || true
        rm -rf "$R"
    '
}

section_micro() {
    lo_up  # the benchmark plugin talks to SwiftPM over loopback
    cd "$here"
    swift package --scratch-path "$top/.build-bench" benchmark --format markdown \
        --no-progress >"$out/micro.md" 2>"$out/micro.log"
}

systemd_sysctl() {
    for p in /usr/lib/systemd/systemd-sysctl /lib/systemd/systemd-sysctl; do
        [ -x "$p" ] && { echo "$p"; return; }
    done
    echo "bench: systemd-sysctl not found" >&2; exit 1
}

if [ "${1:-}" = "--section" ]; then
    "section_$2"
    exit
fi

# --- driver --------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || { echo "bench/run.sh: needs root (unshare -n, sysctl writes in the netns)" >&2; exit 1; }
"$top/scripts/deps" --bench
rm -rf "$out" "$work"
mkdir -p "$out" "$work"

if [ -n "${BENCH_PORTWARD:-}" ]; then
    echo "== using $BENCH_PORTWARD (BENCH_PORTWARD; no build)"
    cp "$BENCH_PORTWARD" "$work/portward.unstripped"
else
    echo "== build (release, --static-swift-stdlib)"
    (cd "$top" && swift build -c release --static-swift-stdlib --scratch-path .build-bench-release >"$out/build.log" 2>&1)
    bindir=$(cd "$top" && swift build -c release --static-swift-stdlib --scratch-path .build-bench-release --show-bin-path)
    cp "$bindir/portward" "$work/portward.unstripped"
fi
strip -o "$work/portward" "$work/portward.unstripped"
cc -O2 -Wall -o "$work/notify-wait" "$here/notify-wait.c"
cc -O2 -Wall -o "$work/bind-loop" "$here/bind-loop.c"
chmod 755 "$work" "$work/bind-loop"
{
    echo "unstripped_bytes $(stat -c %s "$work/portward.unstripped")"
    echo "stripped_bytes $(stat -c %s "$work/portward")"
    echo "needed $(readelf -d "$work/portward" | awk '/NEEDED/ {gsub(/[\[\]]/, "", $5); printf "%s ", $5}')"
} >"$out/size.txt"

# Configurations: 50 entries on 40000-40099, inside ip_local_port_range so no warnings
# (exec to READY, poll, RSS), and one entry on port 40000 owned by
# someone the holder is not (attribution, latency).
mkdir -p "$work/root50/etc/portward" "$work/root1/etc/portward"
python3 - "$work/root50/etc/portward/ports.conf" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# NAME PORTS PROTOCOLS OWNER\n")
    for i in range(50):
        port = 40000 + 2 * i
        ports = f"{port}-{port + 1}" if i % 5 == 0 else str(port)
        proto = ["tcp", "udp", "tcp,udp", "-"][i % 4]
        owner = [f"unit:svc{i}.service", "user:root", f"exe:/usr/bin/svc{i}", "-"][i % 4]
        f.write(f"svc{i}\t{ports}\t{proto}\t{owner}\n")
EOF
printf 'svc0\t40000\ttcp\texe:/usr/sbin/declared-owner\n' >"$work/root1/etc/portward/ports.conf"

for section in ready poll attribution latency rss; do
    echo "== $section"
    unshare -n "$here/run.sh" --section "$section"
done
# The box makes its own network namespace (and cgroup, bpffs).
echo "== guard"
"$here/run.sh" --section guard
echo "== netns ($netns_count namespaces)"
PORTWARD_BENCH_HOST_MNTNS=$(readlink /proc/self/ns/mnt) PORTWARD_BENCH_HOST_NETNS=$(readlink /proc/self/ns/net) \
    unshare -n -m -p -f --mount-proc --propagation private "$here/run.sh" --section netns
echo "== micro benchmarks"
(cd "$here" && swift build -c release --scratch-path "$top/.build-bench" >"$out/micro-build.log" 2>&1)
# The socket benchmarks only run when the netns differs from this one.
PORTWARD_BENCH_HOST_NETNS=$(readlink /proc/self/ns/net) unshare -n "$here/run.sh" --section micro

python3 "$here/summarize.py" "$out" >"$out/summary.md"
cat "$out/summary.md"
