#!/usr/bin/python3
"""Events versus polling (issue 13), side by side in one run; run by bench/events.sh inside
the box of Tests/IntegrationTests/Support/bpf-box.sh (a throwaway cgroup as the cgroup root,
a private netns, cgroup2 mount and bpffs), never at the host's root cgroup.

  events.py PORTWARD WORKDIR [--quick]

Two daemons on two roots with the same 51-entry configuration (ports 40000-40100, owners
that the benchmark's processes are not): EVENTS (`--guard`: the event programs, full check
every --safety-interval, default 120 s) and POLLING (`--no-events`, every 1 s). Prints one JSON object:

- idle_cpu: CPU seconds (schedstat, all threads) of each daemon in two consecutive windows
  of IDLE s with 100,000 unrelated UDP sockets open (bench/sockets.py);
- latency: ROUNDS times, at a random phase, a process binds+listens on a declared port and
  the time from bind() to the daemon's first stderr line naming the port (EVENTS: the
  "bound the report-only port" line; POLLING: the conflict line) is taken;
- exit_caught: ROUNDS times a child binds a declared port and exits within 1 ms; caught when
  a line with its pid appears within 3 s;
- rss: VmRSS of each daemon after the idle phase.
"""
import json, os, random, re, select, signal, socket, subprocess, sys, time

portward, work = sys.argv[1], sys.argv[2]
quick = "--quick" in sys.argv
IDLE = 10 if quick else 60
ROUNDS = 10 if quick else 100
POLL_ROUNDS = 5 if quick else 30
here = os.path.dirname(os.path.abspath(__file__))
env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}


def make_root(name):
    root = os.path.join(work, name)
    os.makedirs(root + "/etc/portward", exist_ok=True)
    with open(root + "/etc/portward/ports.conf", "w") as f:
        for i in range(50):
            f.write(f"svc{i}\t{40000 + 2 * i}-{40001 + 2 * i}\ttcp,udp\tunit:svc{i}.service\n")
        # One guarded entry, so that `--no-events` still attaches the guard's bind4/bind6.
        f.write("guarded\t40100\ttcp\tuser:4242\n")
    return root


class Daemon:
    def __init__(self, name, *args):
        self.root = make_root(name)
        self.proc = subprocess.Popen([portward, "run", "--root", self.root, *args], stderr=subprocess.PIPE, env=env)
        self.pending = b""
        self.lines = []

    def read(self, timeout):
        if select.select([self.proc.stderr], [], [], max(0, timeout))[0]:
            chunk = os.read(self.proc.stderr.fileno(), 1 << 20)
            if not chunk:
                raise SystemExit("events.py: portward exited")
            self.pending += chunk
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                self.lines.append((time.monotonic(), line.decode(errors="replace")))

    def wait_for(self, pattern, timeout=10.0, since=0):
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        checked = since
        while True:
            for i in range(checked, len(self.lines)):
                if regex.search(self.lines[i][1]):
                    return self.lines[i][0], i + 1
            checked = len(self.lines)
            left = deadline - time.monotonic()
            if left <= 0:
                return None, checked
            self.read(left)

    def drain(self):
        while select.select([self.proc.stderr], [], [], 0)[0]:
            self.read(0)

    def cpu(self):
        """CPU seconds of all the daemon's threads (schedstat: nanoseconds, not clock ticks)."""
        total = 0
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            total += int(open(f"/proc/{self.proc.pid}/task/{task}/schedstat").read().split()[0])
        return total / 1e9

    def rss_kib(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


result = {}
events = Daemon("events", "--guard")
polling = Daemon("polling", "--no-events", "--interval", "1")
for d in (events, polling):
    d.wait_for("applied: ")
time.sleep(1)
events.drain()
polling.drain()
# The watch mode each says it is in.
for name, d in (("events", events), ("polling", polling)):
    view = json.load(open(d.root + "/run/portward/daemon.json"))
    result.setdefault("mode", {})[name] = (view.get("watch") or {}).get("mode")


# Idle CPU with 100,000 unrelated sockets.
holder = subprocess.Popen(["python3", os.path.join(here, "sockets.py"), "hold", "100000"], stdout=subprocess.PIPE)
assert holder.stdout.readline().strip() == b"ready"
time.sleep(2)
# Two consecutive windows: with the default --safety-interval of 120 s, one of them holds
# the events daemon's safety-net check.
result["idle_cpu"] = []
for window in range(2):
    start = {n: d.cpu() for n, d in (("events", events), ("polling", polling))}
    t0 = time.monotonic()
    while time.monotonic() < t0 + IDLE:
        for d in (events, polling):
            d.read(0.05)
    result["idle_cpu"].append({"seconds": round(time.monotonic() - t0, 1),
                               **{n: round(d.cpu() - start[n], 6) for n, d in (("events", events), ("polling", polling))}})
result["rss_kib"] = {"events": events.rss_kib(), "polling": polling.rss_kib()}
holder.send_signal(signal.SIGTERM)
holder.wait()


def fresh(name, args, rounds, per, measure):
    """`rounds` measurements, with a fresh daemon every `per` of them: each one's journal
    lines count against the conflict budget (20 per minute, docs/journal-events.md), which
    would otherwise suppress the lines being timed."""
    out = []
    while len(out) < rounds:
        d = Daemon(name, *args)
        d.wait_for("applied: ")
        time.sleep(0.5)
        for _ in range(min(per, rounds - len(out))):
            out.append(measure(d))
        d.stop()
    return out


def latency_round(pattern, port, polling_mode):
    def measure(d):
        time.sleep(random.random())
        d.drain()
        since = len(d.lines)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t0 = time.monotonic()
        s.bind(("0.0.0.0", port))
        s.listen(1)
        at, _ = d.wait_for(pattern, 5.0, since)
        s.close()
        if polling_mode:
            d.wait_for(r"MESSAGE_ID=737b33c3", 5.0, since)
        return None if at is None else (at - t0) * 1000
    return measure


def exit_round(port):
    def measure(d):
        time.sleep(random.random() * 0.2)
        d.drain()
        since = len(d.lines)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            t = time.monotonic()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", port))
            os.write(w, str(int((time.monotonic() - t) * 1e6)).encode())
            os._exit(0)
        os.close(w)
        lived_us = int(os.read(r, 64) or b"0")
        os.close(r)
        os.waitpid(pid, 0)
        at, _ = d.wait_for(rf"pid {pid}\b|\[{pid}\]", 2.5, since)
        return (at is not None, lived_us)
    return measure


for d in (events, polling):
    d.stop()
events_args = ("--guard",)
polling_args = ("--no-events", "--interval", "1")
result["latency_ms"] = {
    "events": fresh("events", events_args, ROUNDS, 15, latency_round(r"bound the report-only port 40000/tcp", 40000, False)),
    "polling": fresh("polling", polling_args, POLL_ROUNDS, 8, latency_round(r"MESSAGE_ID=e562e6dd", 40002, True)),
}
ev = fresh("events", events_args, ROUNDS, 15, exit_round(40004))
po = fresh("polling", polling_args, POLL_ROUNDS, 15, exit_round(40006))
result["exit_caught"] = {
    "events": sum(c for c, _ in ev), "rounds_events": ROUNDS,
    "polling": sum(c for c, _ in po), "rounds_polling": POLL_ROUNDS,
    "max_lifetime_after_bind_us": max(us for _, us in ev + po),
}
print(json.dumps(result))
