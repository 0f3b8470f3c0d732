#!/usr/bin/env bash
# The whole GPU measurement, on the GPU machine, in one command that builds nothing:
#
#   scripts/gpu-run.sh [--quick] [--bundle DIR] [--out DIR]
#
# Needs gpu-bundle/ from scripts/build-cuda.sh (carried with the working tree) and the
# GPU image's Python with PyTorch (its nvidia/cu13 wheels provide the CUDA 13 libraries
# eader is linked against). Writes into --out (default $OUT, else results/gpu):
#   report.md      the tables (correctness, speed, memory) to paste into README/the issue
#   *.json *.log   every command's output
# Parts (each one's failure is reported in report.md, and the run goes on):
#   0. environment: GPU, driver, libraries the binaries resolve to
#   1. correctness: eader-erasing's CUDA tests (CUDA ops vs their CPU twins, rel 1e-5),
#      eader-train's device tests, a training step on CUDA vs CPU (`eader bench train
#      --check-against-cpu`)
#   2. speed and memory: `eader bench train` vs crates/eader-train/scripts/
#      bench_reference_step.py --device cuda, same settings, in this run: ResNet-101 +
#      ResNet-18 batch 16 at 448 (the paper's) and ResNet-18 + ResNet-18 batch 16 at 224;
#      with gpu-bundle/eader-cudnn.xz also the cuDNN build. Peak GPU memory: nvidia-smi's
#      (peak used minus the idle level) for both, and PyTorch's max_memory_allocated
# --quick: fewer steps (a smoke test of the script, about a minute).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUNDLE=$ROOT/gpu-bundle
RESULTS=${OUT:-$ROOT/results/gpu}
QUICK=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --bundle) BUNDLE=$(realpath -m "$2"); shift ;;
        --out) RESULTS=$(realpath -m "$2"); shift ;;
        -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "gpu-run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$RESULTS"
REPORT=$RESULTS/report.md
STATUS=$RESULTS/status.tsv # part <tab> ok|FAILED|skipped <tab> note
: >"$STATUS"
cd "$ROOT"

say() { echo "== gpu-run: $*" >&2; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$STATUS"; say "$1: $2${3:+ ($3)}"; }

# Runs "$@" with output to $RESULTS/$1.log (the first argument names the part),
# records ok/FAILED, never stops the script.
part() {
    local name=$1 start=$SECONDS rc=0
    shift
    say "$name: $*"
    "$@" >"$RESULTS/$name.log" 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then
        record "$name" ok "$((SECONDS - start)) s"
    else
        record "$name" FAILED "exit $rc after $((SECONDS - start)) s, see $name.log"
        tail -n 15 "$RESULTS/$name.log" >&2 || true
    fi
    return 0
}

# --- 0. environment ---------------------------------------------------------------------
# The image's Python with PyTorch: $PYTHON, else the first of python3 on PATH or a venv.
find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 "${VIRTUAL_ENV:-/nonexistent}/bin/python" \
        /opt/venv/bin/python /venv/bin/python "$HOME/.venv/bin/python" /opt/conda/bin/python \
        /usr/local/bin/python3 /usr/bin/python3; do
        [ -n "$candidate" ] || continue
        if "$candidate" -c 'import torch' >/dev/null 2>&1; then
            command -v "$candidate" || echo "$candidate"
            return
        fi
    done
    command -v python3 || true
}
PY=$(find_python)
[ -n "$PY" ] || { echo "gpu-run.sh: no python3" >&2; exit 1; }

