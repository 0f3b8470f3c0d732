#!/usr/bin/env python3
"""PyTorch CPU baseline for benches/ops.rs: the same convolution shapes
(ResNet-50, batch 8, 224x224), forward, input gradient and weight gradient,
in GFLOP/s on 2 threads. Run right before or after the criterion benchmark
(`cargo bench -p eader-kernels --bench ops -- conv`) and compare ratios."""
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
CONVS = [
    ("stem_7x7_s2", (8, 3, 224, 224), (64, 3, 7, 7), 2, 3),
    ("l1_3x3", (8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
    ("l1_1x1_expand", (8, 64, 56, 56), (256, 64, 1, 1), 1, 0),
    ("l2_3x3_s2", (8, 128, 56, 56), (128, 128, 3, 3), 2, 1),
    ("l3_3x3", (8, 256, 14, 14), (256, 256, 3, 3), 1, 1),
    ("l4_1x1_reduce", (8, 2048, 7, 7), (512, 2048, 1, 1), 1, 0),
    ("l4_3x3", (8, 512, 7, 7), (512, 512, 3, 3), 1, 1),
]


def timeit(fn, min_time=1.0):
    fn()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time or runs < 3:
        fn()
        runs += 1
    return (time.perf_counter() - start) / runs


with torch.no_grad():
    for name, xs, ws, s, p in CONVS:
        x, w = torch.randn(xs), torch.randn(ws)
        y = F.conv2d(x, w, stride=s, padding=p)
        dy = torch.randn_like(y)
        flops = 2 * y.numel() * ws[1] * ws[2] * ws[3]
        fwd = timeit(lambda: F.conv2d(x, w, stride=s, padding=p))
        dx = timeit(lambda: torch.nn.grad.conv2d_input(xs, w, dy, stride=s, padding=p))
        dw = timeit(lambda: torch.nn.grad.conv2d_weight(x, ws, dy, stride=s, padding=p))
        print(f"{name:16s} forward {flops / fwd / 1e9:6.1f}  input_grad {flops / dx / 1e9:6.1f}  "
              f"weight_grad {flops / dw / 1e9:6.1f} GFLOP/s")
