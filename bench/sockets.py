#!/usr/bin/python3
"""Socket load for bench/run.sh (run inside the benchmark's private network namespace).

  sockets.py hold N [PORT]   open N unrelated UDP sockets (0.0.0.0 and [::] v6-only,
                             ports 10000-61999 but not 39990-40209 where the benchmark
                             config declares its ports, up to 50,000 per family), and with PORT
                             also a TCP listener on PORT (the declared port); print "ready"
                             and sleep until killed.
"""
import ctypes, os, resource, signal, socket, sys, time

PER_PROCESS = 15_000  # below the 20,000 descriptor hard limit seen here (no CAP_SYS_RESOURCE)

def open_udp(indexes, ports):
    held = []
    for i in indexes:
        v6 = i >= 50_000
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(("::" if v6 else "0.0.0.0", ports[i % 50_000]))
        held.append(s)
    return held

def hold(count, port=None):
    """Opens the sockets in child processes of PER_PROCESS each (the descriptor limit), then
    sleeps; SIGTERM ends the children too (same process group is not assumed: they die with
    their parent through PR_SET_PDEATHSIG)."""
    ports = [p for p in range(10_000, 62_000) if not 39_990 <= p < 40_210][:50_000]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    children = []
    for start in range(0, count, PER_PROCESS):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            libc = ctypes.CDLL(None)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            held = open_udp(range(start, min(count, start + PER_PROCESS)), ports)
            os.write(w, b"x")
            while True:
                time.sleep(3600)
        os.close(w)
        os.read(r, 1)
        os.close(r)
        children.append(pid)
    held = []
    if port is not None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("0.0.0.0", port))
        s.listen(16)
        held.append(s)
    def stop(*_):
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        time.sleep(3600)

if sys.argv[1] == "hold":
    hold(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
else:
    sys.exit("usage: sockets.py hold N [PORT]")
