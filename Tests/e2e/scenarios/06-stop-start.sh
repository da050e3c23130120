# Scenario 6: `systemctl stop portward` exits cleanly and leaves the reservations (and the
# state in /run/portward) in place; `systemctl start` again is idempotent.
e2e_begin 6-stop-start
e2e_prepare 06-stop-start
if ! e2e_boot; then e2e_expect "container boots" false; e2e_result; exit 0; fi

before=$(e2e_reserved)
e2e_note "before stop: $before"
e2e_expect "systemctl stop portward succeeds" e2e_exec systemctl stop portward.service
e2e_expect "the unit is inactive, not failed" e2e_eq "$(e2e_show portward.service ActiveState)" inactive
e2e_expect "the daemon exited 0 (result success)" \
    e2e_eq "$(e2e_show portward.service Result)/$(e2e_show portward.service ExecMainStatus)" success/0
e2e_expect "the reservations stay in the kernel" e2e_eq "$(e2e_reserved)" "$before"
e2e_expect "the state in /run/portward survives the stop" test -n "$(e2e_exec ls -A /run/portward)"
e2e_note "/run/portward: $(e2e_exec ls -A /run/portward | tr '\n' ' ')"
e2e_expect "systemctl start portward succeeds" e2e_exec systemctl start portward.service
e2e_expect "the unit is active again" e2e_eq "$(e2e_show portward.service ActiveState)" active
e2e_expect "the value is unchanged (idempotent)" e2e_eq "$(e2e_reserved)" "$before"
e2e_expect "systemctl restart portward succeeds" e2e_exec systemctl restart portward.service
e2e_expect "the value is unchanged after a restart" e2e_eq "$(e2e_reserved)" "$before"
e2e_result
