#!/usr/bin/env python3
"""Composes the README pictures of `eader evaluate`, `eader infer` and `eader inspect`
from their outputs (needs numpy and Pillow only).

    python3 crates/eader-cli/scripts/readme_assets.py evaluate VISUALS_DIR IDS... --out assets/evaluate.png
    python3 crates/eader-cli/scripts/readme_assets.py infer OUTPUT_DIR --out assets/infer.png
    python3 crates/eader-cli/scripts/readme_assets.py inspect OUT.safetensors --out assets/inspect.png

evaluate: one row per image id: the heatmap overlay and the erased image of each
ground-truth class, then the segmentation map over the image.
infer: one row per image (predictions.json order): the heatmap of each predicted
class, then the segmentation map over the image.
inspect: one row per (image, class) pair: the image, the map, the soft mask and the
erased image.

The pictures in assets/ (evaluate.png, infer.png, inspect.png) come from a ResNet-18
localizer trained from scratch on the demo dataset for 150 steps (6 epochs, batch 16,
96 px, Adam 1e-3, ResNet-18 adversarial, L = A = 20; val mIoU 29.2 at threshold 0.3,
38.9 at the oracle threshold 0.6), then:

    eader evaluate --checkpoint EXP --save-visuals vis
    readme_assets.py evaluate vis demo_000400 demo_000403 demo_000405 --out assets/evaluate.png
    eader infer imgs/ --checkpoint EXP --output-dir inf   # demo_0004{01,02,06,07}.jpg
    readme_assets.py infer inf --out assets/infer.png
    eader inspect --localizer-arch resnet18 --localizer-weights loc.safetensors \
        --batch batch.safetensors --out inspect.safetensors   # 2 val images cropped to 96x72
    readme_assets.py inspect inspect.safetensors --batch batch.safetensors --out assets/inspect.png
"""
import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PAD = 4
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def grid(rows, scale=2):
    """Pastes rows of PIL images (any sizes) on a white canvas, each scaled by `scale`."""
    rows = [[im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in r] for r in rows]
    width = max(sum(im.width + PAD for im in r) for r in rows) + PAD
    height = sum(max(im.height for im in r) + PAD for r in rows) + PAD
    canvas = Image.new("RGB", (width, height), "white")
    y = PAD
    for r in rows:
        x = PAD
        for im in r:
            canvas.paste(im.convert("RGB"), (x, y))
            x += im.width + PAD
        y += max(im.height for im in r) + PAD
    return canvas


def evaluate(args):
    vis = Path(args.path)
    rows = []
    for image_id in args.ids:
        row = []
        for heat in sorted(vis.glob(f"{image_id}_*_heatmap.png")):
            cls = heat.name[len(image_id) + 1 : -len("_heatmap.png")]
            row.append(Image.open(heat))
            row.append(Image.open(vis / f"{image_id}_{cls}_erased.png"))
        row.append(Image.open(vis / f"{image_id}_segmentation.png"))
        rows.append(row)
    return grid(rows)


def infer(args):
    out = Path(args.path)
    records = json.loads((out / "predictions.json").read_text())
    rows = []
    for r in records[: args.limit]:
        row = [Image.open(m) for m in r["maps"]]
        row.append(Image.open(out / f"{r['image']}_segmentation.png"))
        rows.append(row)
    return grid(rows)


def read_safetensors(path):
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a : 8 + n + b], dtype=np.float32).reshape(info["shape"])
    return out


def jet(v):
    """matplotlib's jet colour map on [0, 1] (as eader's visuals)."""
    v = np.clip(v, 0, 1)

    def piece(knots):
        xs, ys = zip(*knots)
        return np.interp(v, xs, ys)

    r = piece([(0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1, 0.5)])
    g = piece([(0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1, 0)])
    b = piece([(0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1, 0)])
    return Image.fromarray((np.stack([r, g, b], -1) * 255).round().astype(np.uint8))


def to_rgb(chw):
    x = chw.transpose(1, 2, 0) * STD + MEAN
    return Image.fromarray((np.clip(x, 0, 1) * 255).round().astype(np.uint8))


def inspect(args):
    t = read_safetensors(args.path)
    batch = read_safetensors(args.batch) if args.batch else None
    rows = []
    for p in range(t["maps"].shape[0]):
        row = []
        if batch is not None:
            row.append(to_rgb(batch["images"][int(t["pair_image"][p])]))
        row += [jet(t["maps"][p]), jet(t["masks"][p]), to_rgb(t["erased"][p])]
        rows.append(row)
    return grid(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["evaluate", "infer", "inspect"])
    ap.add_argument("path")
    ap.add_argument("ids", nargs="*")
    ap.add_argument("--batch", help="inspect: the batch file, to show the images")
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    picture = {"evaluate": evaluate, "infer": infer, "inspect": inspect}[args.command](args)
    # 256 colours keep the pictures small (they live in the repository).
    picture.quantize(256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"wrote {args.out} ({picture.width}x{picture.height})", file=sys.stderr)


if __name__ == "__main__":
    main()
