#!/usr/bin/env python3
"""PyTorch fixtures for `eader inspect` (crates/eader-train/tests/fixtures/inspect.safetensors).

One batch through the reference's formulas (attention_map_wrapper.py, utils.py,
train.py), for every case {resnet18, resnet50} localizer x {gcam, cam} x
{eval, train} mode, with a ResNet-18 adversarial:

    probs    = sigmoid(L(x))                         (B, K)
    loss_cls = BCELoss(probs, labels)
    g_p      = Grad-CAM: relu(sum_k w_k F_k[i_p]), w_k = mean_ij dS_c/dF_k (a constant),
               CAM: sum_k W[c_p, k] F_k[i_p]          (pairs ordered by image, then class)
    maps     = min-max normalised bilinear (align_corners=False) upsampling of g to (H, W)
    masks    = sigmoid(omega (maps - sigma))
    erased   = x[i_p] * (1 - masks)
    adv_probs = sigmoid(A(erased))                   (P, K)
    loss_am  = mean_p adv_probs[p, c_p];  loss_adv = BCELoss(adv_probs, labels[i_p])
    loss_reg = mean(maps);  loss = loss_cls + beta loss_reg + alpha loss_am
    grad.<name> = d loss / d <localizer parameter>

Computed in float64. Random-weight ResNets weigh 100 MB, so weights and images
are not stored: both sides fill them from the deterministic formula of
crates/eader-models/tests/fixtures/make_fixtures.py (`hashed`, `param_value`;
adversarial tensors hash `adversarial.<name>`), mirrored in
crates/eader-cli/tests/util.rs; running variances are 4x eader-models' (moderate
eval-mode activations). Stored per case, under `<arch>.<attention>.<mode>.`: the labels
(B, K) (each image's top logits of that case, so Grad-CAM maps are not all zero),
probs, adv_probs and the five losses in full; maps, masks and erased on a grid
(every 8th row and column, `.grid8`) and as summaries; every gradient as a
summary (`grad_summaries`, one row per trainable parameter, in the order of the
JSON list in the metadata key `grad_names.<arch>`); in training mode also the
gradients with alpha = 0 (`grad_summaries.alpha0`, no path through the steep mask).

How well-conditioned each number is: the same formulas also run in float32, and
`torch_f32_err.forward` (order: metadata `forward_order`), `torch_f32_err.grads`
(and `.grads.alpha0`) hold PyTorch's own float32 error against float64, measured
as the Rust test measures eader (crates/eader-cli/tests/inspect.rs explains the bounds). A summary is [sum, sum|x|, sum x^2, max|x|, idx_0, val_0, ..., idx_5, val_5]
over the flattened tensor. Everything is stored as float32 (~120 KB).

Run from the repository root (needs torch, torchvision, numpy; no safetensors package):

    python3 crates/eader-train/scripts/make_inspect_fixtures.py
"""
import json
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "inspect.safetensors"
B, H, W, K = 2, 64, 96, 20
# Positive classes per image: the localizer's top-2 and top-1 logits of each case,
# so that Grad-CAM maps are not all zero (random networks).
TOP = [2, 1]
ALPHA, BETA, OMEGA, SIGMA = 0.05, 1e-5, 100.0, 0.5
SAMPLES = 6
GRAD_NAMES = {}
MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return h


def hashed(name: str, n: int) -> np.ndarray:
    """n values in [-1, 1) from (name, index), as float64 (exact in f32)."""
    seed = np.uint64(fnv1a64(name.encode()))
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        z = seed ^ (i * np.uint64(0x9E3779B97F4A7C15))
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    k = (z >> np.uint64(40)).astype(np.float64)
    return (2.0 * k - 16777216.0) / 16777216.0


def param_value(name: str, shape) -> np.ndarray:
    """eader-models' formula, with running variances 4x larger."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = hashed(name, n)
    if name.endswith("running_var"):
        # 4x eader-models' formula: keeps eval-mode activations (and logits) moderate.
        v = 4.0 + 2.0 * u
    elif name.endswith("running_mean") or name.endswith("bias"):
        v = 0.1 * u
    elif len(shape) == 1:  # BatchNorm weight
        v = 1.0 + 0.2 * u
    else:
        fan_in = n // shape[0]
        v = np.sqrt(6.0 / fan_in) * u
    return v.astype(np.float32).reshape(shape)


def build(arch: str, prefix: str = "", dtype=torch.float64) -> torch.nn.Module:
    model = getattr(torchvision.models, arch)(num_classes=K)
    state = {}
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state[name] = t
        else:
            state[name] = torch.from_numpy(param_value(prefix + name, tuple(t.shape)))
    model.load_state_dict(state, strict=True)
    return model.to(dtype)


def images(dtype=torch.float64) -> torch.Tensor:
    v = (2.0 * hashed("input", B * 3 * H * W)).astype(np.float32)
    return torch.from_numpy(v).to(dtype).reshape(B, 3, H, W)


def labels_for(arch: str, train: bool) -> torch.Tensor:
    """Each image's top logits (TOP) of a float64 copy of the localizer."""
    probe = build(arch)
    probe.train(train)
    with torch.no_grad():
        logits = features_and_logits(probe, images())[1]
    y = torch.zeros(B, K, dtype=torch.float64)
    for i, top in enumerate(TOP):
        y[i, logits[i].topk(top).indices] = 1.0
    return y


