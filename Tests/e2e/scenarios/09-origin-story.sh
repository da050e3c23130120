# Scenario 9 (issue 12): the origin story, with real Debian daemons. Two takers that pick
# their ports themselves start at boot before two owners:
#   - ypserv (its RPC listeners are bound with libtirpc bindresvport_sa(); nfs-common's
#     rpc.statd was tried first: only its loopback notify socket uses bindresvport(), its
#     listeners get ephemeral ports) before rsync --daemon (rsync.service, 873/tcp);
#     /etc/bindresvport.blacklist lists every port of bindresvport()'s 512-1023 but 873
#     (Debian's stock list names 873, the scenario replaces it), /etc/netconfig has the
#     IPv4 transports only (with udp6 too, ypserv's dual-stack udp6 listener would find
#     873 taken by its own udp one and ypserv would exit), rsync listens on IPv4: 873 is
#     ypserv's only choice;
#   - unbound (outgoing-port-avoid 0-65535, outgoing-port-permit 1812; forwarding to a
#     silent local forwarder, so a query keeps its socket) before freeradius
#     (freeradius.service, 1812/udp); dns-query.service queries unbound before freeradius.
# ports.conf declares 873/tcp for unit:rsync.service and 1812/udp for
# unit:freeradius.service; the generator (bound to
# /usr/local/lib/systemd/system-generators/portward-generator) wires the owners' hook.
#   guard:   E2E_ORIGIN_BOOTS boots (default 2) with the bpf() syscall allowed
#            (--system-call-filter=bpf, CAP_BPF): every boot, rsync and freeradius are
#            active and own their sockets, the takers do not hold them, and the journal has
#            the guard's denials (MESSAGE_ID d0f1bb41..., PORTWARD_VERDICT=denied) for them;
#   hold:    one boot with bpf() filtered out (nspawn's default): portward holds the ports
#            while their owners are not running (protection "held"), the owners' start
#            hooks release them;
#   control: portward disabled: ypserv holds 873/tcp and rsync fails, unbound holds
#            1812/udp and freeradius fails.
e2e_begin 9-origin-story
boots=${E2E_ORIGIN_BOOTS:-2}
origin=$E2E_DIR/fixtures/origin
denied_id=d0f1bb41287246d99a82b05ffa9aea84

# origin_boot LABEL guard|hold|control: boots with the two takers and the two owners.
origin_boot() {
    e2e_prepare "09-origin-$1"
    cp "$origin/ports.conf" "$B/portward/ports.conf"
    e2e_unit dns-silent.service -
    e2e_unit dns-query.service
    local u
    for u in ypserv rsync unbound freeradius; do
        [[ -d $E2E_DIR/fixtures/units/$u.service.d ]] &&
            cp -r "$E2E_DIR/fixtures/units/$u.service.d" "$B/units/"
        ln -sfn "/lib/systemd/system/$u.service" "$B/units/multi-user.target.wants/$u.service"
    done
    mkdir -p "$B/generators"
    ln -s /usr/sbin/portward "$B/generators/portward-generator"
    E2E_BOOT_ARGS=(
        --bind-ro="$B/generators:/usr/local/lib/systemd/system-generators"
        --bind-ro="$origin/rsyncd.conf:/etc/rsyncd.conf"
        --bind-ro="$origin/bindresvport.blacklist:/etc/bindresvport.blacklist"
        --bind-ro="$origin/netconfig:/etc/netconfig"
        --bind-ro="$origin/defaultdomain:/etc/defaultdomain"
        --bind-ro="$origin/unbound-e2e.conf:/etc/unbound/unbound.conf.d/e2e.conf"
    )
    # A BPF file system in every boot: without the bpf() syscall (hold, control) it is the
    # only thing missing for the guard.
    E2E_BOOT_BPFFS=1
    case $2 in
        guard) e2e_allow_bpf ;;
        control) e2e_disable portward.service sysinit.target ;;
    esac
    e2e_boot
}

# origin_owns tcp|udp PORT UNIT: PORT is bound (tcp: listening) by UNIT's main process.
origin_owns() {
    local pid out
    pid=$(e2e_show "$3" MainPID)
    out=$(e2e_exec ss -Hlnp --"$1" "sport = :$2")
    [[ $pid != 0 && -n $out ]] || { e2e_note "$3 MainPID=$pid, $1 $2: '$out'"; return 1; }
    grep -q "pid=$pid," <<<"$out" || { e2e_note "$2/$1 is not held by $3 (pid $pid): $out"; return 1; }
    # Every socket on the port is the owner's.
    ! grep -v "pid=$pid," <<<"$out" | grep -q . || { e2e_note "others on $2/$1: $out"; return 1; }
}

# origin_holds COMM tcp|udp PORT: a process named COMM has a socket on PORT.
origin_holds() { e2e_exec ss -Hanp --"$2" "sport = :$3" | grep -q "((\"$1\""; }