# Folders of the nvidia wheels' libraries (cu13/lib, cudnn/lib, ...) of that Python.
NV_LIBS=$("$PY" - <<'EOF' || true
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except ImportError:
    roots = []
libs = []
for root in roots:
    for lib in sorted(glob.glob(os.path.join(root, "*", "lib"))):
        if glob.glob(os.path.join(lib, "*.so*")):
            libs.append(lib)
# cu13 first: it holds cuBLAS, cudart, NVRTC and usually cuRAND.
libs.sort(key=lambda p: (not p.endswith(os.path.join("cu13", "lib")), p))
print(":".join(libs))
EOF
)
export LD_LIBRARY_PATH=${NV_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# A GPU test that finds no device fails here instead of passing with a notice.
export EADER_REQUIRE_GPU=1

# The bundle's files, xz-compressed (unpacked with Python's lzma) or as they are.
BIN=${EADER_GPU_BIN:-${TMPDIR:-/tmp}/eader-gpu-bin}
mkdir -p "$BIN/lib"
unpack() { # name destination
    if [ -f "$BUNDLE/$1.xz" ]; then
        "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
            "$BUNDLE/$1.xz" "$2"
    elif [ -f "$BUNDLE/$1" ]; then
        cp "$BUNDLE/$1" "$2"
    else
        return 0
    fi
    chmod +x "$2"
}
for name in eader eader-cudnn eader-erasing-tests eader-train-tests; do
    rm -f "$BIN/$name"
    unpack "$name" "$BIN/$name" || say "cannot unpack $BUNDLE/$name.xz"
done
EADER=$BIN/eader
EADER_CUDNN=$BIN/eader-cudnn
TESTS=$BIN/eader-erasing-tests
TRAIN_TESTS=$BIN/eader-train-tests

# cuRAND is only used by candle to create a device (random tensors), but the binaries
# need libcurand.so.10 to start: when the image lacks it, use the bundle's copy if any.
unresolved() { ldd "$1" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' '; }
probe=$EADER
[ -f "$TESTS" ] && probe=$TESTS
if [ -f "$probe" ] && [[ "$(unresolved "$probe")" == *libcurand* ]]; then
    unpack libcurand.so.10 "$BIN/lib/libcurand.so.10"
    export LD_LIBRARY_PATH=$BIN/lib:$LD_LIBRARY_PATH
fi
# Other libraries (plotters' fontconfig and freetype, theirs) from the bundle's syslib/,
# only when the image lacks one of them.
if [ -d "$BUNDLE/syslib" ]; then
    for probe in "$EADER" "$TESTS" "$TRAIN_TESTS"; do
        [ -f "$probe" ] || continue
        for lib in $(unresolved "$probe"); do
            if [ -f "$BUNDLE/syslib/$lib" ]; then
                export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$BUNDLE/syslib
                break 2
            fi
        done
    done
fi
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "repo: $(git rev-parse HEAD 2>/dev/null || echo '?')"
    echo "python: $PY ($("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1))"
    echo "LD_LIBRARY_PATH: $LD_LIBRARY_PATH"
    echo "glibc: $(ldd --version 2>&1 | head -1)"
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
    else
        echo "gpu: none (no nvidia-smi)"
    fi
    echo "cpu: $(nproc) cores"
    [ -f "$BUNDLE/MANIFEST" ] && sed 's/^/bundle: /' "$BUNDLE/MANIFEST"
    for bin in "$EADER" "$EADER_CUDNN" "$TESTS"; do
        [ -f "$bin" ] || continue
        echo "ldd $(basename "$bin"):"
        ldd "$bin" 2>&1 | grep -E 'cu|nvrtc|not found' | sed 's/^/   /'
    done
} >"$RESULTS/environment.txt" 2>&1 || true
cat "$RESULTS/environment.txt" >&2

if [ ! -x "$EADER" ]; then
    record bundle FAILED "no eader in $BUNDLE: run scripts/build-cuda.sh on the build machine and carry gpu-bundle/"
else
    missing=""
    for bin in "$EADER" "$EADER_CUDNN" "$TESTS"; do
        [ -f "$bin" ] || continue
        m=$(unresolved "$bin")
        [ -z "$m" ] || missing+="$(basename "$bin"): $m; "
    done
    if [ -n "$missing" ]; then
        record bundle FAILED "libraries not found ($missing) on LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    else
        record bundle ok "$("$EADER" --version 2>&1 | head -1)"
    fi
