#!/bin/bash
# Drives portward's CNI plugin (the real binary, $PORTWARD, linked as bin/portward the way
# the package links /usr/lib/cni/portward) in a chain after Debian's bridge + host-local +
# portmap (etc/cni/10-podnet-portward.conflist), following the spec's calling convention
# (cni_chain.py). Run inside `unshare -n -m`: that private network namespace plays the
# runtime's (host) side, where bridge creates cni0; the private mount namespace gets a
# tmpfs on /run holding the test's configuration (/run/portward/ports.d, a drop-in folder
# portward reads) and the netns bind mounts. The container's namespace is an
# `ip netns add portward-test-chain-*` deleted on exit.
# Prints "ok NAME" or "FAIL NAME: detail" per check; exits 1 if any failed.
set -u
here=$(dirname "$0")
T=$(mktemp -d /tmp/portward-cni-chain.XXXXXX)
NS=portward-test-chain-$$
KEY=/proc/sys/net/ipv4/ip_local_reserved_ports
cleanup() { ip netns del "$NS" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
failed=0
check() { # NAME COMMAND...
    local name=$1; shift
    if "$@"; then echo "ok $name"; else echo "FAIL $name: $*"; failed=1; fi
}
ip link set lo up
mount -t tmpfs -o mode=0755 portward-test-run /run || { echo "FAIL mount-run: cannot mount a tmpfs on /run"; exit 1; }
mkdir -p "$T/bin" "$T/ipam" /run/portward/ports.d
ln -s "$PORTWARD" "$T/bin/portward"
# Only the pods and all entries reach a pod.
cat > /run/portward/ports.d/50-chain-test.conf <<'CONF'
host-only   7000        tcp
pod-http    8080-8081   tcp   netns=pods
netns=all
metrics     9100        tcp
CONF
jq --arg d "$T/ipam" '.plugins[0].ipMasq = false | .plugins[0].ipam.dataDir = $d' \
    "$PACKAGE_ROOT/etc/cni/10-podnet-portward.conflist" > "$T/net.conflist"
ip netns add "$NS"
ip netns exec "$NS" sh -c "echo 1812 > $KEY"
runtime_key_before=$(cat $KEY)
export CNI_PATH="$T/bin:/usr/lib/cni" CNI_NETNS=/run/netns/$NS CNI_CONTAINERID=portward-chain-1 CNI_IFNAME=eth0
chain() { python3 "$here/cni_chain.py" "$1" "$T/net.conflist" "$T/cache.json"; }
step() { jq -r --arg t "$2" ".steps[] | select(.type == \$t) | $3" "$1"; }

chain ADD > "$T/add.json"
check add-bridge-exit [ "$(step "$T/add.json" bridge .exit)" = 0 ]
check add-portward-exit [ "$(step "$T/add.json" portward .exit)" = 0 ]
check add-prevresult-unchanged [ "$(step "$T/add.json" portward '.stdout | fromjson | tojson')" = "$(step "$T/add.json" portward '.prevResult | tojson')" ]
check add-result-has-eth0 [ "$(jq -r '[.result.interfaces[].name] | index("eth0") != null' "$T/add.json")" = true ]
check add-ports-merged [ "$(ip netns exec "$NS" cat $KEY)" = "1812,8080-8081,9100" ]
check add-runtime-netns-untouched [ "$(cat $KEY)" = "$runtime_key_before" ]

chain CHECK > "$T/check.json"
check check-all-exit-0 [ "$(jq -r '[.steps[].exit] | add' "$T/check.json")" = 0 ]
check check-saw-all-plugins [ "$(jq -r '[.steps[].type] | join(",")' "$T/check.json")" = bridge,portmap,portward ]

ip netns exec "$NS" sh -c "echo 1812,8080-8081 > $KEY"
chain CHECK > "$T/check2.json"
check check-missing-fails [ "$(step "$T/check2.json" portward .exit)" != 0 ]
check check-missing-code-102 [ "$(step "$T/check2.json" portward '.stdout | fromjson | .code')" = 102 ]
ip netns exec "$NS" sh -c "echo 1812,8080-8081,9100 > $KEY"

chain DEL > "$T/del.json"
check del-portward-exit [ "$(step "$T/del.json" portward .exit)" = 0 ]
check del-bridge-exit [ "$(step "$T/del.json" bridge .exit)" = 0 ]
check del-order [ "$(jq -r '[.steps[].type] | join(",")' "$T/del.json")" = portward,portmap,bridge ]
chain DEL > "$T/del2.json"
check del-again-portward-exit [ "$(step "$T/del2.json" portward .exit)" = 0 ]

# The spec's error cases, through the executable.
conf='{"cniVersion":"1.0.0","name":"podnet","type":"portward","prevResult":{"cniVersion":"1.0.0","interfaces":[],"ips":[]}}'
out=$(printf '{"cniVersion": "1.0.0", ' | CNI_COMMAND=ADD "$T/bin/portward"); rc=$?
check bad-config-code-6 [ "$(jq -r .code <<<"$out")" = 6 ]
check bad-config-exit [ $rc != 0 ]
out=$(printf '%s' "$conf" | env -u CNI_NETNS CNI_COMMAND=ADD "$T/bin/portward"); rc=$?
check missing-netns-code-4 [ "$(jq -r .code <<<"$out")" = 4 ]
check missing-netns-names-it [ "$(jq -r .details <<<"$out")" = CNI_NETNS ]
check missing-netns-exit [ $rc != 0 ]
out=$(printf '%s' "${conf/1.0.0/9.9.9}" | CNI_COMMAND=ADD "$T/bin/portward"); rc=$?
check unknown-version-code-1 [ "$(jq -r .code <<<"$out")" = 1 ]
check unknown-version-exit [ $rc != 0 ]
out=$(printf '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$T/bin/portward"); rc=$?
check version-lists-1.0.0 [ "$(jq -r '.supportedVersions | index("1.0.0") != null' <<<"$out")" = true ]
check version-exit [ $rc = 0 ]

# A configuration with errors: ADD and CHECK fail with 103 naming the error, nothing is
# written; VERSION and DEL still answer.
mv /run/portward/ports.d/50-chain-test.conf "$T/good.conf"
printf 'broken 8443 tcp netns=\n' > /run/portward/ports.d/50-chain-test.conf
ip netns exec "$NS" sh -c "echo 1812 > $KEY"
out=$(printf '%s' "$conf" | CNI_COMMAND=ADD "$T/bin/portward"); rc=$?
check bad-portward-config-code-103 [ "$(jq -r .code <<<"$out")" = 103 ]
check bad-portward-config-names-error [ "$(jq -r .details <<<"$out")" = "/run/portward/ports.d/50-chain-test.conf:1:22: error: netns= needs a scope (host, all, pods, or ip netns name patterns such as vpn-*)" ]
check bad-portward-config-exit [ $rc != 0 ]
check bad-portward-config-key-untouched [ "$(ip netns exec "$NS" cat $KEY)" = 1812 ]
out=$(printf '%s' "$conf" | CNI_COMMAND=CHECK "$T/bin/portward"); rc=$?
check bad-portward-config-check-103 [ "$(jq -r .code <<<"$out")" = 103 ]
check bad-portward-config-check-exit [ "$rc" != 0 ]
out=$(printf '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$T/bin/portward"); rc=$?
check bad-portward-config-version-exit [ "$rc" = 0 ]
check bad-portward-config-version-answers [ "$(jq -r .cniVersion <<<"$out")" = 1.0.0 ]
out=$(printf '%s' "$conf" | CNI_COMMAND=DEL "$T/bin/portward"); rc=$?
check bad-portward-config-del-succeeds [ "$rc" = 0 ]
check bad-portward-config-del-prints-nothing [ -z "$out" ]
mv "$T/good.conf" /run/portward/ports.d/50-chain-test.conf

# With arguments, CNI_COMMAND does not matter: the CLI runs.
out=$(CNI_COMMAND=ADD "$T/bin/portward" cat-config 2>&1); rc=$?
check cli-with-arguments [ "$rc" = 0 ]
check cli-with-arguments-lists-pod-http grep -q '^pod-http ' <<<"$out"

ip netns del "$NS"
out=$(printf '%s' "$conf" | CNI_COMMAND=DEL "$T/bin/portward"); rc=$?
check del-after-netns-gone [ "$rc" = 0 ]
check del-after-netns-gone-prints-nothing [ -z "$out" ]
exit $failed
