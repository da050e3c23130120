# Scenario 7: a config error at boot makes portward fail fast (seconds, not the start
# timeout), applies nothing, and does not hold back network-pre.target.
e2e_begin 7-config-error
e2e_prepare 07-config-error
printf 'broken 70000 tcp -\n' >>"$B/portward/ports.conf"
e2e_unit after-pre.service sysinit.target
if ! e2e_boot; then e2e_expect "container boots" false; e2e_result; exit 0; fi

start=$(e2e_show portward.service InactiveExitTimestampMonotonic)
failed=$(e2e_show portward.service InactiveEnterTimestampMonotonic)
pre=$(e2e_show network-pre.target ActiveEnterTimestampMonotonic)
e2e_note "portward start $start failed $failed, network-pre.target $pre (usec)"
e2e_expect "portward.service failed" e2e_eq "$(e2e_show portward.service ActiveState)" failed
e2e_expect "with an exit code, not a timeout" e2e_eq "$(e2e_show portward.service Result)" exit-code
e2e_expect "it failed within 5 s of starting" e2e_le "$failed" "$((start + 5000000))"
e2e_expect "network-pre.target is reached" e2e_eq "$(e2e_show network-pre.target ActiveState)" active
e2e_expect "network-pre.target is reached within 5 s of portward starting" e2e_le "$pre" "$((start + 5000000))"
e2e_expect "a service After=network-pre.target started" \
    e2e_eq "$(e2e_show after-pre.service ActiveState)" active
e2e_expect "the journal names ports.conf, line and column" \
    e2e_journal_grep portward.service 'ports\.conf:[0-9]+:[0-9]+: error:'
e2e_exec journalctl -b -u portward.service -o cat --no-pager | sed 's/^/    /' | head -n 10
e2e_expect "nothing was applied" e2e_reserved_lacks 40000 40001 41000
e2e_result