fi

# --- 1. correctness ---------------------------------------------------------------------
# The test binary finds its fixtures under the build machine's checkout (compiled-in
# CARGO_MANIFEST_DIR): point that path at this checkout when it is absent.
if [ -f "$BUNDLE/MANIFEST" ]; then
    build_root=$(sed -n 's/^build_root: //p' "$BUNDLE/MANIFEST")
    if [ -n "$build_root" ] && [ ! -e "$build_root" ]; then
        mkdir -p "$(dirname "$build_root")" 2>/dev/null && ln -s "$ROOT" "$build_root" 2>/dev/null \
            || say "cannot link $build_root to $ROOT: the fixture tests of eader-erasing will fail"
    fi
fi

if [ -x "$TESTS" ]; then
    # The CUDA twins (`*_cuda`) first, on their own: they pass with a notice when no device
    # opens, which is a failure here.
    part erasing-cuda-tests "$TESTS" _cuda --test-threads 1 --nocapture
    if grep -q 'no CUDA device' "$RESULTS/erasing-cuda-tests.log"; then
        record erasing-cuda-tests FAILED "the tests found no CUDA device (see the log)"
    fi
    part erasing-all-tests "$TESTS" --test-threads 4
else
    record erasing-cuda-tests skipped "no eader-erasing-tests in the bundle"
fi
if [ -x "$TRAIN_TESTS" ]; then
    # `--device cuda:N` opens device 0, names it, and refuses a device that is not there;
    # the models' ops seam on CUDA (candle's ops) against the CPU in f64.
    part train-device-tests "$TRAIN_TESTS" device:: --test-threads 1 --nocapture
    if grep -q 'no CUDA device' "$RESULTS/train-device-tests.log"; then
        record train-device-tests FAILED "the tests found no CUDA device (see the log)"
    fi
fi

STEPS=10
WARMUP=3
[ "$QUICK" = 1 ] && STEPS=2 && WARMUP=1

# A training step on CUDA against the CPU, same batch and weights.
if [ -x "$EADER" ]; then
    part step-check "$EADER" bench train --localizer-model resnet18 --adversarial-model resnet18 \
        --batch-size 4 --img-resolution 128 --steps 1 --warmup 0 --device cuda \
        --check-against-cpu --json "$RESULTS/step-check.json"
fi

# `eader inspect` (one batch through the method: maps, masks, erased images, losses, the
# localizer's gradients) on CUDA vs the CPU, ResNet-18 + ResNet-18 seeded by
# scripts/gpu_inspect_check.py. Eval-mode batch norm: rel 1e-3 (the CPU's own two paths,
# fast kernels vs candle's ops, differ by 2e-4). Train mode (batch statistics) is far
# worse conditioned (those two CPU paths differ by 4e-2 in some gradients): rel 0.1.
if [ -x "$EADER" ]; then
    INSPECT=$BIN/inspect
    mkdir -p "$INSPECT"
    part inspect-inputs "$PY" scripts/gpu_inspect_check.py make "$INSPECT"
    for mode in eval train; do
        extra=()
        tol=1e-3
        if [ "$mode" = train ]; then extra=(--train-mode); tol=0.1; fi
        for dev in cuda cpu; do
            part "inspect-$mode-$dev" "$EADER" inspect --localizer-model resnet18 \
                --weights-localizer "$INSPECT/localizer.safetensors" --adversarial-model resnet18 \
                --weights-adversarial "$INSPECT/adversarial.safetensors" \
                --batch "$INSPECT/batch.safetensors" "${extra[@]}" --device "$dev" \
                --out "$INSPECT/$mode-$dev.safetensors" --overwrite
        done
        part "inspect-$mode-compare" sh -c '"$@" > "$0"' "$RESULTS/inspect-$mode.json" \
            "$PY" scripts/gpu_inspect_check.py compare "$INSPECT/$mode-cuda.safetensors" \
            "$INSPECT/$mode-cpu.safetensors" --tol "$tol"
    done
    rm -rf "$INSPECT" # ~100 MB of weights and outputs: not for $OUT
