# Scenario 4: `systemctl reload portward` with a new drop-in reserves its ports; a reload
# with a broken drop-in keeps the running reservation, logs FILE:LINE:COLUMN: error: and
# the unit stays active; removing the drop-ins and reloading releases only their ports.
e2e_begin 4-reload
e2e_prepare 04-reload
if ! e2e_boot; then e2e_expect "container boots" false; e2e_result; exit 0; fi

main_pid=$(e2e_show portward.service MainPID)
e2e_exec sh -c 'printf "newsvc 42000-42001 tcp -\n" >/etc/portward/ports.d/50-e2e-new.conf'
e2e_expect "systemctl reload portward succeeds" e2e_exec systemctl reload portward.service
e2e_expect "the new drop-in's ports 42000-42001 are reserved" e2e_wait_for 10 e2e_reserved_has 42000 42001
e2e_expect "the earlier ports stay reserved" e2e_reserved_has 40000 40001 41000

e2e_exec sh -c 'printf "# broken\nbroken 70000 tcp -\n" >/etc/portward/ports.d/60-e2e-broken.conf'
e2e_expect "systemctl reload with a broken drop-in succeeds" e2e_exec systemctl reload portward.service
e2e_expect "the journal names the broken file, line and column" \
    e2e_wait_for 10 e2e_journal_grep portward.service '60-e2e-broken\.conf:2:[0-9]+: error:'
e2e_exec journalctl -b -u portward.service -o cat --no-pager | grep -F 'error:' | sed 's/^/    /'
e2e_expect "the unit stays active after the broken reload" \
    e2e_wait_for 5 e2e_state_is portward.service active
e2e_expect "the running reservation is kept" e2e_reserved_has 40000 40001 41000 42000 42001
e2e_expect "the daemon was reloaded, not restarted" e2e_eq "$(e2e_show portward.service MainPID)" "$main_pid"

e2e_exec rm -f /etc/portward/ports.d/50-e2e-new.conf /etc/portward/ports.d/60-e2e-broken.conf
e2e_expect "systemctl reload after removing the drop-ins succeeds" e2e_exec systemctl reload portward.service
e2e_expect "the removed entry's ports are released" e2e_wait_for 10 e2e_reserved_lacks 42000 42001
e2e_expect "the remaining declared ports stay reserved" e2e_reserved_has 40000 40001 41000
e2e_result
