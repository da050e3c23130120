#!/bin/bash
# End-to-end tests of portward in a real systemd 252 boot (Debian bookworm) under
# systemd-nspawn --private-network. See docs/e2e.md.
#
# usage: Tests/e2e/run.sh [SCENARIO...]      e.g. run.sh 1 4   (default: all)
# prerequisites (Debian): root; apt-get install systemd-container debootstrap
#   (util-linux for unshare/nsenter); network access to the Debian mirror the first time.
# environment:
#   PORTWARD_BIN  use this portward binary instead of building one
#                 (default: swift build -c release --static-swift-stdlib --scratch-path .build-e2e)
#   E2E_ROOTFS    cached rootfs (default .cache/e2e-rootfs, rebuilt when its recipe changes)
#   E2E_KEEP=1    keep the work directory under /tmp: per boot console.log and journal.txt
#   E2E_STORY_BOOTS  boots with portward enabled in scenario 2 (default 3)
#   E2E_ORIGIN_BOOTS boots with the guard in scenario 9 (default 2)
#   E2E_EVENT_ROUNDS binds to the report-only port in scenario 11 (default 5)
#   E2E_DEB       scenario 8 installs this portward_*.deb instead of building one
# Prints a PASS/FAIL/SKIP line per result and "N passed, N failed, N skipped"; exits 1 on
# any failure, 2 when the harness cannot run at all.
set -u
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_DIR/../.." && pwd)
export E2E_DIR E2E_REPO
# shellcheck source=lib.sh
source "$E2E_DIR/lib.sh"

((EUID == 0)) || e2e_die "must run as root (systemd-nspawn, cgroups, namespaces)"
for tool in systemd-nspawn debootstrap unshare nsenter systemd-analyze; do
    command -v "$tool" >/dev/null || e2e_die "$tool missing: apt-get install systemd-container debootstrap"
done
[[ -d /sys/fs/cgroup/unified || -f /sys/fs/cgroup/cgroup.controllers ]] || e2e_die "no cgroup v2 hierarchy"

start=$SECONDS
if [[ -z ${PORTWARD_BIN:-} ]]; then
    e2e_log "building portward (release, static Swift stdlib)"
    (cd "$E2E_REPO" && swift build -c release --static-swift-stdlib --scratch-path .build-e2e --product portward) >&2 ||
        e2e_die "swift build failed"
    PORTWARD_BIN=$E2E_REPO/.build-e2e/release/portward
fi
E2E_BIN=$(realpath "$PORTWARD_BIN") || e2e_die "no portward binary at $PORTWARD_BIN"
[[ -x $E2E_BIN ]] || e2e_die "$E2E_BIN is not executable"
export E2E_BIN

e2e_ensure_rootfs

E2E_WORK=$(mktemp -d /tmp/portward-e2e.XXXXXX)
E2E_RESULTS=$E2E_WORK/results
: >"$E2E_RESULTS"
export E2E_WORK E2E_RESULTS
finish() {
    e2e_sweep
    if [[ ${E2E_KEEP:-} ]]; then e2e_log "work directory kept: $E2E_WORK"; else rm -rf "$E2E_WORK"; fi
}
trap finish EXIT
trap 'exit 130' INT TERM

echo "# unit file checks"
if "$E2E_DIR/verify-unit.sh" "$E2E_BIN"; then
    echo "PASS 0-unit-verify" | tee -a "$E2E_RESULTS"
else
    echo "FAIL 0-unit-verify" | tee -a "$E2E_RESULTS"
fi

selected=("$@")
for script in "$E2E_DIR"/scenarios/[0-9]*.sh; do
    base=$(basename "$script" .sh)
    num=$((10#${base%%-*}))
    if ((${#selected[@]})); then
        keep=""
        for s in "${selected[@]}"; do [[ $s == "$num" || $s == "$base" ]] && keep=1; done
        [[ $keep ]] || continue
    fi
    before=$(wc -l <"$E2E_RESULTS")
    t0=$SECONDS
    # In the background, so that a SIGTERM or SIGINT to run.sh alone (a CI timeout) is
    # handled at once: passed on to the scenario, whose EXIT trap stops its container.
    (
        # shellcheck source=/dev/null
        source "$script"
    ) &
    scenario_pid=$!
    trap 'kill -TERM "$scenario_pid" 2>/dev/null; wait "$scenario_pid"; exit 130' INT TERM
    wait "$scenario_pid"
    rc=$?
    trap 'exit 130' INT TERM
    after=$(wc -l <"$E2E_RESULTS")
    if ((after == before)); then
        echo "FAIL $base (aborted, exit $rc)" | tee -a "$E2E_RESULTS"
    fi
    e2e_log "$base took $((SECONDS - t0)) s"
done

passed=$(grep -c '^PASS' "$E2E_RESULTS")
failed=$(grep -c '^FAIL' "$E2E_RESULTS")
skipped=$(grep -c '^SKIP' "$E2E_RESULTS")
echo "# results"
cat "$E2E_RESULTS"
echo "$passed passed, $failed failed, $skipped skipped ($((SECONDS - start)) s)"
((failed == 0))