fi

# --- 2. speed and memory ----------------------------------------------------------------
# Runs "$@" while sampling GPU 0's used memory (nvidia-smi, every 100 ms); writes the
# peak above the level before the run, in MiB, to $RESULTS/<name>.peak_mib. (Per-process
# figures are often hidden from containers; the GPU is this run's alone.)
with_gpu_memory() {
    local name=$1 sampler base rc=0
    shift
    if ! command -v nvidia-smi >/dev/null; then
        "$@"
        return
    fi
    base=$(nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits | head -n 1)
    nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 \
        >"$RESULTS/$name.smi.csv" 2>/dev/null &
    sampler=$!
    "$@" || rc=$?
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    awk -v base="${base:-0}" '$1 ~ /^[0-9]+$/ && $1 > m {m = $1} END {print (m > base ? m - base : 0)}' \
        "$RESULTS/$name.smi.csv" >"$RESULTS/$name.peak_mib"
    return "$rc"
}

# name localizer adversarial batch resolution
CONFIGS=(
    "r101-r18-b16-448 resnet101 resnet18 16 448"
    "r18-r18-b16-224 resnet18 resnet18 16 224"
)
for config in "${CONFIGS[@]}"; do
    read -r name loc adv batch res <<<"$config"
    if [ -x "$EADER" ]; then
        part "eader-$name" with_gpu_memory "eader-$name" "$EADER" bench train \
            --localizer-model "$loc" --adversarial-model "$adv" --batch-size "$batch" \
            --img-resolution "$res" --steps "$STEPS" --warmup "$WARMUP" --device cuda \
            --json "$RESULTS/eader-$name.json"
    fi
    if [ -x "$EADER_CUDNN" ]; then
        part "eader-cudnn-$name" with_gpu_memory "eader-cudnn-$name" "$EADER_CUDNN" bench train \
            --localizer-model "$loc" --adversarial-model "$adv" --batch-size "$batch" \
            --img-resolution "$res" --steps "$STEPS" --warmup "$WARMUP" --device cuda \
            --json "$RESULTS/eader-cudnn-$name.json"
    fi
    # The reference prints one JSON line last.
    part "pytorch-$name" with_gpu_memory "pytorch-$name" sh -c '"$@" > "$0"' \
        "$RESULTS/pytorch-$name.json.tmp" "$PY" crates/eader-train/scripts/bench_reference_step.py \
        --localizer "$loc" --adversarial "$adv" --batch-size "$batch" --resolution "$res" \
        --steps "$STEPS" --warmup "$WARMUP" --threads "$(nproc)" --device cuda
    tail -n 1 "$RESULTS/pytorch-$name.json.tmp" >"$RESULTS/pytorch-$name.json" 2>/dev/null || true
    rm -f "$RESULTS/pytorch-$name.json.tmp"
done

# --- 3. the report ----------------------------------------------------------------------
"$PY" - "$RESULTS" "${CONFIGS[@]}" >"$REPORT" <<'EOF' || record report FAILED "see report.md"
import json, os, sys

results, configs = sys.argv[1], [c.split() for c in sys.argv[2:]]

def load(name):
    try:
        with open(os.path.join(results, name + ".json")) as f:
            text = f.read().strip()
    except OSError:
        return None
    for candidate in [text] + text.splitlines()[::-1]:
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    return None

def find(d, *keys):
    """The first of `keys` in `d` or one level down (the bench JSON's layout may nest)."""
    if not isinstance(d, dict):
        return None
    for key in keys:
        if key in d:
            return d[key]
    for value in d.values():
        if isinstance(value, dict):
            for key in keys:
                if key in value:
                    return value[key]
    return None

def peak(name):
    try:
        with open(os.path.join(results, name + ".peak_mib")) as f:
            value = int(f.read().strip() or 0)
        return value or None
    except (OSError, ValueError):
        return None

