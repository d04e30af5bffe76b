#!/usr/bin/env bash
# Runs `hallwatch analyze` (release build, real model) on PETS09-S2L1 and scores it with
# scripts/eval_pets.py: MOTA/IDF1/ID switches, per-frame counts (whole view and the zones of
# config/zones/pets09.toml), time in zone, the bare-detector baseline and the count MAE ratio
# tracks / bare detector.
#
# Usage: scripts/eval_pets.sh [OUT_DIR] [extra hallwatch analyze arguments, e.g. --analysis-fps 5 --tiles 2x2]
# Env: PETS (default ../shared/data/pets09_s2l1), PYTHON (needs motmetrics numpy scipy),
#      ORT_DYLIB_PATH (default .deps/onnxruntime/libonnxruntime.so.1.32.0),
#      SCALE=WxH (e.g. 384x288): analyse the clip resized to WxH (made with ffmpeg in OUT_DIR,
#      H.264 like a camera sub-stream), a proxy for small, distant people; GT boxes are scaled to match.
# With --tiles other than 1x1 the untiled detector is also run on the same frames (OUT_DIR/untiled),
# because the acceptance floor compares the pipeline with the bare, untiled detector.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pets="${PETS:-../shared/data/pets09_s2l1}"
out="${1:-var/eval/pets09}"
shift || true
python="${PYTHON:-python3}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(pwd)/.deps/onnxruntime/libonnxruntime.so.1.32.0}"
scale="${SCALE:-}"

[ -f "$pets/vtest.avi" ] && [ -f "$pets/gt/gt.txt" ] || { echo "PETS09-S2L1 not found in $pets (set PETS=...)" >&2; exit 1; }
"$python" -c "import motmetrics, numpy, scipy" 2>/dev/null || {
    echo "$python lacks motmetrics/numpy/scipy: pip install motmetrics numpy scipy (or set PYTHON=...)" >&2; exit 1; }

cargo build --release --bin hallwatch
zones=config/zones/pets09.toml
video="$pets/vtest.avi"
scale_args=()
mkdir -p "$out"
if [ -n "$scale" ]; then
    [[ "$scale" =~ ^([0-9]+)x([0-9]+)$ ]] || { echo "SCALE=$scale: expected WxH, e.g. 384x288" >&2; exit 1; }
    video="$out/vtest_$scale.mkv"
    if [ ! -f "$video" ]; then
        # Area averaging is what a camera's own sub-stream scaler does; CRF 23 leaves the coding noise
        # a CCTV sub-stream has. passthrough keeps every frame (the AVI's timestamps are kept as is).
        ffmpeg -v error -y -i "$pets/vtest.avi" -vf "scale=${BASH_REMATCH[1]}:${BASH_REMATCH[2]}:flags=area" \
            -fps_mode passthrough -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p "$video.tmp.mkv"
        mv "$video.tmp.mkv" "$video"
    fi
    scale_args=(--scale-to "$scale")
fi

# The run uses tiles when the extra arguments ask for them (anything but --tiles 1x1); the baseline
# run gets the same arguments without the tiles.
tiled=0
untiled_args=()
skip=0
for a in "$@"; do
    if [ "$skip" = 1 ]; then
        skip=0
        [ "$a" != "1x1" ] && tiled=1
        continue
    fi
    case "$a" in
    --tiles) skip=1 ;;
    --tiles=1x1) ;;
    --tiles=*) tiled=1 ;;
    *) untiled_args+=("$a") ;;
    esac
done

target/release/hallwatch analyze --video "$video" --fps 7 --zones "$zones" --out "$out" "$@"
baseline_args=()
if [ "$tiled" = 1 ]; then
    target/release/hallwatch analyze --video "$video" --fps 7 --zones "$zones" --out "$out/untiled" \
        ${untiled_args[@]+"${untiled_args[@]}"}
    baseline_args=(--baseline-dets "$out/untiled/detections.txt")
fi
"$python" scripts/eval_pets.py --gt "$pets/gt/gt.txt" --tracks "$out/tracks.txt" --dets "$out/detections.txt" \
    --zones "$zones" --counts "$out/counts.csv" --visits "$out/visits.csv" --fps 7 \
    ${scale_args[@]+"${scale_args[@]}"} ${baseline_args[@]+"${baseline_args[@]}"}
