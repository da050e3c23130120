# Scenario 11 (issue 13): events, not polls. One boot with the bpf() syscall allowed
# (e2e_allow_bpf, as scenario 9's guard boots, plus CAP_PERFMON as the daemon has on a
# host), so the guard and its event programs (post_bind4/6, cgroup/sysctl) are attached to
# the container's cgroup root. portward.service gets a drop-in with --interval 60s and
# --safety-interval 600s: no full check runs for a minute at least, so whatever happens
# within seconds came from an event.
#   - status: the watch is in mode "events" (status --json daemon.watch), full check every
#     600 s;
#   - drift: e2e-keywriter.service, started after boot, writes "5000" to the key (dropping
#     every declared port); the drift event (MESSAGE_ID a6ef9857..., PORTWARD_WRITER) names
#     e2e-keywriter[PID] (e2e-keywriter.service) and the key is restored within seconds;
#   - report-only: E2E_EVENT_ROUNDS rounds (default 5) of a transient unit that binds the
#     report-only port 40100/tcp and exits at once; each bind is in the journal (MESSAGE_ID
#     d0f1bb41..., PORTWARD_VERDICT=reported) with the binder's pid and command, within
#     5 s of the bind (the latency is printed: the journal's __REALTIME_TIMESTAMP minus the
#     time the binder printed right after bind(), both CLOCK_REALTIME of the same kernel);
#   - socket activation: e2e-sockact.socket (enabled) listens on 40300/tcp, declared for
#     unit:e2e-sockact.service: the generator's drop-in for the socket unit registers its
#     cgroup, so systemd binds it at boot under the guard, and status says ok (systemd's
#     listener is the owner's), guarded.
e2e_begin 11-events
events=$E2E_DIR/fixtures/events
rounds=${E2E_EVENT_ROUNDS:-5}
drift_id=a6ef985732c844b184124b10740eeb80
report_id=d0f1bb41287246d99a82b05ffa9aea84

e2e_prepare 11-events
cp "$events/60-e2e-quiet.conf" "$events/70-e2e-sockact.conf" "$B/portward/ports.d/"
mkdir -p "$B/units/portward.service.d"
cp "$events/50-e2e-slow-checks.conf" "$B/units/portward.service.d/"
e2e_unit e2e-keywriter.service -
e2e_unit e2e-sockact.socket sockets.target
e2e_unit e2e-sockact.service -
# The generator, for the owners' drop-ins (e2e-sockact.socket's among them).
mkdir -p "$B/generators"
ln -s /usr/sbin/portward "$B/generators/portward-generator"
E2E_BOOT_ARGS=(--bind-ro="$B/generators:/usr/local/lib/systemd/system-generators")
e2e_allow_bpf CAP_PERFMON
if ! e2e_boot; then e2e_expect "container boots" false; e2e_result; exit 0; fi

# --- the watch mode ---------------------------------------------------------------------
json=$(e2e_exec portward status --json 2>/dev/null | tr -d '\n')
watch=$(grep -o '"watch" *: *{.*' <<<"$json")
e2e_expect "portward status --json: daemon.watch.mode is events" \
    e2e_eq "$(e2e_json_field mode <<<"$watch")" events
e2e_expect "portward status --json: daemon.watch.checkInterval is 600 (the drop-in's --safety-interval)" \
    e2e_eq "$(grep -o '"checkInterval" *: *[0-9.]*' <<<"$watch" | head -n 1 | sed 's/.*: *//')" 600
e2e_expect "portward status says 'watch: events'" \
    e2e_contains "$(e2e_exec portward status 2>&1)" "watch: events"
# With CAP_PERFMON the builds that take the command at bind or write time.
e2e_expect "post_bind4, post_bind6 and sysctl (with the command) are attached to the container's cgroup root" \
    e2e_eq "$(e2e_bpf_attached '^portward_(pb4|pb6|sysctl)$' | wc -l)" 3
e2e_result 11-events-mode

# --- socket activation ------------------------------------------------------------------
# systemd bound e2e-sockact.socket's 40300/tcp at boot (its "(sd-listen)" helper, in the
# socket unit's cgroup), after portward guarded it for e2e-sockact.service: the generator's
# drop-in for the socket unit registered that cgroup first, so the guard let the bind
# through; systemd (PID 1) holds the listener, which status counts as the owner's.
e2e_expect "the generator wrote e2e-sockact.socket's drop-in" \
    e2e_exec test -f /run/systemd/generator/e2e-sockact.socket.d/50-portward-owner.conf
e2e_expect "e2e-sockact.socket is listening (systemd bound the guarded 40300/tcp)" \
    e2e_eq "$(e2e_show e2e-sockact.socket ActiveState)" active
e2e_expect "40300/tcp is held by systemd" \
    e2e_contains "$(e2e_exec ss -Hltnp 'sport = :40300' 2>&1)" '"systemd",pid=1,'
