#!/usr/bin/env python3
"""SIGKILL `portward apply` at random points while it rewrites a long, multi-chunk
ip_local_reserved_ports value; check after every kill that nothing that must stay was lost,
and that the next apply repairs any partial write. Run inside `unshare -n` as root.

Usage: kill_loop.py PORTWARD WORKDIR ITERATIONS SEED [apply|run] [small|large]
With `run`, the daemon is killed instead (random delays only: it does not exit by itself).
With `large`, the foreign reservations alone encode to about 9 KB: more than the first
chunk of a replace can hold, so a kill may leave some of them (and of the kept ports)
absent for the moment; then every kill is followed by a repair or rollback apply, which
must give the exact value.
First kills it at every write() system call in turn (strace fault injection, when strace
is installed), then after ITERATIONS random delays. After each kill the value must hold
every foreign port and every port of both the old and the new value, nothing outside their
union, and the next apply must produce exactly the new value; or (the "rollback" check)
an apply of the old configuration must produce exactly the old value: no port the killed
apply added may be left behind as someone else's.
Prints one summary line `writes=W random=N old=A new=B partial=C` and exits 0, or prints the
first violation and exits 1.
"""
import os, random, signal, subprocess, sys, time, shutil

KEY = "/proc/sys/net/ipv4/ip_local_reserved_ports"
portward, work, iterations, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
mode = sys.argv[5] if len(sys.argv) > 5 else "apply"
large = len(sys.argv) > 6 and sys.argv[6] == "large"
rng = random.Random(seed)


def decode(text):
    ports = set()
    for item in text.replace("\n", ",").split(","):
        if not item:
            continue
        lo, _, hi = item.partition("-")
        ports.update(range(int(lo), int(hi or lo) + 1))
    return ports


def encode(ports):
    return ",".join(str(p) for p in sorted(ports)) + "\n"


def read_key():
    # One large read: the kernel returns the whole value on the first read() only.
    fd = os.open(KEY, os.O_RDONLY)
    try:
        return decode(os.read(fd, 1 << 20).decode())
    finally:
        os.close(fd)


def write_key(ports):
    """Replace the value the way the kernel needs: one open file, resume at each count."""
    data = encode(ports).encode()
    fd = os.open(KEY, os.O_WRONLY)
    try:
        offset = 0
        while offset < len(data):
            n = os.write(fd, data[offset:])
            assert n > 0
            offset += n
    finally:
        os.close(fd)
    assert read_key() == ports


def config(path, ports):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ports = sorted(ports)
    with open(path, "w") as f:
        for i in range(0, len(ports), 40):
            f.write("e%d %s tcp\n" % (i, ",".join(map(str, ports[i:i + 40]))))


def apply(root):
    return subprocess.run([portward, "apply", "--root", root, "--force", "-q"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


# Scattered single ports (every 3rd/5th port), so each value encodes far past 4,095 bytes.
foreign = set(range(50001, 53000, 2)) if large else set(range(50001, 50400, 7))   # someone else's
old_declared = set(range(1025, 9000, 3))              # 2,659 ports, ~13 KB encoded
kept = set(sorted(old_declared)[:150])                # declared before and after
new_declared = kept | set(range(10001, 20000, 5))     # removes most old ports, adds 2,000
old_root, new_root = os.path.join(work, "old"), os.path.join(work, "new")
rollback_root = os.path.join(work, "rollback")
config(os.path.join(old_root, "etc/portward/ports.conf"), old_declared)
config(os.path.join(new_root, "etc/portward/ports.conf"), new_declared)
config(os.path.join(rollback_root, "etc/portward/ports.conf"), old_declared)

write_key(foreign)
r = apply(old_root)
assert r.returncode == 0, r.stderr
old_value = read_key()
assert old_value == foreign | old_declared
new_value = foreign | new_declared
must_stay = foreign | (old_value & new_value)
state = os.path.join(old_root, "run/portward/state.json")
new_state = os.path.join(new_root, "run/portward/state.json")
rollback_state = os.path.join(rollback_root, "run/portward/state.json")
os.makedirs(os.path.dirname(new_state), exist_ok=True)
os.makedirs(os.path.dirname(rollback_state), exist_ok=True)


def reset():
    write_key(old_value)
    shutil.copy(state, new_state)


seen = {"old": 0, "new": 0, "partial": 0}


def check(i, how, repair):
    """repair: False (only the invariants), "new" (the next apply of the new configuration
    must give the new value) or "rollback" (an apply of the old configuration, with the state
    the kill left, must give exactly the old value)."""
    value = read_key()
    kind = "old" if value == old_value else "new" if value == new_value else "partial"
    seen[kind] += 1
    # With large foreign values a cut replace may leave ports out until the next apply.
    lost = set() if large else must_stay - value
    extra = value - (old_value | new_value)
    if lost or extra:
        print("%s %d (%s): lost %d ports %s..., unexpected %s" % (
            how, i, kind, len(lost), sorted(lost)[:10], sorted(extra)[:10]))
        sys.exit(1)
    if repair == "rollback":
        shutil.copy(new_state, rollback_state)
        r = apply(rollback_root)
        rolled = read_key()
        if r.returncode != 0 or rolled != old_value:
            print("%s %d (%s): rollback apply exited %d, missing %s, left behind %s: %s" % (
                how, i, kind, r.returncode, sorted(old_value - rolled)[:10], sorted(rolled - old_value)[:10], r.stderr))
            sys.exit(1)
        return
    if not repair and kind != "partial":
        return  # old: nothing was written; new: nothing to repair in the kernel
    r = apply(new_root)
    repaired = read_key()
    if r.returncode != 0 or repaired != new_value:
        print("%s %d: repair apply exited %d, missing %s, extra %s: %s" % (
            how, i, r.returncode, sorted(new_value - repaired)[:10], sorted(repaired - new_value)[:10], r.stderr))
        sys.exit(1)


# 1. Deterministic: SIGKILL at every write() of an uninterrupted apply (strace injects the
#    signal on entry to the Nth write: stderr, each sysctl chunk, the state file).
writes = 0
if mode == "apply" and shutil.which("strace"):
    reset()
    log = os.path.join(work, "strace.log")
    subprocess.run(["strace", "-f", "-qq", "-o", log, "-e", "trace=write", portward, "apply",
                    "--root", new_root, "--force", "-q"], stderr=subprocess.DEVNULL, check=True)
    with open(log) as f:
        writes = sum(1 for line in f if " write(" in line)
    for n in range(1, writes + 1):
        for repair in ("new", "rollback"):
            reset()
            subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=write",
                            "-e", "inject=write:signal=KILL:when=%d" % n, portward, "apply",
                            "--root", new_root, "--force", "-q"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            check(n, "write", repair)

# 2. Random: SIGKILL after a random delay within one uninterrupted apply's duration.
reset()
start = time.monotonic()
r = apply(new_root)
span = (time.monotonic() - start) * 1.1
assert r.returncode == 0 and read_key() == new_value, r.stderr
for i in range(iterations):
    reset()
    command = [portward, "apply", "--root", new_root, "--force", "-q"] if mode == "apply" else \
        [portward, "run", "--root", new_root, "--force", "--interval", "3600"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The write comes after reading and parsing the configuration: aim at the later part.
    time.sleep(rng.uniform(0.3 * span, span))
    child.send_signal(signal.SIGKILL)
    child.wait()
    check(i, "random", ("new", "rollback")[i % 2] if large else {0: "new", 5: "rollback"}.get(i % 10, False))
print("writes=%d random=%d old=%d new=%d partial=%d" % (
    writes, iterations, seen["old"], seen["new"], seen["partial"]))
