#!/usr/bin/env bash
# Builds eader with CUDA on a machine without a GPU, for a GPU machine whose driver is
# CUDA 13 and whose CUDA libraries come from PyPI's CUDA 13 wheels (PyTorch's), and puts
# what the GPU run needs into gpu-bundle/ (see README "GPU" and scripts/gpu-run.sh).
#
#   scripts/build-cuda.sh [--cudnn] [--with-curand] [--no-tests] [--out DIR]
#                         [--nvcc-only | --setup-only | --check]
#
# What it does, installing what is missing (apt needs root or sudo):
#  1. nvcc, for candle's kernels (PTX for compute_80, which the driver JIT-compiles for
#     any newer GPU, H100/H200 included): Debian bookworm's `nvidia-cuda-toolkit` (11.8)
#     from the non-free section, added to apt's sources when absent.
#  2. The CUDA 13 libraries to link against (libcublas.so.13, libcublasLt.so.13,
#     libcudart.so.13, libnvrtc.so.13, libcurand.so.10; libcudnn.so.9 with --cudnn):
#     a Python environment's nvidia/cu13 wheels when present, else `pip install --target`
#     into the cache (~1 GB of wheels).
#  3. `cargo build --release -p eader-cli --features cuda` with CUDARC_CUDA_VERSION=13000
#     (cudarc's CUDA 13 bindings) and CUDA_COMPUTE_CAP=80, linked through a folder of
#     symlinks (CUDA_HOME) so that the CUDA 13 sonames end up in the binary, and
#     (unless --no-tests) eader-erasing's and eader-train's unit-test binaries, same features.
#  4. Strips the binaries (into target/gpu-bin/), checks with readelf that they need only
#     the libraries the GPU image has, and writes them xz-compressed (~36 MB -> ~5 MB
#     each; most of a binary is candle's unused quantized-kernel fatbin) into gpu-bundle/
#     with a MANIFEST. scripts/gpu-run.sh unpacks them with Python's lzma.
# --cudnn adds a second binary, eader-cudnn (features cuda + cudnn), for the cuDNN
# comparison. --with-curand adds libcurand.so.10.xz (~42 MB) for a GPU image without
# cuRAND (PyTorch 2.11's wheels bring it, 2.15's do not). --nvcc-only stops after 1 (for
# `cargo check`/`clippy --features cuda`), --setup-only after 2, --check runs only 4's
# checks on an existing bundle.
# Environment: EADER_CUDA_CACHE (default ~/.cache/eader-cuda), CARGO_TARGET_DIR,
# EADER_CU13_LIB (a folder holding the CUDA 13 libraries, skips the search).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/gpu-bundle
CACHE=${EADER_CUDA_CACHE:-$HOME/.cache/eader-cuda}
WITH_TESTS=1
WITH_CUDNN=0
WITH_CURAND=0
NVCC_ONLY=0
SETUP_ONLY=0
CHECK_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cudnn) WITH_CUDNN=1 ;;
        --with-curand) WITH_CURAND=1 ;;
        --nvcc-only) NVCC_ONLY=1 ;;
        --no-tests) WITH_TESTS=0 ;;
        --setup-only) SETUP_ONLY=1 ;;
        --check) CHECK_ONLY=1 ;;
        --out) OUT=$(realpath -m "$2"); shift ;;
        -h | --help) sed -n '2,31p' "$0"; exit 0 ;;
        *) echo "build-cuda.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "== build-cuda: $*" >&2; }
die() { echo "build-cuda: error: $*" >&2; exit 1; }
T0=$SECONDS
lap() { say "$1 done in $((SECONDS - T0)) s"; T0=$SECONDS; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root (or sudo) to run: $*"; fi
}

# --- 1. nvcc -------------------------------------------------------------------------
ensure_nvcc() {
    if command -v nvcc >/dev/null; then
        say "nvcc: $(nvcc --version | grep -o 'release [0-9.]*')"
        return
    fi
    . /etc/os-release
    [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ] \
        || die "no nvcc on PATH, and this is not Debian bookworm: install a CUDA toolkit \
(11.8 to 12.x, any nvcc that targets compute_80) and put nvcc on PATH"
    if ! apt-cache policy nvidia-cuda-toolkit 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        say "adding Debian's non-free section to apt's sources"
        as_root tee /etc/apt/sources.list.d/eader-debian-nonfree.sources >/dev/null <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: non-free contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    fi
    say "apt-get install nvidia-cuda-toolkit (CUDA 11.8, ~3 GB installed)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit
    command -v nvcc >/dev/null || die "nvidia-cuda-toolkit installed but no nvcc on PATH"
}