row=$(e2e_exec portward status 2>&1 | grep -E '^sockact ' | awk '{ print $5, $6 }')
e2e_expect "portward status: sockact is ok and guarded (systemd's listener is the owner's)" e2e_eq "$row" "ok guarded"
e2e_expect "no guard denial of 40300" \
    e2e_eq "$(e2e_exec journalctl -b -u portward.service -o cat --no-pager MESSAGE_ID=$report_id PORTWARD_PORT=40300 | wc -l)" 0
e2e_result 11-events-socket-activation

# --- a unit rewrites the key after boot -------------------------------------------------
since=$(e2e_exec date +%s.%N)
e2e_expect "e2e-keywriter.service starts" e2e_exec systemctl start e2e-keywriter.service
writer_pid=$(e2e_show e2e-keywriter.service MainPID)
drift_line() {
    e2e_exec journalctl -b -u portward.service -o json --no-pager --since "@$since" MESSAGE_ID=$drift_id |
        grep -E '"PORTWARD_WRITER"' | head -n 1
}
drift_logged() { [[ -n $(drift_line) ]]; }
e2e_expect "the journal has a drift event with PORTWARD_WRITER" e2e_wait_for 10 drift_logged
line=$(drift_line)
e2e_json_field MESSAGE <<<"$line" | sed 's/^/    /'
e2e_expect "the drift event names the writer: e2e-keywriter[$writer_pid] (e2e-keywriter.service)" \
    e2e_eq "$(e2e_json_field PORTWARD_WRITER <<<"$line")" "e2e-keywriter[$writer_pid] (e2e-keywriter.service)"
e2e_expect "the drift event's PORTWARD_LOST has the declared ports" \
    e2e_eq "$(e2e_json_field PORTWARD_LOST <<<"$line")" 40000-40001,40100,40300,41000-41009
# 10 s, far below the 60 s --interval: only the write's event explains the repair.
e2e_expect "the declared ports are restored (no poll for 60 s: the event did it)" \
    e2e_wait_for 10 e2e_reserved_has 40000 40001 40100 41000 41009
e2e_expect "the writer's own 5000 is kept" e2e_reserved_has 5000
e2e_exec systemctl stop e2e-keywriter.service
e2e_result 11-events-drift

# --- binds to a report-only port --------------------------------------------------------
# report_line PID: the journal's report of PID's bind to 40100/tcp.
report_line() {
    e2e_exec journalctl -b -u portward.service -o json --no-pager MESSAGE_ID=$report_id \
        PORTWARD_VERDICT=reported PORTWARD_PORT=40100 PORTWARD_HOLDER_PID="$1" | head -n 1
}
report_logged() { [[ -n $(report_line "$1") ]]; }
latencies=()
for ((i = 1; i <= rounds; i++)); do
    out=$(e2e_exec systemd-run --quiet --wait --pipe --unit="e2e-binder-$i" /usr/local/libexec/e2e/e2e-binder 40100)
    read -r bpid bound_us _ <<<"$out"
    if ! [[ $bpid =~ ^[0-9]+$ && $bound_us =~ ^[0-9]+$ ]]; then
        e2e_expect "round $i: the binder bound 40100/tcp (report-only: never refused)" e2e_eq "$out" "PID TIME"
        continue
    fi
    e2e_expect "round $i: the journal reports the bind of 40100/tcp by pid $bpid" e2e_wait_for 10 report_logged "$bpid"
    line=$(report_line "$bpid")
    [[ -n $line ]] || continue
    ((i == 1)) && e2e_json_field MESSAGE <<<"$line" | sed 's/^/    /'
    e2e_expect "round $i: it names the command e2e-binder and the entry quiet" \
        e2e_eq "$(e2e_json_field PORTWARD_HOLDER_COMM <<<"$line") $(e2e_json_field PORTWARD_ENTRY <<<"$line")" "e2e-binder quiet"
    journal_us=$(e2e_json_field __REALTIME_TIMESTAMP <<<"$line")
    [[ $journal_us =~ ^[0-9]+$ ]] || journal_us=0
    latency=$((journal_us - bound_us))
    # A generous bound, far below the 60 s --interval: the entry came from the event.
    e2e_expect "round $i: journalled $((latency / 1000)) ms after the bind (0 to 5 s)" \
        test "$latency" -ge 0 -a "$latency" -lt 5000000
    latencies+=("$latency")
    sleep 0.$((RANDOM % 5 + 1))
done
if ((${#latencies[@]})); then
    e2e_note "bind -> journal latency (us) over ${#latencies[@]} rounds: $(printf '%s\n' "${latencies[@]}" | sort -n | tr '\n' ' ')"
fi
e2e_expect "portward status --json counts no dropped events" \
    e2e_eq "$(e2e_exec portward status --json 2>/dev/null | tr -d '\n' | grep -o '"droppedEvents" *: *[0-9]*' | sed 's/.*: *//')" 0
e2e_result 11-events-report-only
e2e_stop