def features_and_logits(model, x):
    f = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    f = model.layer4(model.layer3(model.layer2(model.layer1(f))))
    return f, model.fc(torch.flatten(model.avgpool(f), 1))


def normalise(g):
    """The reference's min-max normalisation per map (compute_gradcam)."""
    p = g.shape[0]
    flat = g.reshape(p, -1)
    flat = flat - flat.min(dim=1, keepdim=True)[0]
    top = flat.max(dim=1, keepdim=True)[0]
    flat = flat / torch.where(top != 0, top, torch.ones_like(top))
    return flat.reshape(g.shape)


def forward(arch: str, attention: str, train: bool, y: torch.Tensor, dtype, alpha=ALPHA) -> dict:
    """The reference's formulas in `dtype`; full tensors."""
    loc, adv = build(arch, dtype=dtype), build("resnet18", "adversarial.", dtype)
    loc.train(train)
    adv.train(train)
    x, y = images(dtype), y.to(dtype)
    pairs = [(i, c) for i in range(B) for c in range(K) if y[i, c] > 0.5]
    img_idx = torch.tensor([i for i, _ in pairs])
    cls_idx = torch.tensor([c for _, c in pairs])

    f, logits = features_and_logits(loc, x)
    probs = torch.sigmoid(logits)
    loss_cls = F.binary_cross_entropy(probs, y)
    gs = []
    for i, c in pairs:
        if attention == "gcam":
            (grad,) = torch.autograd.grad(logits[i, c], f, retain_graph=True)
            w = grad[i].mean(dim=(1, 2))  # no graph: a constant, as the reference's hook
            gs.append(torch.relu((w[:, None, None] * f[i]).sum(0)))
        else:
            gs.append(torch.einsum("k,khw->hw", loc.fc.weight[c], f[i]))
    g = torch.stack(gs)
    maps = normalise(F.interpolate(g[:, None], (H, W), mode="bilinear", align_corners=False))[:, 0]
    masks = torch.sigmoid(OMEGA * (maps - SIGMA))
    erased = x[img_idx] * (1 - masks[:, None])
    adv_probs = torch.sigmoid(adv(erased))
    loss_am = adv_probs[torch.arange(len(pairs)), cls_idx].mean()
    loss_adv = F.binary_cross_entropy(adv_probs, y[img_idx])
    loss_reg = maps.mean()
    loss = loss_cls + BETA * loss_reg + alpha * loss_am
    names = [n for n, _ in loc.named_parameters()]
    grads = torch.autograd.grad(loss, [p for _, p in loc.named_parameters()])
    GRAD_NAMES[arch] = names
    out = {
        "logits": logits,
        "probs": probs,
        "adv_probs": adv_probs,
        "loss_cls": loss_cls,
        "loss_reg": loss_reg,
        "loss_am": loss_am,
        "loss_adv": loss_adv,
        "loss": loss,
        "maps": maps,
        "masks": masks,
        "erased": erased,
    }
    out.update({f"grad.{n}": gr for n, gr in zip(names, grads)})
    return {k: v.detach().double() for k, v in out.items()}


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (the Rust test's measure)."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def summary_err(x: torch.Tensor, s: torch.Tensor) -> float:
    """Largest relative error of `x` against a summary (the Rust test's measure)."""
    x = x.flatten()
    tiny = 1e-30
    errs = [
        (x.sum() - s[0]).abs() / (s[1] + tiny),
        (x.abs().sum() - s[1]).abs() / (s[1] + tiny),
        0.5 * ((x * x).sum() - s[2]).abs() / (s[2] + tiny),
        (x.abs().max() - s[3]).abs() / (s[3] + tiny),
    ]
    for j in range(SAMPLES):
        idx = int(s[4 + 2 * j])
        if idx >= 0:
            errs.append((x[idx] - s[5 + 2 * j]).abs() / (s[3] + tiny))
    return max(e.item() for e in errs)


FORWARD = ["probs", "adv_probs", "loss_cls", "loss_reg", "loss_am", "loss_adv", "loss", "maps", "masks", "erased"]


def case(arch: str, attention: str, train: bool) -> dict:
    y = labels_for(arch, train)
    ref = forward(arch, attention, train, y, torch.float64)
    f32 = forward(arch, attention, train, y, torch.float32)
    maps, masks, logits = ref["maps"], ref["masks"], ref["logits"]
    out = {"labels": y}
    for k in FORWARD[:7]:
        out[k] = ref[k]
    for k in ["maps", "masks", "erased"]:
        out[f"{k}.grid8"] = ref[k][..., ::8, ::8]
        out[f"{k}.summary"] = summary(k, ref[k])
    names = GRAD_NAMES[arch]
    out["grad_summaries"] = torch.stack([summary(n, ref[f"grad.{n}"]) for n in names])
    # PyTorch's own float32 run against float64, measured as the Rust test
    # measures eader: how well-conditioned each quantity is.
    torch_err = []
    for k in FORWARD:
        if k in ("maps", "masks", "erased"):
            torch_err.append(
                max(
                    rel_err(f32[k][..., ::8, ::8], out[f"{k}.grid8"]),
                    summary_err(f32[k], out[f"{k}.summary"]),
                )
            )
        else:
            torch_err.append(rel_err(f32[k], ref[k]))
    out["torch_f32_err.forward"] = torch.tensor(torch_err)
    out["torch_f32_err.grads"] = torch.tensor(
        [summary_err(f32[f"grad.{n}"], row) for n, row in zip(names, out["grad_summaries"])]
    )
    if train:
        # Without the attention-mining term the gradients skip the steep mask.
        ref0 = forward(arch, attention, train, y, torch.float64, alpha=0.0)
        f320 = forward(arch, attention, train, y, torch.float32, alpha=0.0)
        out["grad_summaries.alpha0"] = torch.stack([summary(n, ref0[f"grad.{n}"]) for n in names])
        out["torch_f32_err.grads.alpha0"] = torch.tensor(
            [
                summary_err(f320[f"grad.{n}"], row)
                for n, row in zip(names, out["grad_summaries.alpha0"])
            ]
        )
    spread = (maps.amax(dim=(1, 2)) - maps.amin(dim=(1, 2))).min().item()
    steep = ((masks > 0.01) & (masks < 0.99)).double().mean().item()
    print(
        f"{arch}.{attention}.{'train' if train else 'eval'}: logits in [{logits.min():.2f}, {logits.max():.2f}], "
        f"map range >= {spread:.3f}, {100 * steep:.1f}% mask pixels in (0.01, 0.99), "
        f"loss {ref['loss'].item():.6f}; torch f32 vs f64: forward "
        + ", ".join(f"{k} {e:.1e}" for k, e in zip(FORWARD, torch_err))
        + f"; gradients max {out['torch_f32_err.grads'].max().item():.1e}"
        + (f" ({out['torch_f32_err.grads.alpha0'].max().item():.1e} with alpha = 0)" if train else "")
    )
    assert spread > 0.5, "degenerate maps: change the fixture's inputs"
    return out


def summary(name: str, t: torch.Tensor) -> torch.Tensor:
    x = t.detach().double().flatten().numpy()
    rng = np.random.default_rng(fnv1a64(name.encode()) & 0xFFFFFFFF)
    k = min(SAMPLES, x.size)
    idx = np.sort(rng.choice(x.size, size=k, replace=False))
    out = [x.sum(), np.abs(x).sum(), (x * x).sum(), np.abs(x).max()]
    for j in range(SAMPLES):
        out += [float(idx[j]), x[idx[j]]] if j < k else [-1.0, 0.0]
    return torch.tensor(out, dtype=torch.float64)


def write_safetensors(path: Path, tensors: dict, metadata: dict):
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        data = tensors[name].to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for data in blobs:
            f.write(data)


def main():
    torch.manual_seed(0)
    tensors = {}
    for arch in ["resnet18", "resnet50"]:
        for attention in ["gcam", "cam"]:
            for train in [False, True]:
                prefix = f"{arch}.{attention}.{'train' if train else 'eval'}."
                for k, v in case(arch, attention, train).items():
                    tensors[prefix + k] = v
    meta = {
        "forward_order": json.dumps(FORWARD),
        "generator": "crates/eader-train/scripts/make_inspect_fixtures.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "batch": f"{B}x3x{H}x{W}",
        "top": json.dumps(TOP),
        "alpha": ALPHA,
        "beta": BETA,
        "omega": OMEGA,
        "sigma": SIGMA,
    }
    for arch, names in GRAD_NAMES.items():
        meta[f"grad_names.{arch}"] = json.dumps(names)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(OUT, tensors, meta)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