# --- 2. CUDA 13 libraries ------------------------------------------------------------
CU13_NEEDED=(libcublas.so.13 libcublasLt.so.13 libcudart.so.13 libnvrtc.so.13)

# Prints the first nvidia/cu13/lib folder of this machine's Python environments (or
# the cache) holding every library in CU13_NEEDED.
find_cu13() {
    python3 - "$CACHE/py" "${CU13_NEEDED[@]}" <<'EOF'
import glob, os, site, sys
cache, needed = sys.argv[1], sys.argv[2:]
roots = [cache] + site.getsitepackages() + [site.getusersitepackages()]
roots += glob.glob(os.path.expanduser("~/.pyenv/versions/*/lib/python3*/site-packages"))
roots += glob.glob("/usr/local/lib/python3*/dist-packages") + glob.glob("/opt/conda/lib/python3*/site-packages")
for root in roots:
    lib = os.path.join(root, "nvidia", "cu13", "lib")
    if all(os.path.exists(os.path.join(lib, n)) for n in needed):
        print(lib)
        break
EOF
}

# Prints the first file named $1 among a list of folders.
first_of() {
    local name=$1 dir
    shift
    for dir in "$@"; do
        [ -e "$dir/$name" ] && { echo "$dir/$name"; return; }
    done
    return 0
}

ensure_cu13() {
    local pkgs=()
    CU13=${EADER_CU13_LIB:-$(find_cu13)}
    if [ -z "$CU13" ]; then
        pkgs+=('nvidia-cublas>=13,<14' 'nvidia-cuda-runtime>=13,<14' 'nvidia-cuda-nvrtc>=13,<14')
    fi
    # libcurand.so.10 is the soname of every cuRAND since CUDA 10.2: any copy links.
    CURAND=$(first_of libcurand.so.10 "${CU13:-/nonexistent}" "$CACHE/py/nvidia/cu13/lib" \
        /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64)
    [ -n "$CURAND" ] || pkgs+=('nvidia-curand>=10.4,<10.5')
    CUDNN=""
    if [ "$WITH_CUDNN" = 1 ]; then
        CUDNN=$(python3 -c 'import nvidia.cudnn, os; print(os.path.join(list(nvidia.cudnn.__path__)[0], "lib"))' 2>/dev/null || true)
        [ -n "$CUDNN" ] && [ -e "$CUDNN/libcudnn.so.9" ] || CUDNN=$(first_of libcudnn.so.9 "$CACHE/py/nvidia/cudnn/lib" | xargs -r dirname)
        [ -n "$CUDNN" ] || pkgs+=('nvidia-cudnn-cu13>=9,<10')
    fi
    if [ "${#pkgs[@]}" -gt 0 ]; then
        say "pip install --target $CACHE/py ${pkgs[*]}"
        python3 -m pip install --quiet --disable-pip-version-check --no-deps --upgrade \
            --target "$CACHE/py" "${pkgs[@]}"
        [ -n "$CU13" ] || CU13=$(find_cu13)
        [ -n "$CURAND" ] || CURAND=$(first_of libcurand.so.10 "$CACHE/py/nvidia/cu13/lib")
        if [ "$WITH_CUDNN" = 1 ] && [ -z "$CUDNN" ]; then CUDNN=$CACHE/py/nvidia/cudnn/lib; fi
    fi
    [ -n "$CU13" ] || die "CUDA 13 libraries (${CU13_NEEDED[*]}) not found after pip install"
    [ -n "$CURAND" ] || die "libcurand.so.10 not found after pip install"
    say "CUDA 13 libraries: $CU13; cuRAND: $CURAND${CUDNN:+; cuDNN: $CUDNN}"
}

# libcuda.so: the driver API. No driver is needed to build: the toolkit's stub links
# as well (the GPU machine's driver provides libcuda.so.1 at run time).
find_libcuda() {
    local nvcc_root
    nvcc_root=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
    first_of libcuda.so /usr/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/stubs \
        /usr/local/cuda/lib64/stubs "$nvcc_root/lib64/stubs" "$nvcc_root/lib/stubs"
}

