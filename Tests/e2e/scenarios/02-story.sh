# Scenario 2, the story of the product: with ip_local_port_range pinned tight around the
# declared ports (a sysctl.d file), a noisy early unit grabs every ephemeral port it can
# (held UDP sockets and TCP connections, plus a connect loop); the declared service,
# started after it, still binds 40000/tcp and 40001/udp, on every boot. Control: with
# portward disabled, the same service fails to bind.
e2e_begin 2-story
boots=${E2E_STORY_BOOTS:-3}

# story_boot LABEL enabled|disabled: boots with the pinned range, noisy and story-svc.
story_boot() {
    e2e_prepare "02-story-$1"
    cp "$E2E_DIR/fixtures/sysctl/50-e2e-pin-range.conf" "$B/sysctl.d/"
    e2e_unit noisy.service
    e2e_unit story-svc.service
    [[ $2 == enabled ]] || e2e_disable portward.service sysinit.target
    e2e_boot
}

# Sockets of noisy.service on ports of the pinned range.
noisy_sockets() { e2e_exec ss -Htanup 'sport >= :40000 and sport <= :40004' | grep -v '"socat"' | grep -c .; }

for ((n = 1; n <= boots; n++)); do
    if ! story_boot "boot$n" enabled; then e2e_expect "boot $n: container boots" false; e2e_stop; continue; fi
    e2e_expect "boot $n: ip_local_port_range is pinned to 40000-40004" \
        e2e_eq "$(e2e_exec cat /proc/sys/net/ipv4/ip_local_port_range | tr -s '\t ' ' ')" "40000 40004"
    e2e_expect "boot $n: noisy.service ran and holds ephemeral ports of the range" \
        test "$(noisy_sockets)" -ge 3
    e2e_expect "boot $n: story-svc.service bound its ports (active, result success)" \
        e2e_eq "$(e2e_show story-svc.service ActiveState)/$(e2e_show story-svc.service Result)" active/success
    e2e_expect "boot $n: 40000/tcp is listening" e2e_listening tcp 40000
    e2e_expect "boot $n: 40001/udp is bound" e2e_listening udp 40001
    e2e_expect "boot $n: portward status reports all ok (exit 0)" e2e_exec portward status
    if ((n == 1)); then
        e2e_exec ss -Htanu 'sport >= :40000 and sport <= :40004' | sed 's/^/    /'
        e2e_exec journalctl -b -u noisy.service -u story-svc.service -o cat --no-pager | sed 's/^/    /'
    fi
    e2e_stop
done

if story_boot control disabled; then
    e2e_expect "control: portward is not running" e2e_eq "$(e2e_show portward.service ActiveState)" inactive
    e2e_expect "control: noisy.service took declared ports" \
        test -n "$(e2e_exec ss -Htanu 'sport >= :40000 and sport <= :40001')"
    e2e_expect "control: story-svc.service failed to bind" \
        e2e_eq "$(e2e_show story-svc.service Result)" exit-code
    e2e_exec journalctl -b -u story-svc.service -o cat --no-pager | sed 's/^/    /'
else
    e2e_expect "control: container boots" false
fi
e2e_stop
e2e_result
