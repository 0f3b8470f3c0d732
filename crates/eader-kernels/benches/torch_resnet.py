#!/usr/bin/env python3
"""PyTorch CPU baseline for benches/resnet.rs: torchvision ResNet-18/50/101
(20-way head), training mode, 2 threads, batch 8 at 224 and batch 16 at 128,
forward and forward+backward (loss = sum of logits), in images per second.
Run right before or after `cargo bench -p eader-kernels --bench resnet`.
Usage: python3 torch_resnet.py [name filter, e.g. resnet50]"""
import sys
import time

import torch
import torchvision

torch.set_num_threads(2)
wanted = sys.argv[1] if len(sys.argv) > 1 else ""


def timeit(fn, min_time=5.0):
    fn()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time or runs < 3:
        fn()
        runs += 1
    return (time.perf_counter() - start) / runs


for name in ("resnet18", "resnet50", "resnet101"):
    if wanted not in name:
        continue
    net = getattr(torchvision.models, name)(num_classes=20).train()
    for batch, size in ((8, 224), (16, 128)):
        x = torch.randn(batch, 3, size, size)
        fwd = timeit(lambda: net(x))

        def step():
            net.zero_grad(set_to_none=True)
            net(x).sum().backward()

        fb = timeit(step)
        print(f"{name}_b{batch}_{size}: forward {batch / fwd:6.1f} img/s, "
              f"forward+backward {batch / fb:6.1f} img/s")
