#!/usr/bin/env bash
# HallWatch setup: installs what is missing, and only that. Safe to run again (fast when all is there).
#
#   scripts/setup.sh          what `make run` needs: apt packages, ONNX Runtime, the detector model, the demo clip
#   scripts/setup.sh test     the same, plus what the tests need (VLC as a second RTSP client; ffmpeg)
#   scripts/setup.sh bench    the same, plus the 1080p benchmark clip
#
# Everything it downloads or makes goes under .deps/, var/ and models/ (all gitignored).
# Data it can reuse from ../shared/ (set SHARED_DIR to use another place) is copied from there.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
MODE="${1:-run}"
case "$MODE" in run | test | bench) ;; *)
    echo "usage: $0 [run|test|bench]" >&2
    exit 2
    ;;
esac
SHARED_DIR="${SHARED_DIR:-$ROOT/../shared}"

ORT_VERSION=1.32.0
ORT_WHEEL=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHEEL_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
ORT_LIB_SHA256=6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f
ORT_DIR="$ROOT/.deps/onnxruntime"
ORT_LIB="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"

MODEL="$ROOT/models/yolox_nano.onnx"
MODEL_SHA256=695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14
MODEL_URL=https://github.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/raw/HEAD/model/yolox_nano.onnx

VTEST_AVI_SHA256=45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf
VTEST_FRAMES=795
VTEST_FPS=7
VTEST_MP4="$ROOT/var/media/vtest.mp4"
BENCH_MP4="$ROOT/var/media/bench1080p.mp4"

step() { echo "==> setup: $*"; }
info() { echo "    $*"; }
die() {
    echo "setup: ERROR: $*" >&2
    exit 1
}

# sha256_check FILE EXPECTED: true if FILE exists and its sha256 is EXPECTED.
sha256_check() {
    [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

# sha256_require FILE EXPECTED: fails loudly unless FILE's sha256 is EXPECTED.
sha256_require() {
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    [ "$got" = "$2" ] || die "sha256 mismatch for $1: got $got, expected $2"
}

# --- 1. Debian packages ------------------------------------------------------------------------
APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" = 0 ]; then
        info "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
}

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

PACKAGES=(
    build-essential pkg-config libssl-dev libsqlite3-dev curl ca-certificates
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp gstreamer1.0-tools
    ffmpeg
)
# pip downloads the ONNX Runtime wheel; any working pip will do.
if ! python3 -m pip --version >/dev/null 2>&1; then
    PACKAGES+=(python3 python3-pip)
fi
if [ "$MODE" = test ]; then
    # VLC: a second, independent RTSP server. Chromium + Node: the browser tests.
    PACKAGES+=(vlc-bin vlc-plugin-base chromium)
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)
fi

step "Debian packages (${#PACKAGES[@]} needed for '$MODE')"
MISSING=()
for p in "${PACKAGES[@]}"; do
    is_installed "$p" || MISSING+=("$p")
done
if [ "${#MISSING[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing packages ${MISSING[*]}: run as root or: sudo apt-get install ${MISSING[*]}"
    info "installing: ${MISSING[*]}"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}"
else
    info "all present"
fi

step "Rust toolchain"
if ! command -v cargo >/dev/null 2>&1; then
    die "cargo not found: install Rust 1.92 or newer with rustup (https://rustup.rs), then run this again"
fi
info "$(cargo --version)"

# --- 2. ONNX Runtime shared library (not a Debian package: taken from the PyPI wheel) -----------
step "ONNX Runtime $ORT_VERSION shared library"
if sha256_check "$ORT_LIB" "$ORT_LIB_SHA256"; then
    info "present"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    info "pip download onnxruntime==$ORT_VERSION (wheel for manylinux_2_28_x86_64, CPython 3.11)"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        "onnxruntime==$ORT_VERSION" --only-binary=:all: \
        --platform manylinux_2_28_x86_64 --python-version 3.11 -d "$tmp"
    [ -f "$tmp/$ORT_WHEEL" ] || die "pip did not download $ORT_WHEEL (got: $(ls "$tmp"))"
    sha256_require "$tmp/$ORT_WHEEL" "$ORT_WHEEL_SHA256"
    mkdir -p "$ORT_DIR"
    info "extracting onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
    python3 - "$tmp/$ORT_WHEEL" "$ORT_LIB.tmp" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[3]) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
    sha256_require "$ORT_LIB.tmp" "$ORT_LIB_SHA256"
    mv "$ORT_LIB.tmp" "$ORT_LIB"
    rm -rf "$tmp"
    trap - EXIT