# A folder of `lib<name>.so` symlinks to exactly the libraries to link against; cudarc's
# build script searches only $CUDA_HOME/lib when CUDA_HOME is set.
stage_link_folder() {
    STAGE=$CACHE/link
    rm -rf "$STAGE"
    mkdir -p "$STAGE/lib"
    local lib
    for lib in "${CU13_NEEDED[@]}"; do
        ln -s "$CU13/$lib" "$STAGE/lib/${lib%%.so.*}.so"
    done
    ln -s "$CURAND" "$STAGE/lib/libcurand.so"
    local libcuda
    libcuda=$(find_libcuda)
    [ -n "$libcuda" ] || die "no libcuda.so (driver or toolkit stub) to link against"
    ln -s "$(readlink -f "$libcuda")" "$STAGE/lib/libcuda.so"
    [ -z "$CUDNN" ] || ln -s "$CUDNN/libcudnn.so.9" "$STAGE/lib/libcudnn.so"
}

# --- 3. build --------------------------------------------------------------------------
cargo_env() {
    env CUDA_HOME="$STAGE" CUDARC_CUDA_VERSION=13000 CUDA_COMPUTE_CAP=80 \
        nice -n 10 cargo "$@"
}

# Prints the executable cargo reports for the `test` profile of $1's library.
test_executable() {
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == sys.argv[1] and m["profile"]["test"]:
        print(m["executable"])' "$1"
}

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# Unit-test binaries for the GPU run: the erasing ops' CUDA twins, the device choice.
TEST_CRATES=(eader-erasing eader-train)
BINARIES=(eader eader-cudnn eader-erasing-tests eader-train-tests)
BIN=$TARGET_DIR/gpu-bin # the stripped binaries, before compression

build() {
    local target_dir=$TARGET_DIR
    mkdir -p "$OUT" "$BIN"
    say "cargo build --release -p eader-cli --features cuda"
    (cd "$ROOT" && cargo_env build --release --locked -p eader-cli --features cuda)
    strip -o "$BIN/eader" "$target_dir/release/eader"
    lap "eader (cuda)"
    if [ "$WITH_CUDNN" = 1 ]; then
        say "cargo build --release -p eader-cli --features cuda,cudnn"
        (cd "$ROOT" && cargo_env build --release --locked -p eader-cli --features cuda,cudnn)
        strip -o "$BIN/eader-cudnn" "$target_dir/release/eader"
        lap "eader (cuda + cudnn)"
    fi
    if [ "$WITH_TESTS" = 1 ]; then
        local krate exe
        for krate in "${TEST_CRATES[@]}"; do
            say "cargo test -p $krate --features cuda --release --lib --no-run"
            exe=$(cd "$ROOT" && cargo_env test --release --locked -p "$krate" --features cuda \
                --lib --no-run --message-format=json-render-diagnostics \
                | test_executable "${krate//-/_}")
            [ -n "$exe" ] || die "cargo did not report $krate's test executable"
            strip -o "$BIN/$krate-tests" "$exe"
            lap "$krate tests (cuda)"
        done
    fi
}

# --- 4. checks -------------------------------------------------------------------------
# The shared libraries the GPU machine provides: its driver (libcuda.so.1), PyTorch's
# CUDA 13 wheels (nvidia/cu13/lib, nvidia/cudnn/lib), and the C/C++ runtime.
CUDA_LIBS='libcuda\.so\.1|libcublas\.so\.13|libcublasLt\.so\.13|libcudart\.so\.13|libnvrtc\.so\.13|libcurand\.so\.10|libcudnn\.so\.9'
C_RUNTIME='libstdc\+\+\.so\.6|libgcc_s\.so\.1|libm\.so\.6|libc\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|ld-linux-x86-64\.so\.2|linux-vdso\.so\.1'
ALLOWED="^($CUDA_LIBS|$C_RUNTIME)\$"

