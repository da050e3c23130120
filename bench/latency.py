#!/usr/bin/python3
"""Conflict detection latency of `portward run` (run inside a private network namespace).

  latency.py PORTWARD ROOT PORT ROUNDS

Starts `PORTWARD run --root ROOT` (default --interval; no journald socket here, so events go
to stderr), waits for the "applied" event, then ROUNDS times: sleeps a random fraction of a
second (so the bind lands at a random phase of the poll cycle), binds and listens on PORT
(declared in ROOT's config with an owner this process is not), and times the bind() until the
conflict-started line (MESSAGE_ID e562e6dd...) is read from the daemon's stderr; then closes
the socket and waits for the conflict-ended line. Prints JSON: every latency in ms.
"""
import json, os, random, select, signal, socket, subprocess, sys, time

STARTED = "MESSAGE_ID=e562e6ddc60c4493ad1810a89f43fe43"
ENDED = "MESSAGE_ID=737b33c3af3f4f9d8995d3bb02550c37"
APPLIED = "MESSAGE_ID=6e1ebdaf87a14322acfe405643ed1046"

def main(portward, root, port, rounds):
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    daemon = subprocess.Popen([portward, "run", "--root", root], stderr=subprocess.PIPE, env=env)
    pending = b""

    def wait_for(marker, timeout=10.0):
        nonlocal pending
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if marker in line.decode(errors="replace"):
                    return time.monotonic()
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([daemon.stderr], [], [], left)[0]:
                raise SystemExit(f"latency.py: no {marker} within {timeout} s")
            chunk = os.read(daemon.stderr.fileno(), 65536)
            if not chunk:
                raise SystemExit("latency.py: portward exited")
            pending += chunk

    try:
        wait_for(APPLIED)
        latencies = []
        for _ in range(rounds):
            time.sleep(random.random())
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t0 = time.monotonic()
            s.bind(("0.0.0.0", port))
            s.listen(1)
            latencies.append((wait_for(STARTED) - t0) * 1000)
            s.close()
            wait_for(ENDED)
        print(json.dumps({"latencies_ms": latencies}))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)

main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
