// SPDX-License-Identifier: Apache-2.0
//
// portward's owner guard: cgroup/bind4 and cgroup/bind6 programs that keep a declared
// owner's port for its owner. Built by the SwiftPM plugin BPFObjectPlugin with the
// toolchain's clang (-target bpf); the object is embedded in the portward binary.
//
// Rules (docs/guard.md):
// - A bind to port P, protocol X, in the network namespace with cookie C is looked up in
//   guard_owners under (C, X, P). No entry, a lookup error, port 0, an unknown protocol or an
//   entry without a valid owner: the bind is allowed (return 1). The guard fails open.
// - An entry allows the caller when its cgroup (or one of the cgroup's ancestors) is the
//   entry's cgroup, or when the caller's uid is the entry's uid. Anyone else is denied with
//   EADDRINUSE (bpf_set_retval, kernel 5.19+), the errno on which bindresvport(), the
//   kernel's xs_bind and resolvers move on to another port.
// - An entry marked report-only allows the bind but still reports it.
// - Every denial (or report-only hit) is counted in guard_stats and sent as a
//   struct guard_event through the guard_events ring buffer (dropped events are counted).
//
// Events (docs/events.md):
// - cgroup/post_bind4 and post_bind6 run after every successful bind (also bind(0): the
//   port the kernel chose is in sk->src_port, host order). A bind to a port that
//   guard_declared marks for (netns cookie, protocol) is sent as a guard_event with
//   GUARD_EVENT_BOUND, whoever made it. They always return 1: a bind's outcome never changes.
// - cgroup/sysctl reports writes to net/ipv4/ip_local_reserved_ports and
//   ip_local_port_range (GUARD_EVENT_SYSCTL; port = SYSCTL_RESERVED_PORTS or
//   SYSCTL_PORT_RANGE). It runs before the value is stored, and its context has no netns
//   cookie helper (measured on 6.18: "cannot use helper bpf_get_netns_cookie#122"): the
//   reader re-reads the key afterwards and finds the writer's netns from its pid. Always 1.
// - Each of these programs (and bind4/bind6) comes in two builds: with bpf_get_current_comm() (it needs
//   CAP_PERFMON in CGROUP_SOCK and CGROUP_SYSCTL programs too, measured on 6.18) and without
//   (suffix _n, comm left zero: the reader takes /proc/<pid>/comm). The loader loads one.
//
// The layouts below are mirrored in Sources/PortwardLinux/BPF/GuardTypes.swift. Change both
// together, and change the map names when a layout changes (pinned maps are reused by name).

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define EADDRINUSE 98
#define IPPROTO_MPTCP_ 262

// Flags in guard_owner.flags.
#define GUARD_OWNER_CGROUP 0x1u      // cgroup_id is set
#define GUARD_OWNER_UID 0x2u         // uid is set
#define GUARD_REPORT_ONLY 0x4u       // allow, but report

// Flags in guard_event.flags that say which program sent it (none: bind4/bind6's denial or
// report-only hit).
#define GUARD_EVENT_BOUND 0x100u     // post_bind: a successful bind to a declared port
#define GUARD_EVENT_SYSCTL 0x200u    // cgroup/sysctl: a write of one of the keys below

// guard_event.port of a GUARD_EVENT_SYSCTL event: which key was written.
#define SYSCTL_RESERVED_PORTS 1
#define SYSCTL_PORT_RANGE 2

// Indexes in guard_stats.
#define STAT_DENIED 0                // binds refused with EADDRINUSE
#define STAT_REPORTED 1              // report-only hits (allowed)
#define STAT_EVENTS_DROPPED 2        // ring buffer full: event not sent (any program)
#define STAT_BOUND 3                 // post_bind: binds to declared ports seen
#define STAT_COUNT 4

// How many ancestor levels of the caller's cgroup are compared with the owner's cgroup
// (the owner's cgroup may have children, e.g. a unit with Delegate=yes).
#define MAX_CGROUP_DEPTH 32