# Any other library a binary needs (plotters' fontconfig and freetype, and theirs) is
# copied into gpu-bundle/syslib/, which gpu-run.sh puts on the library path when the GPU
# image lacks one of them.
collect_syslibs() {
    local name line lib path
    rm -rf "$OUT/syslib"
    for name in "${BINARIES[@]}"; do
        [ -f "$BIN/$name" ] || continue
        LD_LIBRARY_PATH=$CU13 ldd "$BIN/$name" | while read -r line; do
            lib=${line%% *}
            path=$(sed -n 's/.* => \(\/[^ ]*\) .*/\1/p' <<<"$line")
            grep -Eq "$ALLOWED" <<<"$lib" && continue
            [ -n "$path" ] || continue
            mkdir -p "$OUT/syslib"
            cp -L "$path" "$OUT/syslib/$lib"
        done
    done
}

check_bundle() {
    local name bin needed bad glibc lib status=0
    for name in "${BINARIES[@]}"; do
        bin=$BIN/$name
        [ -f "$bin" ] || continue
        needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort)
        bad=$( (grep -Ev "$ALLOWED" <<<"$needed" || true) | while read -r lib; do
            [ -f "$OUT/syslib/$lib" ] || echo "$lib"
        done)
        glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
        say "$(basename "$bin"): $(du -h "$bin" | cut -f1), needs $(tr '\n' ' ' <<<"$needed")(newest symbol $glibc)"
        if [ -n "$bad" ]; then
            echo "build-cuda: error: $(basename "$bin") needs libraries neither the GPU image nor the bundle has: $bad" >&2
            status=1
        fi
        grep -q 'libcublas\.so\.13' <<<"$needed" \
            || say "warning: $(basename "$bin") does not link cuBLAS: nothing in it opens a CUDA device"
    done
    return $status
}

write_manifest() {
    {
        echo "# gpu-bundle, written by scripts/build-cuda.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "commit: $(git -C "$ROOT" rev-parse HEAD)$(git -C "$ROOT" diff --quiet HEAD -- crates src Cargo.toml Cargo.lock || echo ' (+ uncommitted changes)')"
        echo "build_root: $ROOT"
        echo "nvcc: $(nvcc --version | grep -o 'release [0-9.]*')"
        echo "cuda_libs: $CU13 (CUDARC_CUDA_VERSION=13000, CUDA_COMPUTE_CAP=80)"
        echo "rustc: $(rustc --version)"
        (cd "$BIN" && for f in "${BINARIES[@]}"; do
            [ -f "$f" ] && echo "sha256: $(sha256sum "$f")"
        done)
    } >"$OUT/MANIFEST"
}

# xz-compresses the checked binaries into the bundle (and drops stale ones).
pack() {
    local name
    for name in "${BINARIES[@]}"; do
        rm -f "$OUT/$name"
        if [ ! -f "$BIN/$name" ] || { [ "$name" = eader-cudnn ] && [ "$WITH_CUDNN" = 0 ]; } \
            || { [[ $name == *-tests ]] && [ "$WITH_TESTS" = 0 ]; }; then
            rm -f "$OUT/$name.xz"
            continue
        fi
        # Unchanged since the last packing: keep it (xz takes ~30 s a binary on 2 cores).
        if [ -f "$OUT/$name.xz" ] && xz -dc "$OUT/$name.xz" 2>/dev/null | cmp -s - "$BIN/$name"; then
            continue
        fi
        xz -T0 -6 -c "$BIN/$name" >"$OUT/$name.xz.tmp"
        mv "$OUT/$name.xz.tmp" "$OUT/$name.xz"
    done
    [ "$WITH_CURAND" = 1 ] || rm -f "$OUT/libcurand.so.10.xz"
}

if [ "$CHECK_ONLY" = 1 ]; then
    CU13=${EADER_CU13_LIB:-$(find_cu13)}
    check_bundle
    exit
fi
ensure_nvcc
lap "nvcc"
[ "$NVCC_ONLY" = 1 ] && exit 0
ensure_cu13
stage_link_folder
lap "CUDA 13 libraries"
[ "$SETUP_ONLY" = 1 ] && exit 0
build
if [ "$WITH_CURAND" = 1 ]; then
    say "xz libcurand.so.10 into the bundle"
    xz -T0 -6 -c "$(readlink -f "$CURAND")" >"$OUT/libcurand.so.10.xz"
    lap "libcurand.so.10.xz"
fi
collect_syslibs
check_bundle
write_manifest
pack
lap "checks and packing"
say "bundle: $OUT ($(du -sh "$OUT" | cut -f1)); on the GPU machine: scripts/gpu-run.sh"
