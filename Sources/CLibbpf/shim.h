// libbpf (Debian libbpf-dev 1.1; libbpf1 at run time): opening, loading, pinning and
// attaching portward's BPF guard, and the map and ring buffer calls.
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <sys/vfs.h>
