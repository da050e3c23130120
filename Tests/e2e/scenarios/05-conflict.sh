# Scenario 5: a process outside the owner unit (another user) binds a declared port; `portward status`
# inside the container names its pid, command and unit and exits 3; the daemon logs the
# conflict in the journal.
e2e_begin 5-conflict
e2e_prepare 05-conflict
e2e_sandboxed_status_unit status-sandboxed.service
if ! e2e_boot; then e2e_expect "container boots" false; e2e_result; exit 0; fi

e2e_expect "portward status exits 0 before the conflict" e2e_exec portward status
# The intruder runs as another user, so naming it needs CAP_SYS_PTRACE/CAP_DAC_READ_SEARCH.
e2e_exec systemd-run --quiet --unit=intruder.service -p User=nobody socat -u TCP-LISTEN:40000,reuseaddr,fork OPEN:/dev/null
e2e_expect "intruder.service listens on 40000/tcp" \
    e2e_wait_for 10 e2e_listening tcp 40000
pid=$(e2e_show intruder.service MainPID)
out=$(e2e_exec portward status 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/    /'
e2e_expect "portward status exits 3 (conflict)" e2e_eq "$rc" 3
e2e_expect "status names the conflict" e2e_contains "$out" conflict
e2e_expect "status names the holder's pid $pid" grep -Eq "(^|[^0-9])$pid([^0-9]|$)" <<<"$out"
e2e_expect "status names the holder's command socat" e2e_contains "$out" socat
e2e_expect "status names the holder's unit intruder.service" e2e_contains "$out" intruder.service
json=$(e2e_exec portward status --json 2>&1)
json_names_holder() { e2e_contains "$json" "$pid" && e2e_contains "$json" socat && e2e_contains "$json" intruder.service; }
e2e_expect "status --json names pid, command and unit" json_names_holder

# The daemon's sandbox (capabilities, ProtectProc=, seccomp, ...) still lets it name a
# holder owned by another user: run `portward status` as a unit with that exact sandbox.
e2e_expect "portward status runs inside the portward.service sandbox" \
    e2e_exec systemctl start status-sandboxed.service
sandboxed=$(e2e_exec journalctl -b -u status-sandboxed.service -o cat --no-pager)
e2e_expect "in the sandbox it still names socat[$pid], intruder.service, uid 65534" \
    e2e_contains "$sandboxed" "socat[$pid] intruder.service uid=65534"
e2e_result

# ---- the daemon's conflict event in the journal ----------------------------------------
e2e_begin 5-conflict-journal
conflict_event() {
    e2e_exec journalctl -b -u portward.service -o json --no-pager \
        MESSAGE_ID=e562e6ddc60c4493ad1810a89f43fe43 PORTWARD_HOLDER_UNIT=intruder.service |
        grep -E "\"PORTWARD_HOLDER_PID\" *: *\"$pid\"" | grep -q '"PORTWARD_PORT" *: *"40000"'
}
e2e_expect "the journal has a conflict event (MESSAGE_ID, holder pid/unit, port)" \
    e2e_wait_for 10 conflict_event
e2e_result

e2e_begin 5-conflict-ends
e2e_exec systemctl stop intruder.service
e2e_expect "portward status exits 0 once the intruder is gone" e2e_exec portward status
e2e_result