# origin_lacks COMM tcp|udp PORT: no process named COMM has a socket on PORT.
origin_lacks() {
    local out
    out=$(e2e_exec ss -Hanp --"$2" "sport = :$3")
    ! grep -q "((\"$1\"" <<<"$out" || { e2e_note "$1 holds $3/$2: $out"; return 1; }
}

# origin_denied PORT tcp|udp USER UNIT: the journal has the guard's denial (MESSAGE_ID
# d0f1bb41..., PORTWARD_VERDICT=denied) of PORT to a process of USER (the taker's user), and
# its pid is the taker's as the container sees it (docs/events.md "Pids are the daemon's":
# the daemon runs in the container's pid namespace): see origin_pid_is_taker.
origin_denied() {
    local uid json line pid
    uid=$(e2e_exec id -u "$3") || return 1
    json=$(e2e_exec journalctl -b -o json --no-pager MESSAGE_ID=$denied_id PORTWARD_PORT="$1" PORTWARD_PROTOCOL="$2")
    line=$(grep -E '"PORTWARD_VERDICT" *: *"denied"' <<<"$json" | grep -E "\"PORTWARD_HOLDER_UID\" *: *\"$uid\"" | head -n 1)
    if [[ -z $line ]]; then
        e2e_note "no denial of $1/$2 to uid $uid; the daemon's log:"
        e2e_exec journalctl -b -u portward.service -o cat --no-pager | tail -n 8 | sed 's/^/    | /'
        return 1
    fi
    e2e_json_field MESSAGE <<<"$line" | sed 's/^/    /'
    pid=$(e2e_json_field PORTWARD_HOLDER_PID <<<"$line")
    origin_pid_is_taker "$pid" "$4" "$(e2e_json_field PORTWARD_HOLDER_COMM <<<"$line")"
}

# origin_pid_is_taker PID UNIT COMM: the denial's PID is the taker's as the container
# sees it: UNIT's main process (both takers bind in it), by ExecMainPID, which systemd
# keeps after the process exited (ypserv exits when its bind fails, often before the
# daemon reads the record; its own journal lines say "ypserv[PID]" with the same pid).
# Never pid 0 (the daemon and the taker share the container's pid namespace), never the
# host's pid. While that process lives, COMM (the command the denial names) is its command.
origin_pid_is_taker() {
    local pid=$1 unit=$2 comm=$3 main now
    [[ $pid =~ ^[1-9][0-9]*$ ]] || { e2e_note "the denial names pid '$pid'"; return 1; }
    main=$(e2e_show "$unit" ExecMainPID)
    now=$(e2e_exec cat "/proc/$pid/comm" 2>/dev/null)
    [[ $pid == "$main" ]] || {
        e2e_note "the denial names pid $pid (${now:-no such process in the container}), $unit's main process was $main"
        return 1
    }
    [[ -z $now || -z $comm ]] || e2e_eq "$comm" "$now" || { e2e_note "the command of pid $pid"; return 1; }
}

# origin_rsync_logged: rsync logged its failed bind. rsync --daemon logs through syslog
# ("rsyncd[PID]: bind() failed: Address already in use") and exits at once; journald that
# reads a syslog message after its sender is gone cannot attribute it to the unit (no
# _SYSTEMD_UNIT), so `journalctl -u rsync.service` can miss it (most likely why it did
# once in a whole run, with the line present in other boots): the boot's journal is
# searched by SYSLOG_IDENTIFIER instead.
origin_rsync_logged() {
    e2e_exec journalctl -b --no-pager -o cat SYSLOG_IDENTIFIER=rsyncd | grep -q 'Address already in use'
}

# origin_show: what holds the two ports, the four units, for the log.
origin_show() {
    e2e_exec ss -Hanp 'sport = :873 or sport = :1812' | sed 's/^/    ss: /'
    local u
    for u in ypserv rsync unbound freeradius; do
        [[ -d $E2E_DIR/fixtures/units/$u.service.d ]] &&
        e2e_note "$u: $(e2e_show $u.service ActiveState)/$(e2e_show $u.service Result) NRestarts=$(e2e_show $u.service NRestarts)"
    done
}

# origin_owners_win LABEL: the assertions of a protected boot.
origin_owners_win() {
    e2e_expect "$1: the generator wired rsync's and freeradius' hooks" \
        e2e_exec test -f /run/systemd/generator/rsync.service.d/50-portward-owner.conf \
        -a -f /run/systemd/generator/freeradius.service.d/50-portward-owner.conf
    e2e_expect "$1: ypserv started before rsync" e2e_le \
        "$(e2e_show ypserv.service InactiveExitTimestampMonotonic)" "$(e2e_show rsync.service InactiveExitTimestampMonotonic)"
    e2e_expect "$1: unbound was queried (dns-query done) before freeradius started" e2e_le \
        "$(e2e_show dns-query.service ActiveEnterTimestampMonotonic)" "$(e2e_show freeradius.service InactiveExitTimestampMonotonic)"
    e2e_expect "$1: rsync.service is active, first try" \
        e2e_eq "$(e2e_show rsync.service ActiveState)/$(e2e_show rsync.service NRestarts)" active/0
    e2e_expect "$1: 873/tcp is listening, owned by rsync's main process" e2e_wait_for 5 origin_owns tcp 873 rsync.service
    e2e_expect "$1: ypserv holds no socket on 873/tcp" origin_lacks ypserv tcp 873
    e2e_expect "$1: freeradius.service is active, first try" \
        e2e_eq "$(e2e_show freeradius.service ActiveState)/$(e2e_show freeradius.service NRestarts)" active/0
    e2e_expect "$1: 1812/udp is bound by freeradius' main process" origin_owns udp 1812 freeradius.service
    e2e_expect "$1: unbound holds no socket on 1812/udp" origin_lacks unbound udp 1812
    e2e_expect "$1: portward status reports all ok (exit 0)" e2e_exec portward status
}

