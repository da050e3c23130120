#!/usr/bin/python3
"""The network-namespace scale benchmark of BENCHMARKS.md (issue 14).

  netns_scale.py PORTWARD WORKDIR COUNT NEW

Run by `bench/run.sh --section netns` inside `unshare -n -m -p -f --mount-proc
--propagation private`: the daemon's own namespace is a private one, /run is a tmpfs of the
private mount namespace (so `ip netns add` pins there and nowhere else), /proc shows only
this tree's processes. Every namespace dies with the mount namespace; they are deleted
here anyway. Nothing of the host's is read or written.

Steps:
  1. COUNT namespaces `portward-bench-N` (one `ip -batch` call), then `portward run`
     with two entries reaching `portward-bench-*` and one for the daemon's own namespace.
  2. first apply: from exec to the end of the first rescan (its "N more network
     namespaces reserved" journal line), then every key is checked.
  3. daemon memory (VmRSS, VmHWM) with COUNT namespaces followed, against a daemon with the
     same configuration and no namespace; CPU seconds the daemon uses while idle over
     IDLE seconds (the periodic full rescans: every 10 watch intervals), VmRSS every 5 s.
  4. NEW times: `ip netns add portward-bench-new-I` and, on a thread that entered the new
     namespace, poll its key every 0.2 ms until portward's ports are there. Reported from
     before `ip netns add` is spawned (an upper bound: includes ip's own work before the
     bind mount appears) and from its exit (a lower bound: the mount appeared before).
Prints one JSON object.
"""
import ctypes, json, os, statistics, subprocess, sys, threading, time

CLONE_NEWNET = 0x40000000
KEY = "/proc/sys/net/ipv4/ip_local_reserved_ports"
PORTS = "40000-40001"
libc = ctypes.CDLL(None, use_errno=True)


def in_netns(path, body):
    """Runs body() on a new thread that entered the namespace at path; returns its value."""
    result = {}

    def run():
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + path)
        finally:
            os.close(fd)
        result["value"] = body()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result.get("value")


def read_key():
    with open(KEY) as f:
        return f.read().strip()


def wait_key(deadline):
    """On an entered thread: polls the key until it holds PORTS; the monotonic time then."""
    while time.monotonic() < deadline:
        value = read_key()
        if value.startswith(PORTS) or ("," + PORTS) in value:
            return time.monotonic()
        time.sleep(0.0002)
    return None


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return fields


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def start(portward, root, log):
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    return subprocess.Popen([portward, "run", "--root", root, "--interval", "1"],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env)


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.005)
    raise SystemExit(f"netns_scale: timeout: {what}")


def main():
    portward, work, count, new = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    # Only inside the private namespaces run.sh makes: a tmpfs on /run here must never hide
    # the host's, and the namespaces made here must never be the host's.
    for kind in ("mnt", "net"):
        host = os.environ.get(f"PORTWARD_BENCH_HOST_{kind.upper()}NS")
        if not host or os.readlink(f"/proc/self/ns/{kind}") == host:
            raise SystemExit(f"netns_scale: run through bench/run.sh (needs a private {kind} namespace)")
    idle = float(os.environ.get("BENCH_NETNS_IDLE", "30"))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "portward-bench-run", "/run"], check=True)
    subprocess.run(["mount", "--make-shared", "/run"], check=True)
    root = os.path.join(work, "rootnetns")
    os.makedirs(os.path.join(root, "etc/portward"), exist_ok=True)
    os.makedirs(os.path.join(root, "run"), exist_ok=True)
    subprocess.run(["mount", "--bind", "/run", os.path.join(root, "run")], check=True)
    with open(os.path.join(root, "etc/portward/ports.conf"), "w") as f:
        f.write("hostsvc 40002 tcp\nvpn 40000 tcp netns=portward-bench-*\nvpn-ctl 40001 udp netns=portward-bench-*\n")
    result = {"namespaces": count}
    try:
        # Baseline: the same daemon, no other namespace.
        baseline = start(portward, root, os.path.join(work, "netns-baseline.err"))
        wait_for(lambda: os.path.exists(os.path.join(root, "run/portward/daemon.json")), 30, "baseline daemon")
        time.sleep(2)
        result["baselineKB"] = status(baseline.pid)
        baseline.terminate()
        baseline.wait()

        names = [f"portward-bench-{i}" for i in range(count)]
        t = time.monotonic()
        subprocess.run(["ip", "-batch", "-"], input="".join(f"netns add {n}\n" for n in names),
                       text=True, check=True)
        result["createSeconds"] = round(time.monotonic() - t, 3)

        log = os.path.join(work, "netns-daemon.err")
        t0 = time.monotonic()
        daemon = start(portward, root, log)
        try:
            def first_pass_done():
                with open(log) as f:
                    return "more network namespaces reserved in this rescan" in f.read()
            t1 = wait_for(first_pass_done, 600, "first rescan")
            result["firstApplySeconds"] = round(t1 - t0, 3)
            missing = [n for n in names if PORTS not in in_netns("/run/netns/" + n, read_key)]
            result["keysMissingAfterFirstApply"] = len(missing)
            result["followedKB"] = status(daemon.pid)
            c0 = cpu_seconds(daemon.pid)
            samples = []
            for _ in range(int(idle // 5)):
                time.sleep(5)
                samples.append(status(daemon.pid)["VmRSS"])
            time.sleep(idle - 5 * len(samples))
            result["idleSeconds"] = idle
            result["idleRSSSamplesKB"] = samples
            result["idleCPUSeconds"] = round(cpu_seconds(daemon.pid) - c0, 3)
            result["afterIdleKB"] = status(daemon.pid)

            upper, lower = [], []
            for i in range(new):
                name = f"portward-bench-new-{i}"
                start_at = time.monotonic()
                subprocess.run(["ip", "netns", "add", name], check=True)
                returned = time.monotonic()
                covered = in_netns("/run/netns/" + name, lambda: wait_key(returned + 10))
                if covered is None:
                    raise SystemExit(f"netns_scale: {name} not covered within 10 s")
                upper.append((covered - start_at) * 1000)
                lower.append(max(0.0, covered - returned) * 1000)
                time.sleep(0.2)

            def summary(values):
                values = sorted(values)
                return {"p50": round(statistics.median(values), 2),
                        "p90": round(values[min(len(values) - 1, int(len(values) * 0.9))], 2),
                        "p99": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2),
                        "max": round(values[-1], 2),
                        "over100": sum(1 for v in values if v > 100)}
            result["newNamespaceMs"] = {"count": new, "fromSpawn": summary(upper), "fromExit": summary(lower)}
            result["finalKB"] = status(daemon.pid)
        finally:
            daemon.terminate()
            daemon.wait()
        with open(log) as f:
            result["daemonFailures"] = sum(1 for line in f if "cannot apply" in line)
    finally:
        subprocess.run(["ip", "-all", "netns", "delete"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["umount", "-l", os.path.join(root, "run")])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
