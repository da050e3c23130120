#!/bin/bash
# Offline checks of units/portward.service, no running systemd needed:
#   1. systemd-analyze verify --man=no            (syntax, dependencies, ExecStart= present)
#   2. systemd-analyze security --offline=true    (exposure at most $E2E_SECURITY_THRESHOLD)
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
# systemd 252 takes --threshold= as an integer on the internal 0-100 scale (2.0 shown = 20).
threshold_int=$(awk -v t="$threshold" 'BEGIN { printf "%d", t * 10 + 0.5 }')
rc=0

work=$(mktemp -d /tmp/portward-verify.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$unit" "$work/portward.service"

if [[ -x /usr/sbin/portward ]]; then
    out=$(cd "$work" && systemd-analyze verify --man=no ./portward.service 2>&1)
    vrc=$?
else
    if [[ -z $bin || ! -x $bin ]]; then
        bin=$work/portward-stub
        printf '#!/bin/sh\nexit 0\n' >"$bin"
        chmod +x "$bin"
    fi
    # shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
    out=$(unshare --mount --propagation private -- bash -c '
        mount -t tmpfs -o mode=0755 tmpfs /usr/sbin && cp "$1" /usr/sbin/portward &&
        cd "$2" && systemd-analyze verify --man=no ./portward.service' sh "$bin" "$work" 2>&1)
    vrc=$?
fi
if ((vrc == 0)) && [[ -z $out ]]; then
    echo "  ok - systemd-analyze verify --man=no units/portward.service"
else
    printf '%s\n' "$out" | sed 's/^/    /'
    echo "  not ok - systemd-analyze verify --man=no units/portward.service (exit $vrc)"
    rc=1
fi

out=$(cd "$work" && systemd-analyze security --offline=true --threshold="$threshold_int" ./portward.service 2>&1)
src=$?
exposure=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for portward.service: \([0-9.]*\).*/\1/p')
if ((src == 0)) && [[ -n $exposure ]]; then
    echo "  ok - systemd-analyze security --offline=true: exposure $exposure <= $threshold"
else
    printf '%s\n' "$out" | grep '✗' | sed 's/^/    /'
    echo "  not ok - systemd-analyze security --offline=true: exposure ${exposure:-?} > $threshold (exit $src)"
    rc=1
fi
exit "$rc"
