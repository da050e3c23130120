#!/usr/bin/python3
"""Bind probes for the BPF guard's integration tests (run inside bpf-box.sh).

  guard_bind.py [--cgroup DIR] [--uid N] bind FAMILY/PROTO/PORT...
      FAMILY: 4 (0.0.0.0), 6 (::, dual-stack), 6only (::, IPV6_V6ONLY), mapped
      (::ffff:127.0.0.1); PROTO: tcp, udp, sctp. For each, binds a new socket, closes it,
      and prints "FAMILY/PROTO/PORT: bound" or the errno name (EADDRINUSE).
  guard_bind.py [--cgroup DIR] [--uid N] resvport FREE...
      Holds every TCP port 512-1023 except the FREE ones, then calls the system libtirpc's
      real bindresvport() on a new socket and prints the port it took (or the errno name).
  guard_bind.py [--cgroup DIR] [--uid N] loop LOW HIGH PROTO
      The same loop in Python: bind LOW, LOW+1, ... moving on only on EADDRINUSE; prints the
      port taken or the errno name that stopped it.
--cgroup moves this process into the cgroup v2 directory DIR first, --uid sets all uids,
--linger N keeps the process alive N seconds after its output (flushed) is written.
"""
import ctypes, errno, os, socket, sys, time

def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno))

def make(family, proto):
    af = socket.AF_INET if family == "4" else socket.AF_INET6
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    s = socket.socket(af, kind, socket.IPPROTO_SCTP if proto == "sctp" else 0)
    if af == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if family == "6only" else 0)
    return s

def bind(spec):
    family, proto, port = spec.split("/")
    address = {"4": "0.0.0.0", "6": "::", "6only": "::", "mapped": "::ffff:127.0.0.1"}[family]
    try:
        s = make(family, proto)
        with s:
            s.bind((address, int(port)))
        print(spec + ": bound")
    except OSError as e:
        print(spec + ": " + errname(e))

def resvport(free):
    held = []
    for port in range(512, 1024):
        if port in free:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("0.0.0.0", port))
        held.append(s)
    tirpc = ctypes.CDLL("libtirpc.so.3", use_errno=True)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if tirpc.bindresvport(s.fileno(), None) == 0:
        print(s.getsockname()[1])
    else:
        print(errno.errorcode.get(ctypes.get_errno(), "?"))

def loop(low, high, proto):
    for port in range(low, high + 1):
        s = make("4", proto)
        try:
            s.bind(("0.0.0.0", port))
            print(port)
            return
        except OSError as e:
            s.close()
            if e.errno != errno.EADDRINUSE:
                print(errname(e))
                return
    print("EADDRINUSE")

args = sys.argv[1:]
linger = 0
while args and args[0].startswith("--"):
    if args[0] == "--cgroup":
        with open(os.path.join(args[1], "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    elif args[0] == "--uid":
        uid = int(args[1])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    elif args[0] == "--linger":
        linger = float(args[1])
    args = args[2:]
if args[0] == "bind":
    for spec in args[1:]:
        bind(spec)
elif args[0] == "resvport":
    resvport({int(p) for p in args[1:]})
elif args[0] == "loop":
    loop(int(args[1]), int(args[2]), args[3])
else:
    sys.exit("guard_bind.py: unknown command " + args[0])
sys.stdout.flush()
time.sleep(linger)
