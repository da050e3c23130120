#!/usr/bin/env bash
# Builds the libFuzzer harnesses (swiftc -sanitize=fuzzer,address, with the pure
# PortwardCore sources compiled in) and runs each for SECONDS (default 60), seeded from
# Tests/Fuzz/corpus/<fuzzer> and the bad-config corpus. New coverage goes to a scratch
# corpus under .build-fuzz/; crashes are written to .build-fuzz/crashes/<fuzzer>/.
# Copy a crash input into Tests/Fuzz/regressions/<fuzzer>/ once fixed: the unit test
# FuzzRegressionTests replays every file there with `swift test`.
# Usage: Tests/Fuzz/run.sh [SECONDS] [FUZZER...]   (fuzzers: config, value)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
fuzzers=("$@")
[ ${#fuzzers[@]} -eq 0 ] && fuzzers=(config value)
out=.build-fuzz
mkdir -p "$out"
core=(Sources/PortwardCore/*.swift)
status=0
for f in "${fuzzers[@]}"; do
    case $f in
        config) harness=Tests/Fuzz/FuzzConfigParser.swift ;;
        value) harness=Tests/Fuzz/FuzzReservedPortsValue.swift ;;
        *) echo "unknown fuzzer $f" >&2; exit 64 ;;
    esac
    echo "== building $f"
    swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name PortwardCore \
        "${core[@]}" "$harness" -o "$out/fuzz-$f" 2>&1 | { grep -v "Cannot export local symbol '__asan" || true; }
    [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
    work="$out/corpus/$f"
    crashes="$out/crashes/$f"
    mkdir -p "$work" "$crashes"
    seeds=(Tests/Fuzz/corpus/$f)
    [ -d "Tests/Fuzz/regressions/$f" ] && seeds+=("Tests/Fuzz/regressions/$f")
    if [ "$f" = config ]; then
        # Every bad-config fixture file is a seed.
        find Tests/Fixtures/bad-config etc -type f -name '*.conf' -print0 |
            while IFS= read -r -d '' file; do cp "$file" "$work/seed-$(echo "$file" | tr / _)"; done
    fi
    echo "== running $f for ${seconds}s"
    "$out/fuzz-$f" "$work" "${seeds[@]}" -max_total_time="$seconds" -max_len=65536 \
        -artifact_prefix="$crashes/" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096 \
        2>&1 | tee "$out/fuzz-$f.log" | grep -E '^(#[0-9]+ +(INITED|DONE)|==[0-9]+==ERROR|stat::|SUMMARY|artifact)' || true
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
exit $status
