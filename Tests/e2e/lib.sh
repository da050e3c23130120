# shellcheck shell=bash
# Shared helpers for the portward end-to-end tests: a cached Debian bookworm rootfs,
# booting it under systemd-nspawn --private-network, running commands inside, cleanup,
# and PASS/FAIL/SKIP reporting. Sourced by run.sh; see docs/e2e.md.

E2E_DIR=${E2E_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
E2E_REPO=${E2E_REPO:-$(cd "$E2E_DIR/../.." && pwd)}
E2E_ROOTFS=${E2E_ROOTFS:-$E2E_REPO/.cache/e2e-rootfs}
E2E_SUITE=${E2E_SUITE:-bookworm}
E2E_MIRROR=${E2E_MIRROR:-http://deb.debian.org/debian}
# Packages in the image on top of minbase. socat gives the test services real bind()s;
# libbpf1 is a run-time library of the portward binary (the BPF owner guard's loader).
# The real daemons of issue 12's origin story (scenario 9): rsync (the owner of 873/tcp)
# and ypserv (bindresvport_sa() for each RPC listener, the taker), freeradius (the owner
# of 1812/udp) and unbound (a resolver that picks its own source ports, the taker).
E2E_INCLUDE=systemd,systemd-sysv,iproute2,dbus,socat,procps,libbpf1,rsync,ypserv,unbound,freeradius
# Units of those packages that Debian enables, disabled in the image: the other scenarios
# boot without them, scenario 9 enables them per boot.
E2E_DISABLE_UNITS="rsync.service rpcbind.service rpcbind.socket ypserv.service yppasswdd.service ypxfrd.service
    unbound.service unbound-resolvconf.service freeradius.service"
# Bump when the image recipe changes: a cached rootfs with another stamp is rebuilt.
E2E_ROOTFS_STAMP="v2 $E2E_SUITE $E2E_INCLUDE"

e2e_log() { printf '[e2e] %s\n' "$*" >&2; }
e2e_die() { printf '[e2e] fatal: %s\n' "$*" >&2; exit 2; }

# Builds the rootfs once (about 40 s) and reuses it while its stamp matches.
e2e_ensure_rootfs() {
    if [[ -f $E2E_ROOTFS/.e2e-stamp && $(<"$E2E_ROOTFS/.e2e-stamp") == "$E2E_ROOTFS_STAMP" ]]; then
        return 0
    fi
    command -v debootstrap >/dev/null || e2e_die "debootstrap missing (apt-get install debootstrap)"
    local tmp=$E2E_ROOTFS.tmp.$$
    rm -rf "$E2E_ROOTFS" "$E2E_ROOTFS".tmp.*
    mkdir -p "$(dirname "$E2E_ROOTFS")"
    e2e_log "building $E2E_SUITE rootfs in $E2E_ROOTFS (debootstrap, once)"
    # In a private mount namespace: the /proc and /sys that debootstrap mounts inside the
    # target go away with it, even when it is interrupted.
    if ! unshare --mount --propagation private -- \
        debootstrap --variant=minbase --include="$E2E_INCLUDE" "$E2E_SUITE" "$tmp" "$E2E_MIRROR" \
        >"$tmp.log" 2>&1; then
        tail -n 30 "$tmp.log" >&2
        rm -rf "$tmp"
        e2e_die "debootstrap failed (log above)"
    fi
    rm -f "$tmp.log"
    # Slim it down: apt lists, caches, docs, man pages, locales.
    rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/apt/archives/*.deb \
        "$tmp"/usr/share/doc/* "$tmp"/usr/share/man/* "$tmp"/usr/share/info/* \
        "$tmp"/usr/share/locale/* "$tmp"/var/log/*.log
    # First-boot identity: empty machine-id (systemd makes a transient one), fixed hostname.
    : >"$tmp/etc/machine-id"
    rm -f "$tmp/var/lib/dbus/machine-id"
    echo e2e >"$tmp/etc/hostname"
    # No getty on the read-only console; nothing else in the image needs a terminal.
    ln -sf /dev/null "$tmp/etc/systemd/system/console-getty.service"
    ln -sf /dev/null "$tmp/etc/systemd/system/getty@.service"
    # shellcheck disable=SC2086
    systemctl --root="$tmp" --quiet disable $E2E_DISABLE_UNITS 2>/dev/null
    echo "$E2E_ROOTFS_STAMP" >"$tmp/.e2e-stamp"
    mv "$tmp" "$E2E_ROOTFS"
}

# ---------------------------------------------------------------------------------------
# Reporting. Each scenario prints "  ok - ..." / "  not ok - ..." per assertion and one
# PASS/FAIL/SKIP line per result; run.sh counts the result lines in $E2E_RESULTS.

E2E_SCENARIO=""
E2E_FAILED=0

e2e_begin() { E2E_SCENARIO=$1; E2E_FAILED=0; printf '# scenario %s\n' "$1"; }

# e2e_expect DESCRIPTION COMMAND...: runs COMMAND, records a failed assertion if it fails
# (and then shows COMMAND's output, which is otherwise hidden).
e2e_expect() {
    local desc=$1 out; shift
    if out=$("$@" 2>&1); then
        printf '  ok - %s\n' "$desc"
    else
        [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/    | /'
        printf '  not ok - %s\n' "$desc"
        E2E_FAILED=$((E2E_FAILED + 1))
    fi
}

e2e_note() { printf '    %s\n' "$@"; }

# e2e_result [NAME]: PASS or FAIL line for the scenario (or a named part of it).
e2e_result() {
    local name=${1:-$E2E_SCENARIO}
    if ((E2E_FAILED == 0)); then
        printf 'PASS %s\n' "$name" | tee -a "$E2E_RESULTS"
    else
        printf 'FAIL %s (%d failed assertions)\n' "$name" "$E2E_FAILED" | tee -a "$E2E_RESULTS"
    fi
    E2E_FAILED=0
}

e2e_skip() { printf 'SKIP %s: %s\n' "$1" "$2" | tee -a "$E2E_RESULTS"; }

# ---------------------------------------------------------------------------------------
# Per-boot fixtures. A boot directory holds what is bound into the container:
#   units/      -> /usr/local/lib/systemd/system (the real portward.service + test units,
#                  enabled with .wants/ symlinks)
#   portward/   -> /etc/portward            (ports.conf, ports.d/)
#   sysctl.d/   -> /usr/local/lib/sysctl.d  (test sysctl.d files)

# e2e_prepare NAME: makes a fresh boot directory $B with portward enabled and the default
# test configuration; scenarios then add or remove files before e2e_boot.
e2e_prepare() {
    B=$E2E_WORK/$1
    rm -rf "$B"
    mkdir -p "$B/units/sysinit.target.wants" "$B/units/multi-user.target.wants" \
        "$B/portward/ports.d" "$B/sysctl.d"
    cp "$E2E_REPO/units/portward.service" "$B/units/portward.service"
    cp "$E2E_DIR/fixtures/ports.conf" "$B/portward/ports.conf"
    e2e_enable portward.service sysinit.target
}

# e2e_unit FIXTURE [TARGET]: copies Tests/e2e/fixtures/units/FIXTURE into the boot's units
# and, with TARGET, enables it there (default multi-user.target; "-" = not enabled).
e2e_unit() {
    cp "$E2E_DIR/fixtures/units/$1" "$B/units/$1"
    [[ ${2:-multi-user.target} == - ]] || e2e_enable "$1" "${2:-multi-user.target}"
}

# e2e_sandboxed_status_unit NAME: writes units/NAME, a oneshot running `portward status`
# under exactly the sandbox of the real units/portward.service ([Service] hardening kept,
# only Type=, ExecStart= and ExecReload=/Restart= changed; not enabled).
e2e_sandboxed_status_unit() {
    sed -e 's/^Type=notify$/Type=oneshot/' \
        -e 's|^ExecStart=.*|ExecStart=/usr/sbin/portward status\nSuccessExitStatus=3|' \
        -e '/^ExecReload=/d' -e '/^Restart=/d' \
        -e 's/^Description=.*/Description=e2e: portward status in the portward.service sandbox/' \
        -e '/^\[Install\]/,$d' \
        "$E2E_REPO/units/portward.service" >"$B/units/$1"
}

# e2e_allow_bpf [CAPABILITY...]: the next e2e_boot lets the container load BPF programs:
# the bpf() syscall allowed (--system-call-filter=bpf), CAP_BPF and CAP_SYS_ADMIN (and the
# given capabilities, e.g. CAP_PERFMON) in its bounding set, and a fresh bpffs at
# /sys/fs/bpf (E2E_BOOT_BPFFS=1). The guard and its event programs are then in force
# inside, attached to the container's cgroup root (scenarios 9 and 11).
e2e_allow_bpf() {
    local caps=CAP_BPF,CAP_SYS_ADMIN c
    for c in "$@"; do caps+=",$c"; done
    E2E_BOOT_BPFFS=1
    E2E_BOOT_ARGS+=(--system-call-filter=bpf --capability="$caps")
}

e2e_enable() { mkdir -p "$B/units/$2.wants"; ln -sfn "../$1" "$B/units/$2.wants/$1"; }
e2e_disable() { rm -f "$B/units/$2.wants/$1"; }

# ---------------------------------------------------------------------------------------
# Booting. Each boot runs in its own throwaway cgroups (this host mixes cgroup v1 and v2),
# inside a private mount namespace with a tmpfs on /run, with a private network namespace
# and a volatile overlay over the cached rootfs. Nothing on the host changes.

E2E_NSPAWN_PID=""
E2E_PID1=""
E2E_CG=""

# e2e_cgroup_dirs [NAME]: the throwaway cgroup NAME (default $E2E_CG) in every hierarchy
# nspawn uses: on a hybrid host the v1 name=systemd one and the v2 one under unified/, on a
# pure cgroup v2 host just /sys/fs/cgroup/NAME.
e2e_cgroup_dirs() {
    local name=${1:-$E2E_CG}
    if [[ -d /sys/fs/cgroup/unified ]]; then
        printf '%s\n' "/sys/fs/cgroup/systemd/$name" "/sys/fs/cgroup/unified/$name"
    else
        printf '%s\n' "/sys/fs/cgroup/$name"
    fi
}

# e2e_boot: boots the container for $B and waits until systemd finished booting
# (running or degraded). Installs an EXIT trap that stops it.
e2e_boot() {
    local name
    name=e2e-$(basename "$B")
    name=${name:0:60}
    E2E_CG=portward-e2e-$$-$(basename "$B")
    local d
    for d in $(e2e_cgroup_dirs); do mkdir -p "$d"; done
    trap e2e_stop EXIT
    trap 'exit 130' INT TERM
    local args=(
        -D "$E2E_ROOTFS" -M "$name" --register=no --keep-unit --private-network
        --volatile=overlay --console=read-only --resolv-conf=off --timezone=off
    )
    # E2E_BOOT_BARE=1: the plain image, nothing of portward bound in (scenario 8 installs
    # the .deb inside; the overlay's writes go to a tmpfs, the cached rootfs is unchanged).
    if [[ -z ${E2E_BOOT_BARE:-} ]]; then
        args+=(
            --bind-ro="$E2E_BIN:/usr/sbin/portward"
            --bind-ro="$B/units:/usr/local/lib/systemd/system"
            --bind="$B/portward:/etc/portward"
            --bind-ro="$B/sysctl.d:/usr/local/lib/sysctl.d"
            --bind-ro="$E2E_DIR/fixtures/bin:/usr/local/libexec/e2e"
        )
    fi
    # E2E_BOOT_ARGS: extra systemd-nspawn arguments (an array), e.g. more --bind-ro=.
    args+=(${E2E_BOOT_ARGS[@]+"${E2E_BOOT_ARGS[@]}"})
    # E2E_BOOT_BPFFS=1: a BPF file system at /sys/fs/bpf inside (nspawn's /sys/fs has none):
    # a new bpffs instance, mounted in the private mount namespace below (never the host's
    # /sys/fs/bpf), bound in; its pins go away with that namespace.
    local bpffs=:
    if [[ -n ${E2E_BOOT_BPFFS:-} ]]; then
        bpffs='mkdir -p /run/e2e-bpffs && mount -t bpf -o mode=0700 bpf /run/e2e-bpffs'
        args+=(--bind=/run/e2e-bpffs:/sys/fs/bpf)
    fi
    args+=(-b)
    (
        for d in $(e2e_cgroup_dirs); do echo "$BASHPID" >"$d/cgroup.procs"; done
        export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
        # setsid: its own session, so a Ctrl-C on the terminal reaches only the harness,
        # which then halts the container itself (nspawn would pass SIGINT on as a reboot).
        exec setsid unshare --mount --propagation private -- \
            sh -c 'mount -t tmpfs -o mode=0755 tmpfs /run && '"$bpffs"' && exec systemd-nspawn "$@"' sh "${args[@]}"
    ) </dev/null >"$B/console.log" 2>&1 &
    E2E_NSPAWN_PID=$!
    echo "$E2E_NSPAWN_PID" >"$B/nspawn.pid"
    E2E_PID1=""
    local i
    for ((i = 0; i < 300; i++)); do
        E2E_PID1=$(e2e_find_pid1) && break
        e2e_alive "$E2E_NSPAWN_PID" || break
        sleep 0.1
    done
    [[ -n $E2E_PID1 ]] || { tail -n 20 "$B/console.log" >&2; e2e_log "container did not start"; return 1; }
    for ((i = 0; i < 300; i++)); do
        [[ -S /proc/$E2E_PID1/root/run/systemd/private ]] && break
        sleep 0.1
    done
    local state
    state=$(e2e_exec timeout 90 systemctl is-system-running --wait 2>/dev/null)
    case $state in
        running | degraded) return 0 ;;
        *) e2e_log "boot ended in state '$state'"; return 1 ;;
    esac
}

