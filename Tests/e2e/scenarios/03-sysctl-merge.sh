# Scenario 3: a sysctl.d file that sets net.ipv4.ip_local_reserved_ports keeps its ports
# (portward merges), and after `systemctl restart systemd-sysctl` (drift: the sysctl.d
# value replaces the whole key) the daemon restores its ports and says so in the journal.
e2e_begin 3-sysctl-merge
e2e_prepare 03-sysctl-merge
cp "$E2E_DIR/fixtures/sysctl/50-e2e-foreign-reserved.conf" "$B/sysctl.d/"
if ! e2e_boot; then e2e_expect "container boots" false; e2e_result; exit 0; fi

e2e_note "ip_local_reserved_ports: $(e2e_reserved)"
e2e_expect "the sysctl.d reservation 45000-45010,46000 is kept" e2e_reserved_has 45000 45005 45010 46000
e2e_expect "the declared ports are added" e2e_reserved_has 40000 40001 41000 41009
e2e_result

# ---- drift repair and its journal event ----------------------------------------------
e2e_begin 3-drift-repair
since=$(e2e_exec date +%s.%N)
e2e_expect "systemctl restart systemd-sysctl succeeds" e2e_exec systemctl restart systemd-sysctl.service
e2e_expect "the daemon restores the declared ports" e2e_wait_for 10 e2e_reserved_has 40000 40001 41000 41009
e2e_expect "the foreign reservation is still there" e2e_reserved_has 45000 45010 46000
e2e_expect "portward.service is still active" e2e_eq "$(e2e_show portward.service ActiveState)" active
drift_event() {
    e2e_exec journalctl -b -u portward.service -o json --no-pager --since "@$since" \
        MESSAGE_ID=a6ef985732c844b184124b10740eeb80 | grep -E '"PORTWARD_PORT" *: *\[?("[^"]*", *)*"[^"]*\<40000\>' |
        grep -q '"PRIORITY" *: *"4"'
}
e2e_expect "the journal has a drift event (MESSAGE_ID, PORTWARD_PORT 40000, warning)" e2e_wait_for 5 drift_event
e2e_exec journalctl -b -u portward.service -o json --no-pager --since "@$since" | grep '"MESSAGE_ID"' | head -n 3 | cut -c1-400 | sed 's/^/    /'
e2e_result