// The pid namespace the daemon sees pids in, set by the loader before the load
// (BPFGuard.PidNamespace; layout mirrored there). An event's pid must name the process the
// daemon would find under that pid, never another one:
// - `use_ns_pid` (the kernel has bpf_get_ns_current_pid_tgid() in cgroup programs, Linux
//   6.10+, probed by the loader): a process in the daemon's pid namespace is reported with
//   its pid there;
// - otherwise, or for a process in another pid namespace: its pid in the initial namespace
//   when the daemon runs there (`is_init`, the default), else 0 (unknown), since that pid
//   would name some other process of the daemon's namespace (a daemon in a container).
// A section of its own, so that the loader sets exactly this struct (.rodata.* maps are
// frozen read-only: the verifier folds the flags, and with `use_ns_pid` 0 the helper call
// is dead code a kernel without it never checks).
struct pid_namespace_config {
    __u64 dev;                       // st_dev of /proc/self/ns/pid
    __u64 ino;                       // st_ino of /proc/self/ns/pid
    __u32 use_ns_pid;
    __u32 is_init;
};

_Static_assert(sizeof(struct pid_namespace_config) == 24, "pid_namespace_config layout (BPFGuard.swift)");

const volatile struct pid_namespace_config pid_namespace SEC(".rodata.pidns") = { .is_init = 1 };

static __always_inline __u32 current_pid(void)
{
    if (pid_namespace.use_ns_pid) {
        struct bpf_pidns_info info = {};
        if (bpf_get_ns_current_pid_tgid(pid_namespace.dev, pid_namespace.ino, &info, sizeof(info)) == 0)
            return info.tgid;
    }
    if (!pid_namespace.is_init)
        return 0;
    return (__u32)(bpf_get_current_pid_tgid() >> 32);
}

struct guard_key {
    __u64 netns_cookie;
    __u16 port;                      // host byte order
    __u8 protocol;                   // IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP
    __u8 pad[5];                     // zero
};

struct guard_owner {
    __u64 cgroup_id;                 // cgroup v2 id (directory inode) when GUARD_OWNER_CGROUP
    __u32 uid;                       // uid (init user namespace) when GUARD_OWNER_UID
    __u32 flags;
};

struct guard_event {
    __u64 netns_cookie;
    __u64 cgroup_id;
    __u32 pid;                       // thread group id (the process)
    __u32 uid;
    __u16 port;
    __u8 protocol;
    __u8 family;                     // 4 or 6
    __u32 flags;                     // the entry's flags (GUARD_REPORT_ONLY: allowed)
    char comm[16];                   // bpf_get_current_comm() in the builds with it (CAP_PERFMON), else zero
};

// Which ports are declared, per network namespace and protocol: one bit per port (bit
// port % 64 of word port / 64). Key of guard_declared.
struct declared_key {
    __u64 netns_cookie;
    __u8 protocol;                   // IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP
    __u8 pad[7];                     // zero
};

struct declared_ports {
    __u64 bits[1024];
};

_Static_assert(sizeof(struct declared_key) == 16, "declared_key layout (GuardTypes.swift)");
_Static_assert(sizeof(struct declared_ports) == 8192, "declared_ports layout (GuardTypes.swift)");
_Static_assert(sizeof(struct guard_key) == 16, "guard_key layout (GuardTypes.swift)");
_Static_assert(sizeof(struct guard_owner) == 16, "guard_owner layout (GuardTypes.swift)");
_Static_assert(sizeof(struct guard_event) == 48, "guard_event layout (GuardTypes.swift)");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct guard_key);
    __type(value, struct guard_owner);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_owners SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, STAT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 * 1024);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct declared_key);
    __type(value, struct declared_ports);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_declared SEC(".maps");

static __always_inline void count(__u32 index)
{
    __u64 *value = bpf_map_lookup_elem(&guard_stats, &index);
    if (value)
        *value += 1;   // per-CPU: no atomics needed
}

static __always_inline int caller_is_owner(const struct guard_owner *owner)
{
    if (owner->flags & GUARD_OWNER_UID) {
        __u32 uid = (__u32)bpf_get_current_uid_gid();
        if (uid == owner->uid)
            return 1;
    }
    if (owner->flags & GUARD_OWNER_CGROUP) {
        if (bpf_get_current_cgroup_id() == owner->cgroup_id)
            return 1;
        // Ancestors: level 0 is the root; the helper returns 0 past the caller's own level.
        // Unrolled: as a bounded loop, loading without CAP_PERFMON (CAP_BPF + CAP_NET_ADMIN
        // only) failed with EFAULT after verification on 6.18; unrolled it loads.
        #pragma clang loop unroll(full)
        for (int level = 0; level < MAX_CGROUP_DEPTH; level++) {
            __u64 id = bpf_get_current_ancestor_cgroup_id(level);
            if (id == 0)
                break;
            if (id == owner->cgroup_id)
                return 1;
        }
    }
    return 0;
}

