#!/usr/bin/env bash
# Runs `hallwatch analyze` (release build, real model) on PETS09-S2L1 and scores it with
# scripts/eval_pets.py: MOTA/IDF1/ID switches, per-frame counts (whole view and the zones of
# config/zones/pets09.toml), time in zone, and the bare-detector baseline.
#
# Usage: scripts/eval_pets.sh [OUT_DIR] [extra hallwatch analyze arguments, e.g. --analysis-fps 5]
# Env: PETS (default ../shared/data/pets09_s2l1), PYTHON (needs motmetrics numpy scipy),
#      ORT_DYLIB_PATH (default .deps/onnxruntime/libonnxruntime.so.1.32.0).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pets="${PETS:-../shared/data/pets09_s2l1}"
out="${1:-var/eval/pets09}"
shift || true
python="${PYTHON:-python3}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(pwd)/.deps/onnxruntime/libonnxruntime.so.1.32.0}"

[ -f "$pets/vtest.avi" ] && [ -f "$pets/gt/gt.txt" ] || { echo "PETS09-S2L1 not found in $pets (set PETS=...)" >&2; exit 1; }
"$python" -c "import motmetrics, numpy, scipy" 2>/dev/null || {
    echo "$python lacks motmetrics/numpy/scipy: pip install motmetrics numpy scipy (or set PYTHON=...)" >&2; exit 1; }

cargo build --release --bin hallwatch
zones=config/zones/pets09.toml
target/release/hallwatch analyze --video "$pets/vtest.avi" --fps 7 --zones "$zones" --out "$out" "$@"
"$python" scripts/eval_pets.py --gt "$pets/gt/gt.txt" --tracks "$out/tracks.txt" --dets "$out/detections.txt" \
    --zones "$zones" --counts "$out/counts.csv" --visits "$out/visits.csv" --fps 7
