#!/bin/bash
# Offline checks of units/portward.service, no running systemd needed:
#   1. systemd-analyze verify --man=no            (syntax, dependencies, ExecStart= present)
#   2. systemd-analyze security --offline=true    (exposure at most $E2E_SECURITY_THRESHOLD)
#   3. both again for the unit with the namespace drop-in that portward-generator writes for
#      netns= entries (50-portward-netns.conf, docs/netns.md "Under systemd"; exposure at
#      most $E2E_NETNS_SECURITY_THRESHOLD); needs PORTWARD_BIN (skipped with the stub)
# usage: Tests/e2e/verify-unit.sh [PORTWARD_BIN]
# ExecStart= must name an executable: when /usr/sbin/portward is not installed, the check
# runs in a private mount namespace with a tmpfs on /usr/sbin holding PORTWARD_BIN (or an
# executable stub). Needs root for that; the host is not changed.
set -u
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
unit=$repo/units/portward.service
bin=${1:-${PORTWARD_BIN:-}}
# 2.4: 2.0 for the reservation and the BPF guard, plus what the hold fallback needs
# (docs/guard.md "Hold fallback": it binds the declared ports itself where BPF is
# unavailable): RestrictAddressFamilies= with AF_INET/AF_INET6 (0.3) and
# CAP_NET_BIND_SERVICE (0.1, ports below 1024). No setting left can pay for them: the
# remaining items are root, the host's network namespace and the guard's own needs.
threshold=${E2E_SECURITY_THRESHOLD:-2.4}
# The namespace drop-in adds CAP_SYS_ADMIN (0.3) and RestrictNamespaces=net (0.1): 2.8
# measured on top of the 2.4.
netns_threshold=${E2E_NETNS_SECURITY_THRESHOLD:-$(awk -v t="$threshold" 'BEGIN { printf "%.1f", t + 0.4 }')}
rc=0

work=$(mktemp -d /tmp/portward-verify.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/unit"
cp "$unit" "$work/unit/portward.service"
if [[ ! -x /usr/sbin/portward && ( -z $bin || ! -x $bin ) ]]; then
    stub=$work/portward-stub
    printf '#!/bin/sh\nexit 0\n' >"$stub"
    chmod +x "$stub"
fi

# verify DIR LABEL: systemd-analyze verify of DIR/portward.service.
verify() {
    local out vrc
    if [[ -x /usr/sbin/portward ]]; then
        out=$(cd "$1" && systemd-analyze verify --man=no ./portward.service 2>&1)
        vrc=$?
    else
        # shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
        out=$(unshare --mount --propagation private -- bash -c '
            mount -t tmpfs -o mode=0755 tmpfs /usr/sbin && cp "$1" /usr/sbin/portward &&
            cd "$2" && systemd-analyze verify --man=no ./portward.service' sh "${stub:-$bin}" "$1" 2>&1)
        vrc=$?
    fi
    if ((vrc == 0)) && [[ -z $out ]]; then
        echo "  ok - systemd-analyze verify --man=no $2"
    else
        printf '%s\n' "$out" | sed 's/^/    /'
        echo "  not ok - systemd-analyze verify --man=no $2 (exit $vrc)"
        rc=1
    fi
}

# security DIR LABEL THRESHOLD: systemd-analyze security of DIR/portward.service.
security() {
    local out src exposure t
    # systemd 252 takes --threshold= as an integer on the internal 0-100 scale (2.0 shown = 20).
    t=$(awk -v t="$3" 'BEGIN { printf "%d", t * 10 + 0.5 }')
    out=$(cd "$1" && systemd-analyze security --offline=true --threshold="$t" ./portward.service 2>&1)
    src=$?
    exposure=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for portward.service: \([0-9.]*\).*/\1/p')
    if ((src == 0)) && [[ -n $exposure ]]; then
        echo "  ok - systemd-analyze security --offline=true $2: exposure $exposure <= $3"
    else
        printf '%s\n' "$out" | grep '✗' | sed 's/^/    /'
        echo "  not ok - systemd-analyze security --offline=true $2: exposure ${exposure:-?} > $3 (exit $src)"
        rc=1
    fi
}

verify "$work/unit" units/portward.service
security "$work/unit" units/portward.service "$threshold"

# The unit with the generator's namespace drop-in, appended as a second [Service] section
# (what systemd merges the drop-in into: the same assignments in the same order).
gen=${bin:-}
[[ -z $gen && -x /usr/sbin/portward ]] && gen=/usr/sbin/portward
if [[ -n $gen && -x $gen ]]; then
    mkdir -p "$work/root/etc/portward" "$work/generator" "$work/netns"
    printf 'e2e 45000 tcp netns=all\n' >"$work/root/etc/portward/ports.conf"
    dropin=$work/generator/portward.service.d/50-portward-netns.conf
    if "$gen" generator --root "$work/root" "$work/generator" "$work/generator" "$work/generator" && [[ -f $dropin ]]; then
        { cat "$unit"; echo; cat "$dropin"; } >"$work/netns/portward.service"
        verify "$work/netns" "units/portward.service + 50-portward-netns.conf"
        security "$work/netns" "units/portward.service + 50-portward-netns.conf" "$netns_threshold"
    else
        echo "  not ok - portward generator wrote no $dropin for a netns=all entry"
        rc=1
    fi
else
    echo "  ok - # SKIP the unit with the namespace drop-in (no portward binary to generate it)"
fi
exit "$rc"
