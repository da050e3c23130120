# Scenario 10 (issue 14): namespaces created after boot get the reservation of a netns=all
# entry. A drop-in declares 45000-45001 with netns=all; the generator is installed (as the
# packages install it, bound to /usr/local/lib/systemd/system-generators), so
# portward.service gets its namespace drop-in (50-portward-netns.conf: CAP_SYS_ADMIN,
# RestrictNamespaces=net, ReadWritePaths=/proc/sys/net). After boot, with portward running,
# `ip netns add e2e-late` (a named namespace: the inotify watch on /run/netns) and a
# transient unit with PrivateNetwork=yes started with systemd-run (an unnamed namespace held
# only by a process: the periodic discovery, every 10 watch intervals) both get 45000-45001
# in their ip_local_reserved_ports, and `portward status --netns all` lists them. The host
# keeps the entry too, and the daemon's /proc/sys stays read-only but for /proc/sys/net.
# Second boot, without the generator (the unit as shipped): the daemon cannot enter other
# namespaces and says so once, with the fix, in the journal and in `portward status`.
e2e_begin 10-netns

# netns_boot LABEL [generator]: boots with the netns=all drop-in (and the generator).
netns_boot() {
    e2e_prepare "10-netns-$1"
    cp "$E2E_DIR/fixtures/netns/60-e2e-all.conf" "$B/portward/ports.d/"
    E2E_BOOT_ARGS=()
    if [[ ${2:-} == generator ]]; then
        mkdir -p "$B/generators"
        ln -s /usr/sbin/portward "$B/generators/portward-generator"
        E2E_BOOT_ARGS=(--bind-ro="$B/generators:/usr/local/lib/systemd/system-generators")
    fi
    e2e_boot
}

netns_has() {
    local v p
    v=$(e2e_exec ip netns exec "$1" sysctl -n net.ipv4.ip_local_reserved_ports) || return 1
    for p in 45000 45001; do e2e_port_in_value "$p" "$v" || { e2e_note "$1: '$v'"; return 1; }; done
}
unit_has() {
    local v p
    v=$(e2e_exec nsenter --target "$1" --net cat /proc/sys/net/ipv4/ip_local_reserved_ports) || return 1
    for p in 45000 45001; do e2e_port_in_value "$p" "$v" || { e2e_note "pid $1's netns: '$v'"; return 1; }; done
}
# mount_flags PID PATH: the options of the topmost mount at PATH in PID's mount namespace.
mount_flags() { e2e_exec awk -v p="$2" '$5 == p { f = $6 } END { print f }' "/proc/$1/mountinfo"; }
starts_with() { [[ $1 == "$2"* ]] || { e2e_note "'$1' does not start with '$2'"; return 1; }; }
# refusals: the daemon's "netns: entering other network namespaces ..." lines this boot.
refusals() { e2e_exec journalctl -b -u portward.service --no-pager -o cat | grep -c '^netns: entering other network namespaces needs'; }
refusals_are() { e2e_eq "$(refusals)" "$1"; }

if ! netns_boot generator generator; then e2e_expect "container boots" false; e2e_result; exit 0; fi
dropin=/run/systemd/generator/portward.service.d/50-portward-netns.conf
e2e_expect "the generator wrote portward.service's namespace drop-in" e2e_exec grep -qx 'RestrictNamespaces=net' "$dropin"
e2e_expect "portward.service is active" e2e_state_is portward.service active
e2e_expect "the host has the netns=all entry's ports" e2e_reserved_has 45000 45001
e2e_expect "portward.service: RestrictNamespaces=net" e2e_eq "$(e2e_show portward.service RestrictNamespaces)" net
e2e_expect "portward.service: ProtectKernelTunables=yes kept" e2e_eq "$(e2e_show portward.service ProtectKernelTunables)" yes
daemon=$(e2e_show portward.service MainPID)
# CAP_SYS_ADMIN is bit 21: 0x200000.
bnd=$(e2e_exec awk '$1 == "CapBnd:" { print $2 }' "/proc/$daemon/status")
e2e_expect "the daemon's bounding set has CAP_SYS_ADMIN (CapBnd $bnd)" bash -c '(( (16#$1 & 0x200000) != 0 ))' _ "$bnd"
e2e_expect "the daemon's /proc/sys is read-only" starts_with "$(mount_flags "$daemon" /proc/sys)" ro,
e2e_expect "the daemon's /proc/sys/net is writable" starts_with "$(mount_flags "$daemon" /proc/sys/net)" rw,
e2e_expect "the daemon's /sys is read-only" starts_with "$(mount_flags "$daemon" /sys)" ro,
# Topmost mounts at or below /proc/sys that are writable: /proc/sys/net alone (so the host's
# /proc/sys/kernel, vm, fs ... stay read-only for the daemon). nspawn mounts /proc/sys
# read-only too; ProtectKernelTunables=yes (checked above) is what does it on a host.
rw=$(e2e_exec awk '$5 ~ "^/proc/sys(/|$)" { f[$5] = $6 } END { for (p in f) if (f[p] ~ /^rw/) print p }' "/proc/$daemon/mountinfo")
e2e_expect "the daemon's only writable mount under /proc/sys is /proc/sys/net" e2e_eq "$rw" /proc/sys/net

e2e_expect "ip netns add e2e-late (after boot)" e2e_exec ip netns add e2e-late
e2e_expect "e2e-late gets 45000-45001 (ip netns exec e2e-late sysctl)" e2e_wait_for 10 netns_has e2e-late

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
e2e_expect "the daemon logged no refusal" e2e_eq "$(refusals)" 0

e2e_expect "ip netns del e2e-late" e2e_exec ip netns del e2e-late
e2e_expect "the boot has no failed unit" e2e_eq "$(e2e_exec systemctl list-units --failed --plain --no-legend)" ""
e2e_stop
e2e_result 10-netns-generator

# The unit as shipped (no generator, so no drop-in): one line with the fix, however many
# namespaces; status shows it; the host's reservation is unaffected.
if ! netns_boot shipped; then e2e_expect "container boots" false; e2e_result 10-netns-shipped; exit 0; fi
e2e_expect "shipped: portward.service is active" e2e_state_is portward.service active
e2e_expect "shipped: the host has the netns=all entry's ports" e2e_reserved_has 45000 45001
e2e_expect "shipped: ip netns add e2e-a" e2e_exec ip netns add e2e-a
e2e_expect "shipped: the daemon says once that it cannot enter namespaces" e2e_wait_for 10 refusals_are 1
e2e_expect "shipped: ip netns add e2e-b" e2e_exec ip netns add e2e-b
e2e_expect "shipped: ip netns add e2e-c" e2e_exec ip netns add e2e-c
sleep 2
e2e_expect "shipped: still one line after three namespaces" e2e_eq "$(refusals)" 1
e2e_note "$(e2e_exec journalctl -b -u portward.service --no-pager -o cat | grep '^netns: ')"
status=$(e2e_exec portward status 2>&1)
e2e_expect "shipped: portward status names the fix" e2e_contains "$status" "run systemctl daemon-reload, then systemctl restart portward.service"
e2e_expect "shipped: the boot has no failed unit" e2e_eq "$(e2e_exec systemctl list-units --failed --plain --no-legend)" ""
e2e_stop
e2e_result 10-netns-shipped