# origin_guarded_entries: how many entries portward status --json shows as guarded.
origin_guarded_entries() { e2e_exec portward status --json | grep -Ec '"state" *: *"guarded"'; }

host_bpffs=$(ls -A /sys/fs/bpf 2>/dev/null | sort | tr '\n' ' ')
# --- guard ------------------------------------------------------------------------------
for ((n = 1; n <= boots; n++)); do
    if ! origin_boot "guard$n" guard; then e2e_expect "guard boot $n: container boots" false; e2e_stop; continue; fi
    e2e_expect "guard boot $n: portward status --json shows both entries guarded" \
        e2e_eq "$(origin_guarded_entries)" 2
    origin_owners_win "guard boot $n"
    e2e_expect "guard boot $n: the journal has the guard's denial of 873/tcp to ypserv (root, its pid in the container)" origin_denied 873 tcp root ypserv.service
    e2e_expect "guard boot $n: the journal has the guard's denial of 1812/udp to unbound (user unbound, its pid in the container)" \
        origin_denied 1812 udp unbound unbound.service
    ids=()
    if ((n == 1)); then
        origin_show
        mapfile -t ids < <(e2e_bpf_attached portward_bind)
        e2e_expect "guard boot 1: bind4 and bind6 are attached to the container's cgroup root (ids ${ids[*]})" \
            test "${#ids[@]}" -eq 2
    fi
    cgs=$(e2e_cgroup_dirs)
    e2e_stop
    if ((n == 1)); then
        e2e_expect "guard boot 1: after the container stopped its cgroups are gone" bash -c '! ls -d $1 2>/dev/null' _ "$cgs"
        e2e_expect "guard boot 1: and so are its programs (bpftool prog show id)" e2e_wait_for 10 e2e_bpf_gone "${ids[@]}"
        e2e_expect "guard boot 1: the host's /sys/fs/bpf is as before (no pins of the container)" \
            e2e_eq "$(ls -A /sys/fs/bpf 2>/dev/null | sort | tr '\n' ' ')" "$host_bpffs"
    fi
done
e2e_result 9-origin-story-guard

# --- hold (bpf() filtered out) ----------------------------------------------------------
if origin_boot hold hold; then
    json=$(e2e_exec portward status --json 2>/dev/null)
    e2e_expect "hold: portward.service is active" e2e_state_is portward.service active
    if ! grep -Eq '"state" *: *"held"' <<<"$json"; then
        e2e_note "portward status --json: $(tr -d '\n' <<<"$json" | cut -c1-300)"
        e2e_exec journalctl -b -u portward.service --no-pager -o cat 2>/dev/null | tail -n 15 | sed 's/^/    journal: /' >&2
    fi
    e2e_expect "hold: the guard is unavailable (bpf() filtered), nothing is guarded" \
        e2e_eq "$(origin_guarded_entries)" 0
    e2e_expect "hold: portward status --json shows both entries held" \
        e2e_eq "$(grep -Ec '"state" *: *"held"' <<<"$json")" 2
    origin_owners_win hold
    origin_show
    e2e_result 9-origin-story-hold
else
    e2e_expect "hold: container boots" false
    e2e_result 9-origin-story-hold
fi
e2e_stop

# --- control: without portward ----------------------------------------------------------
if origin_boot control control; then
    e2e_expect "control: portward is not running" e2e_state_is portward.service inactive
    e2e_expect "control: ypserv took 873/tcp" origin_holds ypserv tcp 873
    e2e_expect "control: rsync.service failed" e2e_wait_for 5 e2e_state_is rsync.service failed
    e2e_expect "control: rsync logged the failed bind" e2e_wait_for 5 origin_rsync_logged
    e2e_expect "control: unbound took 1812/udp" origin_holds unbound udp 1812
    e2e_expect "control: freeradius.service failed" e2e_wait_for 5 e2e_state_is freeradius.service failed
    e2e_expect "control: freeradius logged the failed bind (radius.log)" \
        e2e_exec grep -q 'Failed binding to auth address .* port 1812 .*Address already in use' /var/log/freeradius/radius.log
    origin_show
else
    e2e_expect "control: container boots" false
fi
e2e_stop
e2e_result 9-origin-story-control
