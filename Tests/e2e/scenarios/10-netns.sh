# Scenario 10 (issue 14): namespaces created after boot get the reservation of a netns=all
# entry. A drop-in declares 45000-45001 with netns=all; after boot, with portward running,
# `ip netns add e2e-late` (a named namespace: the inotify watch on /run/netns) and a
# transient unit with PrivateNetwork=yes started with systemd-run (an unnamed namespace
# held only by a process: the periodic discovery, every 10 watch intervals) both get
# 45000-45001 in their ip_local_reserved_ports, and `portward status --netns all` lists
# them. The host keeps the entry too.
e2e_begin 10-netns
e2e_prepare 10-netns
cp "$E2E_DIR/fixtures/netns/60-e2e-all.conf" "$B/portward/ports.d/"

netns_has() {
    local v p
    v=$(e2e_exec ip netns exec e2e-late sysctl -n net.ipv4.ip_local_reserved_ports) || return 1
    for p in 45000 45001; do e2e_port_in_value "$p" "$v" || { e2e_note "e2e-late: '$v'"; return 1; }; done
}
unit_has() {
    local v p
    v=$(e2e_exec nsenter --target "$1" --net cat /proc/sys/net/ipv4/ip_local_reserved_ports) || return 1
    for p in 45000 45001; do e2e_port_in_value "$p" "$v" || { e2e_note "pid $1's netns: '$v'"; return 1; }; done
}

if ! e2e_boot; then e2e_expect "container boots" false; e2e_result; exit 0; fi
e2e_expect "portward.service is active" e2e_state_is portward.service active
e2e_expect "the host has the netns=all entry's ports" e2e_reserved_has 45000 45001

e2e_expect "ip netns add e2e-late (after boot)" e2e_exec ip netns add e2e-late
e2e_expect "e2e-late gets 45000-45001 (ip netns exec e2e-late sysctl)" e2e_wait_for 10 netns_has

e2e_expect "systemd-run -p PrivateNetwork=yes: a unit in its own network namespace" \
    e2e_exec systemd-run --quiet --unit=e2e-private -p PrivateNetwork=yes sleep infinity
pid=$(e2e_show e2e-private.service MainPID)
e2e_expect "e2e-private.service runs (MainPID $pid) in a namespace of its own" bash -c '
    [[ $1 != 0 && $(readlink /proc/$2/root/proc/$1/ns/net) != $(readlink /proc/$2/root/proc/1/ns/net) ]]' _ "$pid" "$E2E_PID1"
e2e_expect "the unit's namespace gets 45000-45001 (nsenter --net)" e2e_wait_for 15 unit_has "$pid"

status=$(e2e_exec portward status --netns all 2>&1)
e2e_expect "portward status --netns all lists e2e-late" e2e_contains "$status" e2e-late
inode=$(e2e_exec stat -L -c %i "/proc/$pid/ns/net")
e2e_expect "portward status --netns all lists the unit's namespace (inode $inode)" e2e_contains "$status" "$inode"
e2e_note "$(head -n 40 <<<"$status")"

e2e_expect "ip netns del e2e-late" e2e_exec ip netns del e2e-late
e2e_expect "the boot has no failed unit" e2e_eq "$(e2e_exec systemctl list-units --failed --plain --no-legend)" ""
e2e_stop
e2e_result
