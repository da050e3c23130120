#!/bin/bash
# bpf-box.sh SCRIPT [ARG...]: runs the bash SCRIPT (a string, `bash -c`) as root in a box
# where BPF programs can be attached "at the cgroup root" without acting on anything but
# the box's own processes (../shared/ebpf-notes.md, "A box for tests"):
#   - a throwaway cgroup under the host's cgroup2 mount (found in /proc/self/mountinfo);
#   - the script's process moved into it, then `unshare --net --mount --cgroup
#     --propagation private`: its cgroup namespace root is the throwaway cgroup;
#   - inside: cgroup2 mounted again at the same mount point (its root is now the box), a
#     private bpffs at /sys/fs/bpf, loopback up.
# Inside, the script sees:
#   CG         the cgroup2 mount point (= the box's root cgroup)
#   BOX_HOST   the box's directory as the host sees it (for messages only)
#   outside CMD...   a shell function: runs CMD with `bash -c` OUTSIDE the box's cgroup (in
#              the cgroup bpf-box.sh was started in) but in the box's network namespace,
#              prints its output and returns its exit status. For "an outsider is not
#              affected" checks.
# Always cleans up, also on failure or a signal: kills what is left in the box's cgroup
# tree and removes it bottom-up (that detaches every program attached in it); the private
# bpffs and cgroup2 mounts vanish with the mount namespace.
# Exit status: the script's; 77 when the box cannot be built here (not root, no cgroup2,
# no unshare).
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: bpf-box.sh SCRIPT [ARG...]" >&2; exit 64; }
[ "$(id -u)" -eq 0 ] || { echo "bpf-box: needs root" >&2; exit 77; }
command -v unshare >/dev/null && command -v nsenter >/dev/null || { echo "bpf-box: needs unshare and nsenter" >&2; exit 77; }
# The cgroup2 mount: field 5 of the mountinfo line whose fstype (after " - ") is cgroup2.
cg_mount=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2" && $4 == "/") { print $5; exit } break } }' /proc/self/mountinfo)
[ -n "$cg_mount" ] || { echo "bpf-box: no cgroup2 mount" >&2; exit 77; }

box="$cg_mount/portward-test-box.$$.$RANDOM"
ctl=$(mktemp -d /tmp/portward-box.XXXXXX)
mkdir "$box" || { rmdir "$ctl"; exit 77; }
child=""
server=""

cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    for _ in $(seq 1 100); do
        [ -d "$box" ] || break
        if [ -e "$box/cgroup.kill" ]; then
            echo 1 >"$box/cgroup.kill" 2>/dev/null
        else
            find "$box" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null
        fi
        find "$box" -depth -mindepth 0 -type d -exec rmdir {} \; 2>/dev/null
        [ -d "$box" ] && sleep 0.05
    done
    [ -d "$box" ] && echo "bpf-box: could not remove $box" >&2
    rm -rf "$ctl"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkfifo "$ctl/req" "$ctl/resp"

inner='
set -eu
umount -l "$CG"
mount -t cgroup2 cgroup2 "$CG"
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
outside() {
    printf "%s\n" "$*" >"$BOX_CTL/req"
    local line status=1
    while IFS= read -r line; do
        case $line in
            __status=*) status=${line#__status=} ;;
            *) printf "%s\n" "$line" ;;
        esac
    done <"$BOX_CTL/resp"
    return "$status"
}
export -f outside
script=$1
shift
exec bash -c "$script" bpf-box "$@"
'

# The child joins the box, then becomes the namespaced script (unshare execs in place, so
# $child is the process whose network namespace `outside` enters).
CG="$cg_mount" BOX_HOST="$box" BOX_CTL="$ctl" bash -c \
    'echo $$ >"$0/cgroup.procs" && exec unshare --net --mount --cgroup --propagation private bash -c "$1" bpf-box-inner "${@:2}"' \
    "$box" "$inner" "$@" &
child=$!

# Requests from `outside`: run in our own cgroup, in the child's network namespace.
(
    while true; do
        IFS= read -r request <"$ctl/req" || continue
        output=$(nsenter --target "$child" --net -- bash -c "$request" 2>&1)
        status=$?
        { [ -n "$output" ] && printf "%s\n" "$output"; echo "__status=$status"; } >"$ctl/resp"
    done
) &
server=$!

wait "$child"
exit $?
