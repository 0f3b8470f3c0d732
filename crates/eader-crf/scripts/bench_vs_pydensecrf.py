"""eader-crf against pydensecrf2, side by side in one run, on the same inputs.

    /tmp/crfenv/bin/pip install pydensecrf2 numpy
    /tmp/crfenv/bin/python crates/eader-crf/scripts/bench_vs_pydensecrf.py [--rounds 5] [--batch 8] [--threads 2]
        [--baseline OTHER/bench_crf]

Inputs: a VOC-size (500x375) synthetic natural-looking image and noisy probabilities
for 21 and 3 labels (the generator of tests/fixtures/make_fixtures.py). One CRF is
psa's (`tool/imutils.py::crf_inference`): unary_from_softmax, Gaussian 3/3, bilateral
80/13/10, 10 iterations; timed from the probabilities to the marginals.

Rounds alternate eader-crf (the `bench_crf` example, one process per round, the
second of two timings: warm) and pydensecrf2 (in this process, the second of two
timings), so that machine load hits both alike; medians are reported. eader-crf runs on
a one-thread rayon pool for the single-thread rows. The batch rows give images/s over
`--batch` copies of the image, eader-crf with `--threads` (CrfConfig::run_batch) and
pydensecrf2 one after the other (it has no threads). `--baseline` adds another build's
`bench_crf` (say, the previous commit's) to the single-thread rounds, for a before/after
under the same load. Prints `uptime` before and after,
the parity of the two outputs on these inputs, and markdown tables: single-thread
times first with glibc's defaults, then with the `eader` binary's allocator policy
applied to both sides (freed pages stay mapped; page faults weigh heavily on VMs).
"""

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pydensecrf.densecrf as dcrf
from pydensecrf.utils import unary_from_softmax

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(CRATE))
sys.path.insert(0, os.path.join(CRATE, "tests", "fixtures"))
from make_fixtures import natural_image, noisy_probs  # noqa: E402

W, H = 500, 375


def pydensecrf_q(img, probs, iterations=10):
    n_labels = probs.shape[0]
    d = dcrf.DenseCRF2D(W, H, n_labels)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.copy(img), compat=10)
    return np.array(d.inference(iterations)).reshape(probs.shape)


def pydensecrf_seconds(img, probs, batch=1):
    times = []
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(batch):
            pydensecrf_q(img, probs)
        times.append(time.perf_counter() - start)
    return times[-1]


KEEP_FREED = False


def keep_freed_memory():
    """The allocator policy of the `eader` binary (eader_kernels::keep_freed_memory),
    for this process (pydensecrf2) and the eader-crf runs from now on."""
    global KEEP_FREED
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
    assert libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
    KEEP_FREED = True


def rust_seconds(binary, image_path, probs_path, threads=1, batch=1, out=None):
    cmd = [binary, image_path, probs_path, "--repeats", "2", "--threads", str(threads), "--batch", str(batch)]
    cmd += ["--keep-freed-memory", "1" if KEEP_FREED else "0"]
    if out:
        cmd += ["--out", out]
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    return float(lines[-1])


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument(
        "--baseline",
        help="another build's bench_crf binary (e.g. of the previous commit), timed in the same rounds",
    )
    args = parser.parse_args()

    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "eader-crf", "--example", "bench_crf"], cwd=ROOT, check=True
    )
    binary = os.path.join(target, "release", "examples", "bench_crf")

    tmp = tempfile.mkdtemp(prefix="crf-bench-")
    rng = np.random.default_rng(0)
    img, regions = natural_image(W, H, 8, rng)
    image_path = os.path.join(tmp, "image.npy")
    np.save(image_path, img)
    inputs = {}
    for n_labels in (21, 3):
        probs = noisy_probs(regions, n_labels, rng)
        path = os.path.join(tmp, f"probs{n_labels}.npy")
        np.save(path, probs)
        inputs[n_labels] = (probs, path)

    print(f"before: {uptime()}")
    print(f"cpus: {os.cpu_count()}, rounds: {args.rounds}, batch: {args.batch}, threads: {args.threads}\n")

    print("| labels | argmax agreement | mean abs dQ | max abs dQ |")
    print("|---|---|---|---|")
    for n_labels, (probs, path) in inputs.items():
        out = os.path.join(tmp, f"q{n_labels}.npy")
        rust_seconds(binary, image_path, path, out=out)
        ours, theirs = np.load(out), pydensecrf_q(img, probs)
        agree = (ours.argmax(0) == theirs.argmax(0)).mean()
        diff = np.abs(ours - theirs)
        print(f"| {n_labels} | {100 * agree:.4f}% | {diff.mean():.2e} | {diff.max():.2e} |")

    for policy in ("glibc defaults", "freed memory kept (the eader binary's policy), both sides"):
        if policy != "glibc defaults":
            keep_freed_memory()
        print(f"\nOne image, one thread, {policy} (median of rounds, seconds):\n")
        if args.baseline:
            print("| labels | pydensecrf2 | eader-crf baseline | speed-up | eader-crf | speed-up |")
            print("|---|---|---|---|---|---|")
        else:
            print("| labels | pydensecrf2 | eader-crf | speed-up |")
            print("|---|---|---|---|")
        for n_labels, (probs, path) in inputs.items():
            ours, base, theirs = [], [], []
            for _ in range(args.rounds):
                ours.append(rust_seconds(binary, image_path, path))
                if args.baseline:
                    base.append(rust_seconds(args.baseline, image_path, path))
                theirs.append(pydensecrf_seconds(img, probs))
            o, t = statistics.median(ours), statistics.median(theirs)
            if args.baseline:
                b = statistics.median(base)
                print(f"| {n_labels} | {t:.3f} | {b:.3f} | {t / b:.2f}x | {o:.3f} | {t / o:.2f}x |")
            else:
                print(f"| {n_labels} | {t:.3f} | {o:.3f} | {t / o:.2f}x |")

    print(f"\nBatch of {args.batch} images, freed memory kept (median of rounds, images/s):\n")
    print(f"| labels | pydensecrf2 (1 thread) | eader-crf 1 thread | eader-crf {args.threads} threads | speed-up |")
    print("|---|---|---|---|---|")
    for n_labels, (probs, path) in inputs.items():
        one, many, theirs = [], [], []
        for _ in range(max(1, args.rounds // 2)):
            one.append(args.batch / rust_seconds(binary, image_path, path, threads=1, batch=args.batch))
            many.append(args.batch / rust_seconds(binary, image_path, path, threads=args.threads, batch=args.batch))
            theirs.append(args.batch / pydensecrf_seconds(img, probs, batch=args.batch))
        o1, om, t = statistics.median(one), statistics.median(many), statistics.median(theirs)
        print(f"| {n_labels} | {t:.2f} | {o1:.2f} | {om:.2f} | {om / t:.2f}x |")

    print(f"\nafter: {uptime()}")


if __name__ == "__main__":
    main()
