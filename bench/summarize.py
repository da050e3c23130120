#!/usr/bin/python3
"""Summarizes bench/results/ (written by bench/run.sh) as Markdown: medians of the pooled
hyperfine runs of every round, the ratios the targets of BENCHMARKS.md are stated in, and
whether each target is met.

  summarize.py RESULTS_DIR
"""
import glob, json, os, re, statistics, sys

out = sys.argv[1]

def pooled(group):
    """command name -> list of run times (s), pooled over the rounds of `group`."""
    times = {}
    for path in sorted(glob.glob(os.path.join(out, f"{group}-r*.json"))):
        for result in json.load(open(path))["results"]:
            times.setdefault(result["command"], []).extend(result["times"])
    return times

def median_ms(times):
    return statistics.median(times) * 1000

rows = []    # (comparison, command, median ms, runs)
checks = []  # (target, measured, met)

def table(group, title):
    times = pooled(group)
    medians = {name: median_ms(t) for name, t in times.items()}
    for name, t in times.items():
        rows.append((title, name, medians[name], len(t)))
    return medians

def find(medians, prefix):
    for name, value in medians.items():
        if name.startswith(prefix):
            return value
    return None

def check(target, value, limit, unit="×"):
    if value is None:
        checks.append((target, "not measured", False))
    else:
        checks.append((target, f"{value:.2f}{unit} (limit {limit}{unit})", value <= limit))

ready = table("ready", "exec to READY=1, 50 entries")
pw_ready = find(ready, "portward run")
sd = find(ready, "systemd-sysctl")
if pw_ready and sd:
    check("exec→READY=1 ≤ 1.0× systemd-sysctl FILE", pw_ready / sd, 1.0)

polls = {}
for count in (0, 10000, 100000):
    polls[count] = table(f"poll-{count}", f"one poll, {count} unrelated sockets")
status = {c: find(polls[c], "portward status") for c in polls}
full = {c: find(polls[c], "ss -Htuln (") for c in polls}
if status[0] and status[100000]:
    check("portward status, 100k sockets ≤ 1.5× 0 sockets (whole process)", status[100000] / status[0], 1.5)
if status[100000] and full[100000]:
    check("portward status, 100k sockets ≤ 0.1× ss -Htuln (whole process)", status[100000] / full[100000], 0.1)

guard_ready = table("guard-ready", "owner guard: exec to READY=1, 2 entries (BPF box)")
hold_hooks = table("hold-hooks", "hold fallback: an owner's start and stop hooks")
attribution = table("attribution", "holder attribution, 1 declared port")
pw_attr = find(attribution, "portward status")
ss_attr = find(attribution, "ss -Htulpn")
if pw_attr and ss_attr:
    check("attribution ≤ 1.0× ss -Htulpn 'sport = :P'", pw_attr / ss_attr, 1.0)

# Micro benchmarks: the pure poll ratio (no process start-up), from the p50 wall clock.
micro = open(os.path.join(out, "micro.md")).read() if os.path.exists(os.path.join(out, "micro.md")) else ""

def micro_p50(name):
    """p50 wall clock of benchmark `name` in µs from the markdown tables, or None."""
    block = micro.split(f"### {name}\n", 1)
    if len(block) < 2:
        return None
    for line in block[1].splitlines():
        if line.startswith("### "):
            break
        if line.startswith("| Time (wall clock)"):
            unit = re.search(r"\((ns|μs|us|ms|s)\) \*", line)
            scale = {"ns": 0.001, "us": 1, "μs": 1, "ms": 1000, "s": 1e6}[unit.group(1) if unit else "us"]
            cells = [c.strip() for c in line.split("|")[2:-1]]
            return float(cells[2].replace(",", "")) * scale  # columns: p0, p25, p50, ...
    return None

poll0 = micro_p50("watch poll, 0 unrelated sockets")
poll100k = micro_p50("watch poll, 100000 unrelated sockets")
if poll0 and poll100k:
    check("one watch poll (in process), 100k sockets ≤ 1.5× 0 sockets", poll100k / poll0, 1.5)
if poll100k and full[100000]:
    check("one watch poll (in process), 100k sockets ≤ 0.1× ss -Htuln", poll100k / 1000 / full[100000], 0.1)

latency_path = os.path.join(out, "latency.json")
latencies = json.load(open(latency_path))["latencies_ms"] if os.path.exists(latency_path) else []
if latencies:
    checks.append(("detection latency ≤ interval (1 s) + 50 ms, worst of rounds",
                   f"median {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms over {len(latencies)}",
                   max(latencies) <= 1050))

