#!/usr/bin/env python3
"""Inputs for `eader inspect` on CUDA vs CPU, and the comparison (scripts/gpu-run.sh).

    python3 scripts/gpu_inspect_check.py make DIR
        writes DIR/localizer.safetensors, DIR/adversarial.safetensors (torchvision
        ResNet-18s with a 20-class head, seeded random init) and DIR/batch.safetensors
        (`images` (4, 3, 128, 128) f32, `labels` (4, 20) multi-hot, 1-3 classes each)
    python3 scripts/gpu_inspect_check.py compare CUDA.safetensors CPU.safetensors [--tol 1e-3]
        prints one JSON line: per tensor, max |cuda - cpu| / max |cpu|, and the worst;
        exits 1 when the worst is above --tol

Needs torch and numpy (no safetensors package: the format is written and read here).
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "U32": np.uint32, "U8": np.uint8}


def save(path, arrays):
    header, offset = {}, 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for a in arrays.values():
            f.write(np.ascontiguousarray(a, dtype=np.float32).tobytes())


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(body[start:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def make(folder):
    import torch
    import torchvision

    torch.manual_seed(0)
    for role in ("localizer", "adversarial"):
        net = torchvision.models.resnet18(weights=None)
        net.fc = torch.nn.Linear(net.fc.in_features, 20)
        state = {k: v.numpy() for k, v in net.state_dict().items()
                 if not k.endswith("num_batches_tracked")}
        save(f"{folder}/{role}.safetensors", state)
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(4, 3, 128, 128, generator=gen)
    labels = torch.zeros(4, 20)
    for b in range(4):
        labels[b, torch.randperm(20, generator=gen)[: 1 + b % 3]] = 1
    save(f"{folder}/batch.safetensors", {"images": images.numpy(), "labels": labels.numpy()})


def compare(cuda_path, cpu_path, tol):
    a, b = load(cuda_path), load(cpu_path)
    result = {"tolerance": tol, "missing": sorted(set(b) ^ set(a)), "rel_err": {}}
    for name in sorted(set(a) & set(b)):
        x, y = a[name].astype(np.float64), b[name].astype(np.float64)
        if x.shape != y.shape:
            result["rel_err"][name] = float("inf")
            continue
        scale = max(float(np.abs(y).max()) if y.size else 0.0, 1e-12)
        result["rel_err"][name] = float(np.abs(x - y).max() / scale) if y.size else 0.0
    worst = max(result["rel_err"].items(), key=lambda kv: kv[1], default=("none", 0.0))
    result["worst"] = {"tensor": worst[0], "rel_err": worst[1]}
    forward = {k: v for k, v in result["rel_err"].items() if not k.startswith("grad.")}
    grads = {k: v for k, v in result["rel_err"].items() if k.startswith("grad.")}
    result["worst_forward"] = max(forward.values(), default=0.0)
    result["worst_grad"] = max(grads.values(), default=0.0)
    print(json.dumps(result))
    return 0 if worst[1] <= tol and not result["missing"] else 1


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2])
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "compare":
        tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-3
        return compare(sys.argv[2], sys.argv[3], tol)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
