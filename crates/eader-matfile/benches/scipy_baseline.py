#!/usr/bin/env python3
"""Baseline for benches/parse.rs: scipy.io.loadmat on the same SBD-like files.

Run `cargo bench -p eader-matfile` first (it writes the files), then
`python3 crates/eader-matfile/benches/scipy_baseline.py`. Reads each file the
way torchvision's SBDataset does (loadmat, then GTcls[0]['Segmentation'][0])
and prints the median time per file over several rounds.
"""

import os
import statistics
import time

import numpy as np
import scipy.io

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = os.path.join(HERE, "..", "..", "..", "target", "eader-matfile-bench")


def load(path):
    mat = scipy.io.loadmat(path)
    # Row-major (C-order) uint8, as the Rust side returns it.
    return np.ascontiguousarray(mat["GTcls"][0]["Segmentation"][0])


def main():
    for name in ("compressed", "uncompressed"):
        path = os.path.join(DIR, f"gtcls_{name}.mat")
        labels = load(path)
        assert labels.shape == (375, 500) and labels.dtype == np.uint8
        n = 200
        rounds = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(n):
                load(path)
            rounds.append((time.perf_counter() - start) / n)
        print(f"scipy.io.loadmat {name}: {statistics.median(rounds) * 1e6:.1f} us per file")


if __name__ == "__main__":
    main()
