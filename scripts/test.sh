#!/usr/bin/env bash
# Runs the test suite (`cargo test --release`, extra arguments are passed on) with ORT_DYLIB_PATH
# set, then prints a summary. Expects scripts/setup.sh test to have run (`make test` does both).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(pwd)/.deps/onnxruntime/libonnxruntime.so.1.32.0}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "==> test: cargo test --release $* (ORT_DYLIB_PATH=$ORT_DYLIB_PATH)"
set +e
cargo test --release "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

# Add up cargo's "test result: ok. N passed; N failed; N ignored; ..." lines (one per test binary).
read -r passed failed ignored binaries < <(awk '
    /^test result:/ {
        n++
        for (i = 2; i <= NF; i++) {
            if ($i == "passed;") p += $(i - 1)
            if ($i == "failed;") f += $(i - 1)
            if ($i == "ignored;") g += $(i - 1)
        }
    }
    END { print p + 0, f + 0, g + 0, n + 0 }' "$log")

echo "==> test: summary: $binaries test binaries run, cargo test exit code $rc"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "==> test: FAILED before all tests ran (build error or crashed test binary: see above)"
fi
echo "tests: $passed passed, $failed failed, $ignored skipped"
exit "$rc"