e2e_alive() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# The container's PID 1: a child of systemd-nspawn whose innermost pid is 1.
e2e_find_pid1() {
    local s p
    for s in /proc/[0-9]*/status; do
        p=${s#/proc/}; p=${p%/status}
        awk -v nspawn="$E2E_NSPAWN_PID" '
            $1 == "PPid:" && $2 == nspawn { child = 1 }
            $1 == "NSpid:" && $NF == 1 && NF > 2 { inner = 1 }
            END { exit !(child && inner) }' "$s" 2>/dev/null || continue
        [[ $(readlink "/proc/$p/exe" 2>/dev/null) == */systemd ]] || continue
        echo "$p"
        return 0
    done
    return 1
}

# e2e_exec COMMAND...: runs COMMAND inside the booted container (all its namespaces, its
# root, a clean environment). stdin is passed through.
e2e_exec() {
    nsenter --target "$E2E_PID1" --mount --uts --ipc --net --pid --cgroup --root --wd -- \
        /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 SYSTEMD_LOG_COLOR=0 "$@"
}

# e2e_show UNIT PROPERTY: one property of a unit inside the container.
e2e_show() { e2e_exec systemctl show -P "$2" "$1"; }

# Orderly stop (SIGTERM to nspawn = poweroff inside), then harder, then cgroups removed.
# Safe to call twice and from a trap.
e2e_stop() {
    local pid=$E2E_NSPAWN_PID i
    if [[ -n $pid ]]; then
        if [[ ${E2E_KEEP:-} && -n $E2E_PID1 ]] && e2e_alive "$E2E_PID1"; then
            e2e_exec journalctl -b --no-pager -o short-monotonic >"$B/journal.txt" 2>&1 || true
        fi
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 200; i++)); do e2e_alive "$pid" || break; sleep 0.1; done
        if e2e_alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null
            for ((i = 0; i < 50; i++)); do e2e_alive "$pid" || break; sleep 0.1; done
        fi
        if e2e_alive "$pid"; then
            e2e_log "container did not stop; killing it"
            [[ -n $E2E_PID1 ]] && kill -KILL "$E2E_PID1" 2>/dev/null
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        E2E_NSPAWN_PID=""
        E2E_PID1=""
        rm -f "$B/nspawn.pid"
    fi
    [[ -n $E2E_CG ]] && e2e_remove_cgroups "$E2E_CG"
    E2E_CG=""
}

