#!/usr/bin/python3
"""Socket probes for the integration tests (run inside the test's network namespace).

  sockets.py hammer PORT COUNT   outbound TCP connects and UDP autobinds; prints every
                                 local port the kernel chose, one per line
  sockets.py bind PROTO PORT     explicit bind (prints "bound" or the errno name)
  sockets.py hold PROTO PORT     bind/listen and sleep until killed (prints "ready")
  sockets.py hold6only PROTO PORT  bind/listen on [::] with IPV6_V6ONLY and sleep ("ready")
  sockets.py connect-from PORT [WAITFILE]
                                 UDP: wait until WAITFILE exists (if given), bind
                                 127.0.0.1:PORT explicitly, connect to 127.0.0.1:9 and
                                 sleep until killed (prints "ready")
  sockets.py notify PATH         receive sd_notify datagrams on PATH; on READY=1 print the
                                 reserved ports value as seen at that moment
"""
import errno, os, socket, sys, time

def hammer(port, count):
    """Outbound TCP connects to a local listener on PORT, TCP and UDP bind(0), UDP sendto
    autobind; each socket is closed with RST (SO_LINGER 0) so no TIME_WAIT piles up."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    linger = (1).to_bytes(4, "little") + (0).to_bytes(4, "little")
    for _ in range(count):
        for kind in ("tcp-connect", "tcp-bind0", "udp-send", "udp-bind0"):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind.startswith("tcp") else socket.SOCK_DGRAM)
            peer = None
            try:
                if kind == "tcp-connect":
                    s.connect(("127.0.0.1", port))
                    peer, _ = srv.accept()
                elif kind == "udp-send":
                    s.sendto(b"x", ("127.0.0.1", 9))
                else:
                    s.bind(("127.0.0.1", 0))
                print(kind, s.getsockname()[1])
            except OSError as e:
                print(kind, errno.errorcode.get(e.errno, e.errno))
            finally:
                if kind.startswith("tcp"):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                s.close()
                if peer:
                    peer.close()

def bind(proto, port, hold=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        if proto == "tcp":
            s.listen(1)
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno), flush=True)
        return
    print("ready" if hold else "bound", flush=True)
    while hold:
        time.sleep(3600)

def hold6only(proto, port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::", port))
    if proto == "tcp":
        s.listen(1)
    print("ready", flush=True)
    while True:
        time.sleep(3600)

def connect_from(port, waitfile=None):
    while waitfile and not os.path.exists(waitfile):
        time.sleep(0.05)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.connect(("127.0.0.1", 9))
    print("ready", flush=True)
    while True:
        time.sleep(3600)

def notify(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    print("listening", flush=True)
    while True:
        msg = s.recv(4096).decode()
        for line in msg.splitlines():
            if line == "READY=1":
                with open("/proc/sys/net/ipv4/ip_local_reserved_ports") as f:
                    print("READY kernel=" + f.read().strip(), flush=True)
            elif line.split("=")[0] in ("RELOADING", "STOPPING", "STATUS"):
                print(line, flush=True)

cmd = sys.argv[1]
if len(sys.argv) > 4 and sys.argv[4].startswith("name="):
    # Any user can name their process so (prctl PR_SET_NAME; the kernel keeps 15 bytes).
    import ctypes
    ctypes.CDLL(None).prctl(15, ctypes.c_char_p(sys.argv[4][5:].encode("latin-1")), 0, 0, 0)
if cmd == "hammer": hammer(int(sys.argv[2]), int(sys.argv[3]))
elif cmd == "bind": bind(sys.argv[2], int(sys.argv[3]))
elif cmd == "hold": bind(sys.argv[2], int(sys.argv[3]), hold=True)
elif cmd == "notify": notify(sys.argv[2])
elif cmd == "hold6only": hold6only(sys.argv[2], int(sys.argv[3]))
elif cmd == "connect-from": connect_from(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