fi
info "ORT_DYLIB_PATH=$ORT_LIB"

# --- 3. Detector model ---------------------------------------------------------------------------
step "Detector model models/yolox_nano.onnx"
if sha256_check "$MODEL" "$MODEL_SHA256"; then
    info "present"
else
    mkdir -p "$(dirname "$MODEL")"
    if [ -f "$SHARED_DIR/models/yolox_nano.onnx" ]; then
        info "copying from $SHARED_DIR/models/"
        install -m 644 "$SHARED_DIR/models/yolox_nano.onnx" "$MODEL.tmp"
    else
        info "downloading $MODEL_URL"
        curl -fsSL --retry 3 -o "$MODEL.tmp" "$MODEL_URL" || {
            rm -f "$MODEL.tmp"
            die "cannot download $MODEL_URL (or put the model in $SHARED_DIR/models/)"
        }
    fi
    sha256_require "$MODEL.tmp" "$MODEL_SHA256"
    mv "$MODEL.tmp" "$MODEL"
fi
info "sha256 $MODEL_SHA256 ok"

# --- 4. Demo clip: PETS09-S2L1 (vtest.avi) as H.264 MP4 at its true 7 fps --------------------------
# vtest_ok FILE: H.264, 7 fps, 795 frames, no B-frames.
vtest_ok() {
    [ -f "$1" ] || return 1
    local info
    info="$(ffprobe -v error -select_streams v:0 -count_packets \
        -show_entries stream=codec_name,r_frame_rate,avg_frame_rate,nb_read_packets,has_b_frames \
        -of default=noprint_wrappers=1 "$1" 2>/dev/null)" || return 1
    grep -qx "codec_name=h264" <<<"$info" &&
        grep -qx "r_frame_rate=$VTEST_FPS/1" <<<"$info" &&
        grep -qx "avg_frame_rate=$VTEST_FPS/1" <<<"$info" &&
        grep -qx "has_b_frames=0" <<<"$info" &&
        grep -qx "nb_read_packets=$VTEST_FRAMES" <<<"$info"
}

step "Demo clip var/media/vtest.mp4 (PETS09-S2L1, H.264, $VTEST_FPS fps, $VTEST_FRAMES frames)"
if vtest_ok "$VTEST_MP4"; then
    info "present"
else
    mkdir -p "$(dirname "$VTEST_MP4")"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    if [ -f "$SHARED_DIR/data/pets09_s2l1/vtest.avi" ]; then
        info "source: $SHARED_DIR/data/pets09_s2l1/vtest.avi"
        avi="$SHARED_DIR/data/pets09_s2l1/vtest.avi"
    else
        info "source: Debian package opencv-doc (apt-get download, extracting examples/data/vtest.avi)"
        if ! apt-cache show opencv-doc >/dev/null 2>&1; then apt_update_once; fi
        (cd "$tmp" && apt-get download -qq opencv-doc 2>/dev/null) || {
            apt_update_once
            (cd "$tmp" && apt-get download -qq opencv-doc)
        }
        dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb |
            tar -xO ./usr/share/doc/opencv-doc/examples/data/vtest.avi >"$tmp/vtest.avi"
        rm -f "$tmp"/opencv-doc_*.deb
        avi="$tmp/vtest.avi"
    fi
    sha256_require "$avi" "$VTEST_AVI_SHA256"
    # The AVI header says 10 fps but the sequence was shot at 7 fps: `-r 7` before `-i` re-times
    # the input (no frame is dropped or duplicated). GOP 14 = 2 s, no B-frames.
    info "transcoding to H.264 (libx264, 7 fps, GOP 14, no B-frames)"
    ffmpeg -nostdin -hide_banner -loglevel error -y -r "$VTEST_FPS" -i "$avi" -an \
        -c:v libx264 -preset medium -crf 23 -pix_fmt yuv420p -bf 0 \
        -g 14 -keyint_min 14 -sc_threshold 0 -movflags +faststart \
        "$tmp/vtest.mp4"
    vtest_ok "$tmp/vtest.mp4" || die "transcoded vtest.mp4 is not H.264 at $VTEST_FPS fps with $VTEST_FRAMES frames"
    mv "$tmp/vtest.mp4" "$VTEST_MP4"
    rm -rf "$tmp"
    trap - EXIT
