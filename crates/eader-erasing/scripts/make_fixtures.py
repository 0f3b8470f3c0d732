#!/usr/bin/env python3
"""Writes tests/fixtures/pytorch.safetensors: PyTorch's numbers for eader-erasing's tests.

Run from the crate folder: `python3 scripts/make_fixtures.py` (needs torch and numpy; the
tests only read the file). All tensors are float64, tiny, from a fixed seed.

Upsample + normalise is the formula of EADER's attention_map_wrapper.py with
amin/amax (gradient shared evenly among ties):
    u = F.interpolate(maps[:, None], (H, W), mode="bilinear", align_corners=False)[:, 0]
    s = u - u.amin((1, 2), keepdim=True); d = s.amax((1, 2), keepdim=True)
    g = s / torch.where(d != 0, d, torch.ones_like(d))
Soft mask and erasing are utils.py's gcam_to_mask and erase_mask.
"""
import json
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(0)
dt = torch.float64
out = {}


def upsample_normalize(maps, size):
    u = F.interpolate(maps[:, None], size, mode="bilinear", align_corners=False)[:, 0]
    s = u - u.amin((1, 2), keepdim=True)
    d = s.amax((1, 2), keepdim=True)
    return s / torch.where(d != 0, d, torch.ones_like(d))


def case(name, maps, size):
    """Stores maps, weights w, and g and d sum(g w) / d maps in float64 and, computed in
    float32 from the rounded inputs (ties at the min and max can differ between the two
    precisions, which moves the gradient), in float32 (keys ending in _f32)."""
    w = torch.randn((maps.shape[0],) + size, dtype=dt)
    out[f"un_{name}_maps"] = maps
    out[f"un_{name}_w"] = w
    for dtype, suffix in ((torch.float64, ""), (torch.float32, "_f32")):
        m = maps.to(dtype).clone().requires_grad_(True)
        g = upsample_normalize(m, size)
        (g * w.to(dtype)).sum().backward()
        out[f"un_{name}_g{suffix}"] = g.detach().to(dt)
        out[f"un_{name}_grad{suffix}"] = m.grad.to(dt)


# a: Grad-CAM-like maps (ReLU: a plateau of zeros at the min), odd sizes.
case("a", F.relu(torch.rand(3, 5, 7, dtype=dt) * 1.5 - 0.5), (11, 13))
# b: P = 1, maximum in a corner (replicated by the border samples: tied maxima), 16x-like.
b = torch.rand(1, 4, 4, dtype=dt)
b[0, 0, 0] = 2.0
case("b", b, (9, 10))
# c: a constant zero map (range 0) next to a regular one.
c = torch.rand(2, 3, 3, dtype=dt)
c[0] = 0.0
case("c", c, (6, 5))

# Soft mask and erasing.
g = torch.rand(2, 6, 5, dtype=dt)
x = torch.randn(2, 3, 6, 5, dtype=dt)
out["erase_g"], out["erase_x"] = g.clone(), x.clone()
out["mask_w7_s03"] = torch.sigmoid(7.0 * (g - 0.3))
g.requires_grad_(True)
x.requires_grad_(True)
mask = torch.sigmoid(100.0 * (g - 0.5))
erased = x * (1 - mask[:, None])
wm, we = torch.randn(mask.shape, dtype=dt), torch.randn(erased.shape, dtype=dt)
((mask * wm).sum() + (erased * we).sum()).backward()
out.update(mask=mask.detach(), erased=erased.detach(), erase_wm=wm, erase_we=we,
           erase_grad_g=g.grad, erase_grad_x=x.grad)

# safetensors, written by hand (no safetensors package needed).
header, blobs, offset = {}, [], 0
for key in sorted(out):
    array = np.ascontiguousarray(out[key].detach().numpy().astype("<f8"))
    blob = array.tobytes()
    header[key] = {"dtype": "F64", "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * ((8 - len(text) % 8) % 8)
path = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pytorch.safetensors"
path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
print(f"wrote {path} ({path.stat().st_size} bytes)")