rss = {}
if os.path.exists(os.path.join(out, "rss.txt")):
    for line in open(os.path.join(out, "rss.txt")):
        key, value = line.split(":")
        rss[key] = int(value.split()[0])
if "VmRSS" in rss:
    checks.append(("idle RSS after the idle wait ≤ 8 MB",
                   f"{rss['VmRSS'] / 1024:.1f} MiB (peak {rss.get('VmHWM', 0) / 1024:.1f} MiB, anon {rss.get('RssAnon', 0) / 1024:.1f}, file {rss.get('RssFile', 0) / 1024:.1f})",
                   rss["VmRSS"] <= 8 * 1000))

netns_path = os.path.join(out, "netns.json")
if os.path.exists(netns_path):
    n = json.load(open(netns_path))
    new = n["newNamespaceMs"]["fromSpawn"]
    checks.append((f"a new ip netns namespace covered ≤ 100 ms after its bind mount ({n['namespaces']} followed), p99 of {n['newNamespaceMs']['count']}",
                   f"p50 {new['p50']:.0f} ms, p90 {new['p90']:.0f} ms, p99 {new['p99']:.0f} ms ({new['over100']} over 100 ms; from ip netns add's spawn); "
                   f"first apply to all {n['firstApplySeconds']:.2f} s; RSS {n['finalKB']['VmRSS'] / 1024:.1f} MiB "
                   f"(no namespace: {n['baselineKB']['VmRSS'] / 1024:.1f}); idle CPU {n['idleCPUSeconds']:.2f} s in {n['idleSeconds']:.0f} s",
                   new["p99"] <= 100))

size = {}
for line in open(os.path.join(out, "size.txt")):
    key, _, value = line.partition(" ")
    size[key] = value.strip()
stripped = int(size["stripped_bytes"])
checks.append(("stripped release binary ≤ 15 MB",
               f"{stripped / 1e6:.2f} MB (unstripped {int(size['unstripped_bytes']) / 1e6:.2f} MB; needs {size['needed']})",
               stripped <= 15e6))

print("## Whole-process medians (hyperfine, pooled rounds)\n")
print("| comparison | command | median (ms) | runs |")
print("|---|---|---:|---:|")
for title, name, value, n in rows:
    print(f"| {title} | {name} | {value:.2f} | {n} |")
print("\n## Ratios")
print()
for title, medians in [("exec to READY=1", ready), ("attribution", attribution)] + \
        [(f"poll, {c} sockets", polls[c]) for c in polls]:
    names = list(medians)
    if not names:
        continue
    base = names[0] if not names[0].startswith("portward") else names[0]
    ours = [n for n in names if n.startswith("portward")]
    for o in ours:
        others = ", ".join(f"{medians[o] / medians[n]:.2f}× {n}" for n in names if n != o)
        print(f"- {title}: {o} = {others}")
if poll0 and poll100k:
    print(f"- in-process watch poll: {poll0:.1f} µs (0 sockets), {poll100k:.1f} µs (100k sockets)")
dump0 = micro_p50("sock_diag filtered dump, 0 unrelated sockets")
dump100k = micro_p50("sock_diag filtered dump, 100000 unrelated sockets")
if dump0 and dump100k:
    print(f"- in-process filtered sock_diag dump alone: {dump0:.1f} µs (0 sockets), {dump100k:.1f} µs (100k sockets)"
          + (f", {dump100k / 1000 / full[100000]:.3f}× ss -Htuln" if full[100000] else ""))
print("\n## Targets\n")
print("| target | measured | met |")
print("|---|---|---|")
for target, measured, met in checks:
    print(f"| {target} | {measured} | {'yes' if met else '**no**'} |")

guard_bind = os.path.join(out, "guard-bind.txt")
if os.path.exists(guard_bind):
    print("\n## Owner guard: one bind() (bench/bind-loop.c in the BPF box, median of 5 medians)\n")
    print("| case | protocol/family | median (ns) | mean (ns) | result |")
    print("|---|---|---:|---:|---|")
    for line in open(guard_bind):
        m = re.match(r"(\S+) (\S+) (\S+) median_ns=(\d+) mean_ns=(\d+) bound=(\d+) eaddrinuse=(\d+) other=(\d+)", line)
        if not m:
            continue
        result = "bound" if int(m[6]) else ("EADDRINUSE" if int(m[7]) else "other errors")
        print(f"| {m[1]} {m[2]} | {m[3]} | {m[4]} | {m[5]} | {result} |")