fi
info "$VTEST_MP4"

# The demo config (config/hallwatch.toml) records to var/recordings; the server wants it to exist.
step "Demo recording directory var/recordings"
mkdir -p "$ROOT/var/recordings"
info "$ROOT/var/recordings"

# --- 5. Benchmark clip (bench only) -------------------------------------------------------------
# bench_ok FILE: H.264 1920x1080, 25 fps, 500 frames, no B-frames.
bench_ok() {
    [ -f "$1" ] || return 1
    local info
    info="$(ffprobe -v error -select_streams v:0 -count_packets \
        -show_entries stream=codec_name,width,height,r_frame_rate,nb_read_packets,has_b_frames \
        -of default=noprint_wrappers=1 "$1" 2>/dev/null)" || return 1
    grep -qx "codec_name=h264" <<<"$info" && grep -qx "width=1920" <<<"$info" &&
        grep -qx "height=1080" <<<"$info" && grep -qx "r_frame_rate=25/1" <<<"$info" &&
        grep -qx "has_b_frames=0" <<<"$info" && grep -qx "nb_read_packets=500" <<<"$info"
}

if [ "$MODE" = bench ]; then
    step "Benchmark clip var/media/bench1080p.mp4 (1080p25, ~4 Mbit/s CBR, GOP 50, no B-frames, 20 s)"
    if bench_ok "$BENCH_MP4"; then
        info "present"
    else
        mkdir -p "$(dirname "$BENCH_MP4")"
        info "encoding testsrc2 (takes a minute or two on 2 cores)"
        ffmpeg -nostdin -hide_banner -loglevel error -y \
            -f lavfi -i "testsrc2=size=1920x1080:rate=25,noise=alls=12:allf=t" -t 20 -an \
            -c:v libx264 -preset veryfast -pix_fmt yuv420p -bf 0 -g 50 -keyint_min 50 -sc_threshold 0 \
            -b:v 4M -minrate 4M -maxrate 4M -bufsize 4M -x264-params nal-hrd=cbr \
            -movflags +faststart "$BENCH_MP4.tmp.mp4"
        bench_ok "$BENCH_MP4.tmp.mp4" || die "encoded bench1080p.mp4 is not 1080p25 H.264 with 500 frames"
        mv "$BENCH_MP4.tmp.mp4" "$BENCH_MP4"
    fi
    info "$BENCH_MP4"
fi

# --- 6. Browser-test driver (test only) ---------------------------------------------------------
if [ "$MODE" = test ]; then
    step "Browser tests: playwright-core (npm, pinned by tests/browser/package-lock.json), driving /usr/bin/chromium"
    want="$(sed -n 's/.*"playwright-core": "\(.*\)".*/\1/p' "$ROOT/tests/browser/package.json")"
    have="$(sed -n 's/^  "version": "\(.*\)".*/\1/p' "$ROOT/tests/browser/node_modules/playwright-core/package.json" 2>/dev/null || true)"
    if [ -n "$want" ] && [ "$want" = "$have" ]; then
        info "present"
    else
        (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
        info "installed"
    fi
fi

step "done ($MODE): export ORT_DYLIB_PATH=$ORT_LIB"
