# Scenario 1: portward starts after systemd-sysctl.service and systemd-tmpfiles-setup.service
# and is READY before network-pre.target,
# and a service ordered After=network-pre.target starts after portward is ready.
e2e_begin 1-ordering
e2e_prepare 01-ordering
e2e_unit after-pre.service sysinit.target
if ! e2e_boot; then e2e_expect "container boots" false; e2e_result; exit 0; fi

ts() { e2e_show "$1" "$2"; }
sysctl_done=$(ts systemd-sysctl.service ActiveEnterTimestampMonotonic)
tmpfiles_done=$(ts systemd-tmpfiles-setup.service ActiveEnterTimestampMonotonic)
pw_start=$(ts portward.service InactiveExitTimestampMonotonic)
pw_ready=$(ts portward.service ActiveEnterTimestampMonotonic)
pre_active=$(ts network-pre.target ActiveEnterTimestampMonotonic)
svc_start=$(ts after-pre.service InactiveExitTimestampMonotonic)
e2e_note "systemd-sysctl done $sysctl_done, systemd-tmpfiles-setup done $tmpfiles_done, portward start $pw_start ready $pw_ready," \
    "network-pre.target $pre_active, after-pre.service start $svc_start (usec, monotonic)"

e2e_expect "portward.service is active" e2e_eq "$(e2e_show portward.service ActiveState)" active
e2e_expect "portward.service is Type=notify" e2e_eq "$(e2e_show portward.service Type)" notify
e2e_expect "portward starts after systemd-sysctl.service finished" e2e_le "$sysctl_done" "$pw_start"
# Its "D /tmp" would otherwise remove the sandbox's /tmp/namespace-dev-* now and then
# (226/NAMESPACE; units/portward.service).
e2e_expect "portward starts after systemd-tmpfiles-setup.service finished" e2e_le "$tmpfiles_done" "$pw_start"
e2e_expect "portward is READY before network-pre.target is reached" e2e_le "$pw_ready" "$pre_active"
e2e_expect "a service After=network-pre.target starts after portward is READY" e2e_le "$pw_ready" "$svc_start"
e2e_expect "portward sent a STATUS= line" test -n "$(e2e_show portward.service StatusText)"
e2e_note "StatusText: $(e2e_show portward.service StatusText)"
e2e_expect "declared ports 40000, 40001, 41000-41009 are reserved" e2e_reserved_has 40000 40001 41000 41009
e2e_expect "the boot finished without failed units" e2e_eq "$(e2e_exec systemctl is-system-running)" running

# The hardening in units/portward.service is in force (and scenarios 1-7 run under it).
pid=$(e2e_show portward.service MainPID)
status=$(e2e_exec cat "/proc/$pid/status")
field() { awk -v k="$1:" '$1 == k { print $2 }' <<<"$status"; }
# The unit's CapabilityBoundingSet= as a mask (numbers from linux/capability.h), within
# what the container has (nspawn's default set has no CAP_BPF, CAP_PERFMON, ...): e.g.
# CAP_DAC_READ_SEARCH (2), CAP_NET_ADMIN (12), CAP_SYS_PTRACE (19) = 0x81004.
cap_mask() {
    local names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
        LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
        SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE
        SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP
        MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF
        CHECKPOINT_RESTORE) mask=0 cap i
    for cap in $(sed -n 's/^CapabilityBoundingSet=//p' "$E2E_REPO/units/portward.service"); do
        for i in "${!names[@]}"; do [[ CAP_${names[i]} == "$cap" ]] && mask=$((mask | (1 << i))); done
    done
    echo "$mask"
}
container_bnd=$(e2e_exec awk '$1 == "CapBnd:" { print $2 }' /proc/1/status)
want_bnd=$(printf '%016x' $(($(cap_mask) & 0x$container_bnd)))
e2e_expect "the daemon's bounding set is the unit's CapabilityBoundingSet= (within the container's): $want_bnd" \
    e2e_eq "$(field CapBnd)" "$want_bnd"
e2e_expect "the daemon runs with no_new_privs" e2e_eq "$(field NoNewPrivs)" 1
e2e_expect "the daemon runs under a seccomp filter" e2e_eq "$(field Seccomp)" 2
mounts=$(e2e_exec cat "/proc/$pid/mountinfo")
mount_opts() { awk -v m="$1" '$5 == m { o = $6 } END { print o }' <<<"$mounts"; }
e2e_expect "the daemon sees /proc/sys/net/ipv4 read-write" grep -q '^rw' <<<"$(mount_opts /proc/sys/net/ipv4)"
e2e_expect "the daemon sees /proc/sys read-only" grep -q '^ro' <<<"$(mount_opts /proc/sys)"
e2e_expect "the daemon sees / read-only (ProtectSystem=strict)" grep -q '^ro' <<<"$(mount_opts /)"
e2e_expect "the daemon sees /run/portward read-write" grep -q '^rw' <<<"$(mount_opts /run/portward)"
e2e_expect "systemd 252 in the container verifies the unit" \
    e2e_exec systemd-analyze verify --man=no /usr/local/lib/systemd/system/portward.service
e2e_result