static __always_inline void report(struct bpf_sock_addr *ctx, const struct guard_key *key,
                                   const struct guard_owner *owner, __u8 family, int with_comm)
{
    struct guard_event *event = bpf_ringbuf_reserve(&guard_events, sizeof(*event), 0);
    if (!event) {
        count(STAT_EVENTS_DROPPED);
        return;
    }
    event->netns_cookie = key->netns_cookie;
    event->cgroup_id = bpf_get_current_cgroup_id();
    event->pid = current_pid();
    event->uid = (__u32)bpf_get_current_uid_gid();
    event->port = key->port;
    event->protocol = key->protocol;
    event->family = family;
    event->flags = owner->flags;
    // bpf_get_current_comm() needs CAP_PERFMON in cgroup/bind programs (measured on 6.18:
    // "program of this type cannot use helper bpf_get_current_comm#16" with CAP_BPF +
    // CAP_NET_ADMIN): the build without it (_n) leaves the name to the reader
    // (/proc/<pid>/comm, gone when the process exited before the event was read).
    __builtin_memset(event->comm, 0, sizeof(event->comm));
    if (with_comm)
        bpf_get_current_comm(event->comm, sizeof(event->comm));
    bpf_ringbuf_submit(event, 0);
}

static __always_inline int guard_bind(struct bpf_sock_addr *ctx, __u8 family, int with_comm)
{
    __u16 port = bpf_ntohs((__u16)ctx->user_port);
    if (port == 0)
        return 1;                    // the kernel picks the port: not ours to judge

    __u32 protocol = ctx->protocol;
    if (protocol == IPPROTO_MPTCP_)
        protocol = IPPROTO_TCP;      // MPTCP takes TCP ports
    if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP && protocol != IPPROTO_SCTP)
        return 1;

    struct guard_key key = {};
    key.netns_cookie = bpf_get_netns_cookie(ctx);
    key.port = port;
    key.protocol = (__u8)protocol;

    struct guard_owner *owner = bpf_map_lookup_elem(&guard_owners, &key);
    if (!owner)
        return 1;
    if (!(owner->flags & (GUARD_OWNER_CGROUP | GUARD_OWNER_UID)))
        return 1;                    // no valid owner: unknown means allow
    if (caller_is_owner(owner))
        return 1;

    report(ctx, &key, owner, family, with_comm);
    if (owner->flags & GUARD_REPORT_ONLY) {
        count(STAT_REPORTED);
        return 1;
    }
    count(STAT_DENIED);
    bpf_set_retval(-EADDRINUSE);
    return 0;
}

// Two builds each, as for the event programs below: with the command name (CAP_PERFMON) and
// without (_n).
SEC("cgroup/bind4")
int portward_bind4(struct bpf_sock_addr *ctx) { return guard_bind(ctx, 4, 1); }

SEC("cgroup/bind6")
int portward_bind6(struct bpf_sock_addr *ctx) { return guard_bind(ctx, 6, 1); }

SEC("cgroup/bind4")
int portward_bind4_n(struct bpf_sock_addr *ctx) { return guard_bind(ctx, 4, 0); }

SEC("cgroup/bind6")
int portward_bind6_n(struct bpf_sock_addr *ctx) { return guard_bind(ctx, 6, 0); }

// MARK: post_bind

static __always_inline int post_bind(struct bpf_sock *sk, __u8 family, int with_comm)
{
    __u32 protocol = sk->protocol;
    if (protocol == IPPROTO_MPTCP_)
        protocol = IPPROTO_TCP;
    if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP && protocol != IPPROTO_SCTP)
        return 1;
    __u32 port = sk->src_port & 0xffff;
    struct declared_key key = {};
    key.netns_cookie = bpf_get_netns_cookie(sk);
    key.protocol = (__u8)protocol;
    struct declared_ports *declared = bpf_map_lookup_elem(&guard_declared, &key);
    if (!declared)
        return 1;
    if (!(declared->bits[(port >> 6) & 1023] & (1ull << (port & 63))))
        return 1;

    count(STAT_BOUND);
    struct guard_event *event = bpf_ringbuf_reserve(&guard_events, sizeof(*event), 0);
    if (!event) {
        count(STAT_EVENTS_DROPPED);
        return 1;
    }
    event->netns_cookie = key.netns_cookie;
    event->cgroup_id = bpf_get_current_cgroup_id();
    event->pid = current_pid();
    event->uid = (__u32)bpf_get_current_uid_gid();
    event->port = (__u16)port;
    event->protocol = (__u8)protocol;
    event->family = family;
    event->flags = GUARD_EVENT_BOUND;
    __builtin_memset(event->comm, 0, sizeof(event->comm));
    if (with_comm)
        bpf_get_current_comm(event->comm, sizeof(event->comm));
    bpf_ringbuf_submit(event, 0);
    return 1;                        // never changes the bind's outcome
}

