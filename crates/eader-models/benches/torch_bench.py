#!/usr/bin/env python3
"""PyTorch baseline for benches/forward.rs: the same work, CPU, 2 threads.

Training-mode forward, and forward + backward of `logits.mean()`, for
ResNet-18 and ResNet-50 (20-class heads) at batch 8 x 224x224 and batch 16 x
128x128. Prints images/s (median of 10 timed iterations after one warm-up).

    python3 crates/eader-models/benches/torch_bench.py
"""
import statistics
import time

import torch
import torchvision

torch.set_num_threads(2)


def measure(fn, iters=10):
    fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    print("| work | PyTorch images/s |")
    print("|---|---|")
    for arch in ["resnet18", "resnet50"]:
        model = getattr(torchvision.models, arch)(num_classes=20)
        model.train()
        for batch, size in [(8, 224), (16, 128)]:
            x = torch.randn(batch, 3, size, size)

            def fwd():
                # Autograd on, as candle records the graph of a forward over Vars.
                model(x)

            def fwd_bwd():
                model.zero_grad(set_to_none=True)
                model(x).mean().backward()

            for name, fn in [("forward", fwd), ("forward_backward", fwd_bwd)]:
                t = measure(fn)
                print(f"| {name}/{arch}/b{batch}x{size} | {batch / t:.2f} |", flush=True)


if __name__ == "__main__":
    main()
