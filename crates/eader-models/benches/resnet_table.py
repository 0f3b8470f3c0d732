#!/usr/bin/env python3
"""Side-by-side table: eader's whole-network ResNet throughput on the CPU
(`cargo bench -p eader-models --bench resnet`, the fast kernels) against
torchvision on the same work (training mode, 20-way head, loss = sum of the
logits, 2 threads), alternating the two per row so that both see the same
machine, best of N rounds each. Prints a markdown table.

Usage: python3 crates/eader-models/benches/resnet_table.py [--rounds N] [--filter resnet18]
Needs torch + torchvision; builds the benchmark first (release)."""
import argparse
import re
import subprocess
import time

import torch
import torchvision

THREADS = 2
CONFIGS = [(name, batch, size)
           for name in ("resnet18", "resnet50", "resnet101")
           for batch, size in ((8, 224), (16, 128))]
MODES = ("forward", "forward_backward")


def torch_rate(net, x, mode, min_time):
    def step():
        if mode == "forward":
            net(x)
        else:
            net.zero_grad(set_to_none=True)
            net(x).sum().backward()
    step()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time or runs < 3:
        step()
        runs += 1
    return x.shape[0] * runs / (time.perf_counter() - start)


UNITS = {"elem/s": 1.0, "Kelem/s": 1e3, "Melem/s": 1e6}


def eader_rate(mode, ident):
    out = subprocess.run(
        ["cargo", "bench", "-q", "-p", "eader-models", "--bench", "resnet", "--",
         "--noplot", f"^resnet/{mode}/{ident}$"],
        check=True, capture_output=True, text=True).stdout
    m = re.search(r"thrpt:\s*\[\S+\s+\S+\s+(\S+)\s+(\S+)", out)
    if not m:
        raise SystemExit(f"no throughput for {mode}/{ident} in:\n{out}")
    return float(m.group(1)) * UNITS[m.group(2)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--filter", default="")
    ap.add_argument("--min-time", type=float, default=5.0)
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    subprocess.run(["cargo", "bench", "-q", "-p", "eader-models", "--bench", "resnet",
                    "--no-run"], check=True)
    rows = []
    for name, batch, size in CONFIGS:
        if args.filter not in name:
            continue
        net = getattr(torchvision.models, name)(num_classes=20).train()
        x = torch.randn(batch, 3, size, size)
        ident = f"{name}_b{batch}_{size}_fast"
        for mode in MODES:
            ours, ref = 0.0, 0.0
            for _ in range(args.rounds):
                ref = max(ref, torch_rate(net, x, mode, args.min_time))
                ours = max(ours, eader_rate(mode, ident))
            rows.append((name, batch, size, mode, ref, ours))
            print(f"{name} b{batch}@{size} {mode}: torch {ref:.2f} img/s, "
                  f"eader {ours:.2f} img/s, ratio {ours / ref:.2f}x", flush=True)
    print(f"\n| network | batch @ size | pass | PyTorch {torch.__version__} img/s "
          "| eader img/s | eader / PyTorch |")
    print("|---|---|---|---|---|---|")
    for name, batch, size, mode, ref, ours in rows:
        pass_ = "forward" if mode == "forward" else "forward+backward"
        print(f"| {name} | {batch} @ {size} | {pass_} | {ref:.2f} | {ours:.2f} "
              f"| {ours / ref:.2f}x |")


if __name__ == "__main__":
    main()