def sci(x):
    return "n/a" if not isinstance(x, (int, float)) else f"{x:.1e}"

def fmt(x, digits=1):
    return "n/a" if x is None else f"{x:.{digits}f}"

print("# eader on CUDA vs the PyTorch reference\n")
with open(os.path.join(results, "environment.txt")) as f:
    env = [l.rstrip() for l in f if l.split(":")[0] in ("date", "repo", "python", "gpu", "glibc")]
print("\n".join(f"- {l}" for l in env), "\n")

print("## Parts\n\n| part | status | note |\n|---|---|---|")
with open(os.path.join(results, "status.tsv")) as f:
    for line in f:
        part, status, note = (line.rstrip("\n").split("\t") + ["", ""])[:3]
        print(f"| {part} | {status} | {note} |")

print("\n## Training step, images/s (mean of the localizer and adversarial phases)\n")
print("| setting | eader | eader + cuDNN | PyTorch reference | eader / PyTorch "
      "| peak GPU MiB eader (nvidia-smi) | peak GPU MiB PyTorch (nvidia-smi) "
      "| PyTorch max_memory_allocated MiB |")
print("|---|---|---|---|---|---|---|---|")
for name, loc, adv, batch, res in configs:
    e, c, p = load("eader-" + name), load("eader-cudnn-" + name), load("pytorch-" + name)
    e_ips = find(e, "images_per_s")
    c_ips = find(c, "images_per_s")
    p_ips = find(p, "images_per_s")
    ratio = e_ips / p_ips if e_ips and p_ips else None
    ratio_text = "n/a" if ratio is None else f"{ratio:.2f}x"
    if c_ips and p_ips:
        ratio_text += f" ({c_ips / p_ips:.2f}x cuDNN)"
    print(f"| {loc} + {adv}, batch {batch}, {res}x{res} | {fmt(e_ips)} | {fmt(c_ips)} "
          f"| {fmt(p_ips)} | {ratio_text} | {peak('eader-' + name) or 'n/a'} "
          f"| {peak('pytorch-' + name) or 'n/a'} | {fmt(find(p, 'peak_gpu_mib'), 0)} |")

print("\nPer phase (localizer / adversarial), images/s:\n")
print("| setting | eader | PyTorch |\n|---|---|---|")
for name, loc, adv, batch, res in configs:
    e, p = load("eader-" + name), load("pytorch-" + name)
    row = [f"{fmt(find(d, 'localizer_images_per_s'))} / {fmt(find(d, 'adversarial_images_per_s'))}"
           for d in (e, p)]
    print(f"| {loc} + {adv}, batch {batch}, {res}x{res} | {row[0]} | {row[1]} |")

check = find(load("step-check"), "check_against_cpu")
print("\n## CUDA vs CPU (same batch and weights)\n")
print("| check | loss rel. error | worst forward rel. error | worst gradient rel. error | worst tensor |")
print("|---|---|---|---|---|")
if check:
    print(f"| training step (`bench train --check-against-cpu`), ResNet-18 + ResNet-18, batch 4, 128 px "
          f"| {sci(check.get('loss_rel_err'))} | | {sci(check.get('grad_rel_err'))} "
          f"| {check.get('worst_param')} |")
for mode in ("eval", "train"):
    r = load("inspect-" + mode)
    if r:
        print(f"| `eader inspect`, {mode}-mode batch norm (tolerance {r['tolerance']}) | "
              f"{sci(max(r['rel_err'].get(k, 0) for k in ('loss', 'loss_cls', 'loss_adv', 'loss_am')))} "
              f"| {r['worst_forward']:.1e} | {r['worst_grad']:.1e} | {r['worst']['tensor']} |")
print("\nRaw outputs: *.json and *.log beside this file.")
EOF
cat "$REPORT"
say "report: $REPORT"
if grep -q $'\tFAILED\t' "$STATUS"; then exit 1; fi