// Program names stay within the kernel's 15 characters (the loader finds them by name).
SEC("cgroup/post_bind4")
int portward_pb4(struct bpf_sock *sk) { return post_bind(sk, 4, 1); }

SEC("cgroup/post_bind6")
int portward_pb6(struct bpf_sock *sk) { return post_bind(sk, 6, 1); }

SEC("cgroup/post_bind4")
int portward_pb4_n(struct bpf_sock *sk) { return post_bind(sk, 4, 0); }

SEC("cgroup/post_bind6")
int portward_pb6_n(struct bpf_sock *sk) { return post_bind(sk, 6, 0); }

// MARK: sysctl

// "net/ipv4/ip_local_" then "reserved_ports" or "port_range".
static __always_inline int sysctl_key(struct bpf_sysctl *ctx)
{
    char name[40] = {};
    long length = bpf_sysctl_get_name(ctx, name, sizeof(name), 0);
    if (length < 0)
        return 0;                    // -E2BIG: longer than any key of ours
    const char prefix[] = "net/ipv4/ip_local_";
    #pragma clang loop unroll(full)
    for (int i = 0; i < (int)sizeof(prefix) - 1; i++)
        if (name[i] != prefix[i])
            return 0;
    const char reserved[] = "reserved_ports";
    const char range[] = "port_range";
    int is_reserved = length == (long)(sizeof(prefix) - 1 + sizeof(reserved) - 1);
    int is_range = length == (long)(sizeof(prefix) - 1 + sizeof(range) - 1);
    #pragma clang loop unroll(full)
    for (int i = 0; i < (int)sizeof(reserved) - 1; i++)
        if (name[sizeof(prefix) - 1 + i] != reserved[i])
            is_reserved = 0;
    #pragma clang loop unroll(full)
    for (int i = 0; i < (int)sizeof(range) - 1; i++)
        if (name[sizeof(prefix) - 1 + i] != range[i])
            is_range = 0;
    return is_reserved ? SYSCTL_RESERVED_PORTS : is_range ? SYSCTL_PORT_RANGE : 0;
}

static __always_inline int sysctl_write(struct bpf_sysctl *ctx, int with_comm)
{
    if (!ctx->write)
        return 1;
    int which = sysctl_key(ctx);
    if (!which)
        return 1;
    struct guard_event *event = bpf_ringbuf_reserve(&guard_events, sizeof(*event), 0);
    if (!event) {
        count(STAT_EVENTS_DROPPED);
        return 1;
    }
    event->netns_cookie = 0;         // no helper here: the reader uses /proc/<pid>/ns/net
    event->cgroup_id = bpf_get_current_cgroup_id();
    event->pid = current_pid();
    event->uid = (__u32)bpf_get_current_uid_gid();
    event->port = (__u16)which;
    event->protocol = 0;
    event->family = 0;
    event->flags = GUARD_EVENT_SYSCTL;
    __builtin_memset(event->comm, 0, sizeof(event->comm));
    if (with_comm)
        bpf_get_current_comm(event->comm, sizeof(event->comm));
    bpf_ringbuf_submit(event, 0);
    return 1;                        // never refuses a write
}

SEC("cgroup/sysctl")
int portward_sysctl(struct bpf_sysctl *ctx) { return sysctl_write(ctx, 1); }

SEC("cgroup/sysctl")
int portward_sysctl_n(struct bpf_sysctl *ctx) { return sysctl_write(ctx, 0); }

// No GPL-only helper is used, so the license string need not be GPL-compatible.
char LICENSE[] SEC("license") = "Apache-2.0";
