#!/usr/bin/env python3
"""Synthetic VOC 2012 + SBD archives at real image sizes, written with PIL and
SciPy, to time `cargo xtask prepare-voc` and cross-check its output against
independent readers. Not used by the tests (they need no Python).

    python3 xtask/scripts/synthetic_voc.py make DIR [--ids N]
    cargo xtask prepare-voc --root DIR/data --voc-tar DIR/VOCtrainval_11-May-2012.tar \
        --sbd-tgz DIR/benchmark.tgz $(cat DIR/args.txt)
    python3 xtask/scripts/synthetic_voc.py check DIR      # output vs scipy/PIL
    python3 xtask/scripts/synthetic_voc.py baseline DIR   # loadmat + PIL save, for timing

`make` writes both archives and args.txt (--voc-md5/--sbd-md5/--expect-counts).
Images are 500x375 JPEGs; SBD labels are compressed v5 .mat files with the
real GTcls fields (Boundaries as sparse logical cells, Segmentation uint8,
CategoriesPresent); VOC labels are palette PNGs with 255 borders.
"""

import hashlib
import io
import os
import sys
import tarfile
import tempfile
import time

import numpy as np
import scipy.io
import scipy.sparse
from PIL import Image

W, H = 500, 375


def voc_palette():
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def label(rng, void_border):
    seg = np.zeros((H, W), dtype=np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    for _ in range(rng.integers(1, 4)):
        cls = rng.integers(1, 21)
        cx, cy = rng.integers(50, W - 50), rng.integers(50, H - 50)
        rx, ry = rng.integers(30, 150), rng.integers(30, 120)
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        seg[inside] = cls
        if void_border:
            ring = (((xx - cx) / (rx + 3)) ** 2 + ((yy - cy) / (ry + 3)) ** 2 <= 1) & ~inside
            seg[ring] = 255
    return seg


def ids_of(n):
    n_voc = max(4, n // 8)
    ids = [f"{2007 + i % 6}_{i:06d}" for i in range(n)]
    voc_train, voc_val = ids[:n_voc], ids[n_voc:2 * n_voc]
    sbd = ids[n_voc // 2:]  # overlaps VOC train and val, like the real sets
    sbd_train, sbd_val = sbd[: len(sbd) * 3 // 4], sbd[len(sbd) * 3 // 4:]
    return ids, voc_train, voc_val, sbd_train, sbd_val


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1336000000
    tar.addfile(info, io.BytesIO(data))


def make(out, n):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    ids, voc_train, voc_val, sbd_train, sbd_val = ids_of(n)
    palette = voc_palette()
    voc_path = os.path.join(out, "VOCtrainval_11-May-2012.tar")
    with tarfile.open(voc_path, "w") as tar:
        root = "VOCdevkit/VOC2012"
        for i, id_ in enumerate(ids):
            img = Image.fromarray(rng.integers(0, 255, (H // 25, W // 25, 3), dtype=np.uint8)).resize((W, H))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=90)
            add(tar, f"{root}/JPEGImages/{id_}.jpg", buf.getvalue())
        for id_ in voc_train + voc_val:
            png = Image.fromarray(label(rng, True), mode="P")
            png.putpalette(palette)
            buf = io.BytesIO()
            png.save(buf, "PNG")
            add(tar, f"{root}/SegmentationClass/{id_}.png", buf.getvalue())
        add(tar, f"{root}/ImageSets/Segmentation/train.txt", "".join(i + "\n" for i in voc_train).encode())
        add(tar, f"{root}/ImageSets/Segmentation/val.txt", "".join(i + "\n" for i in voc_val).encode())
    sbd_path = os.path.join(out, "benchmark.tgz")
    with tarfile.open(sbd_path, "w:gz") as tar:
        for id_ in sbd_train + sbd_val:
            seg = label(rng, False)
            boundaries = np.empty((20, 1), dtype=object)
            for c in range(20):
                mask = seg == c + 1
                edge = mask & ~np.roll(mask, 1, axis=0)
                boundaries[c, 0] = scipy.sparse.csc_matrix(edge)
            present = np.unique(seg[seg > 0]).astype(np.uint8).reshape(-1, 1)
            buf = io.BytesIO()
            scipy.io.savemat(buf, {"GTcls": {"Boundaries": boundaries, "Segmentation": seg,
                                             "CategoriesPresent": present}}, do_compression=True)
            add(tar, f"benchmark_RELEASE/dataset/cls/{id_}.mat", buf.getvalue())
        add(tar, "benchmark_RELEASE/dataset/train.txt", "".join(i + "\n" for i in sbd_train).encode())
        add(tar, "benchmark_RELEASE/dataset/val.txt", "".join(i + "\n" for i in sbd_val).encode())
    train_aug = sorted((set(sbd_train) | set(sbd_val) | set(voc_train)) - set(voc_val))
    md5 = lambda p: hashlib.md5(open(p, "rb").read()).hexdigest()
    with open(os.path.join(out, "args.txt"), "w") as f:
        f.write(f"--voc-md5 {md5(voc_path)} --sbd-md5 {md5(sbd_path)} "
                f"--expect-counts {len(train_aug)},{len(voc_train)},{len(voc_val)}\n")
    print(f"{len(ids)} images, train_aug {len(train_aug)}, train {len(voc_train)}, val {len(voc_val)}")


def check(out):
    """Every SegmentationClassAug PNG equals scipy's / PIL's reading of its source."""
    voc = os.path.join(out, "data", "VOCdevkit", "VOC2012")
    sets = os.path.join(voc, "ImageSets", "Segmentation")
    read = lambda name: open(os.path.join(sets, name)).read().split()
    train, val, train_aug = read("train.txt"), read("val.txt"), read("train_aug.txt")
    sbd_dir = os.path.join(out, "data", "benchmark_RELEASE", "dataset")
    sbd = set(open(os.path.join(sbd_dir, "train.txt")).read().split()) | set(
        open(os.path.join(sbd_dir, "val.txt")).read().split())
    assert train_aug == sorted((sbd | set(train)) - set(val)), "train_aug differs"
    for id_ in sorted(set(train_aug) | set(val)):
        aug = Image.open(os.path.join(voc, "SegmentationClassAug", id_ + ".png"))
        assert aug.mode == "L", (id_, aug.mode)
        got = np.array(aug)
        if id_ in train or id_ in val:
            want = np.array(Image.open(os.path.join(voc, "SegmentationClass", id_ + ".png")))
        else:
            mat = scipy.io.loadmat(os.path.join(sbd_dir, "cls", id_ + ".mat"))
            want = mat["GTcls"][0]["Segmentation"][0]
        assert got.shape == want.shape and (got == want).all(), id_
    print(f"ok: {len(set(train_aug) | set(val))} labels equal scipy/PIL readings")


def baseline(out):
    """The usual Python conversion (loadmat + PIL save), single process."""
    sbd_dir = os.path.join(out, "data", "benchmark_RELEASE", "dataset", "cls")
    files = sorted(os.listdir(sbd_dir))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for name in files:
            seg = scipy.io.loadmat(os.path.join(sbd_dir, name))["GTcls"][0]["Segmentation"][0]
            Image.fromarray(seg).save(os.path.join(tmp, name[:-4] + ".png"))
        elapsed = time.perf_counter() - start
    print(f"python loadmat + PIL save: {len(files)} files in {elapsed:.2f} s "
          f"({elapsed / len(files) * 1e3:.2f} ms per file)")


if __name__ == "__main__":
    command, out = sys.argv[1], sys.argv[2]
    if command == "make":
        make(out, int(sys.argv[sys.argv.index("--ids") + 1]) if "--ids" in sys.argv else 400)
    elif command == "check":
        check(out)
    elif command == "baseline":
        baseline(out)
    else:
        sys.exit(f"unknown command {command}")