# e2e_remove_cgroups NAME: removes /sys/fs/cgroup/*/NAME bottom-up (they must be empty).
e2e_remove_cgroups() {
    local d
    for d in $(e2e_cgroup_dirs "$1"); do
        [[ -d $d ]] || continue
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        [[ -d $d ]] && e2e_log "could not remove cgroup $d"
    done
    return 0
}

# Last-resort sweep used by run.sh: containers and cgroups of this run left behind.
e2e_sweep() {
    local f pid
    for f in "$E2E_WORK"/*/nspawn.pid; do
        [[ -f $f ]] || continue
        pid=$(<"$f")
        if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == systemd-nspawn ]]; then
            kill -TERM "$pid"; sleep 2; kill -KILL "$pid" 2>/dev/null
        fi
        rm -f "$f"
    done
    local d
    for d in $(e2e_cgroup_dirs "portward-e2e-$$-*"); do
        [[ -d $d ]] && e2e_remove_cgroups "${d##*/}"
    done
    return 0
}

# ---------------------------------------------------------------------------------------
# Assertion helpers.

# The kernel's reserved ports inside the container.
e2e_reserved() { e2e_exec cat /proc/sys/net/ipv4/ip_local_reserved_ports; }

# e2e_port_in_value PORT VALUE: PORT is covered by the kernel-format VALUE ("1,5-9").
e2e_port_in_value() {
    local port=$1 tok
    local IFS=,
    for tok in $2; do
        tok=${tok//$'\n'/}
        [[ -n $tok ]] || continue
        if [[ $tok == *-* ]]; then
            ((port >= ${tok%-*} && port <= ${tok#*-})) && return 0
        else
            ((port == tok)) && return 0
        fi
    done
    return 1
}

# e2e_reserved_has PORT...: every PORT is reserved in the container right now.
e2e_reserved_has() {
    local v p
    v=$(e2e_reserved) || return 1
    for p in "$@"; do e2e_port_in_value "$p" "$v" || { e2e_note "port $p not in '$v'"; return 1; }; done
}

# e2e_reserved_lacks PORT...: no PORT is reserved.
e2e_reserved_lacks() {
    local v p
    v=$(e2e_reserved) || return 1
    for p in "$@"; do e2e_port_in_value "$p" "$v" && { e2e_note "port $p unexpectedly in '$v'"; return 1; }; done
    return 0
}

# e2e_bpf_attached PATTERN: ids of the BPF programs whose name matches PATTERN (ERE)
# attached to the container's cgroup root (the payload cgroup nspawn made below this
# boot's throwaway cgroup), read on the host with bpftool.
e2e_bpf_attached() {
    local d
    d=$(e2e_cgroup_dirs | tail -n 1)
    bpftool cgroup show "$d/payload" 2>/dev/null | awk -v re="$1" '$NF ~ re { print $1 }'
}

# e2e_bpf_gone ID...: none of these BPF programs exists any more.
e2e_bpf_gone() {
    local id
    for id in "$@"; do bpftool prog show id "$id" >/dev/null 2>&1 && { e2e_note "program $id still loaded"; return 1; }; done
    return 0
}

# e2e_json_field FIELD: the value of the string FIELD in the one-line JSON object (one
# line of `journalctl -o json`, `portward status --json` squeezed) on stdin; empty when
# absent. Only plain values: escaped quotes inside a value end it.
e2e_json_field() { grep -o "\"$1\" *: *\"[^\"]*\"" | head -n 1 | sed 's/^.*: *"//; s/"$//'; }

# e2e_le A B: A <= B, both non-zero numbers (a 0 timestamp means "never happened").
e2e_le() {
    [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ && $1 -gt 0 && $2 -gt 0 ]] || { e2e_note "bad timestamps '$1' '$2'"; return 1; }
    (($1 <= $2)) || { e2e_note "$1 > $2"; return 1; }
}

# e2e_contains TEXT STRING: TEXT contains STRING (shows TEXT when not).
e2e_contains() { grep -qF -- "$2" <<<"$1" || { printf '%s\n' "$1"; return 1; }; }

e2e_eq() { [[ $1 == "$2" ]] || { e2e_note "got '$1', want '$2'"; return 1; }; }

# e2e_wait_for DEADLINE_S COMMAND...: polls COMMAND every 0.2 s until it succeeds.
e2e_wait_for() {
    local n=$(($1 * 5)) i; shift
    for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    "$@"
}

# e2e_listening tcp|udp PORT: a socket is listening on (tcp) or bound to (udp) PORT.
e2e_listening() { [[ -n $(e2e_exec ss -Hln --"$1" "sport = :$2") ]]; }

# e2e_state_is UNIT STATE: the unit's ActiveState is STATE.
e2e_state_is() { e2e_eq "$(e2e_show "$1" ActiveState)" "$2"; }

# e2e_journal_grep UNIT PATTERN: the unit's journal of this boot matches PATTERN (ERE).
e2e_journal_grep() { e2e_exec journalctl -b -u "$1" --no-pager -o cat | grep -Eq -- "$2"; }
