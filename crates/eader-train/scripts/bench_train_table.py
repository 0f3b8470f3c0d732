"""Side-by-side table of the EADER training step: `eader bench train` vs the PyTorch
reference step (bench_reference_step.py), same work, same machine, same run.

Each configuration runs eader and PyTorch alternately (`--rounds` times each) and keeps
each one's best round, so a burst of load on a shared machine hurts neither side alone.

Usage (after `cargo build --release -p eader-cli`):
    python3 crates/eader-train/scripts/bench_train_table.py \
        [--eader target/release/eader] [--threads 2] [--rounds 2] [--device cpu] \
        [--config resnet18:resnet18:8:224 --config resnet18:resnet18:16:128 ...]
Prints a markdown table (and the raw JSON lines to stderr).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    print("$ " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("{")][-1]
    print(line, file=sys.stderr)
    return json.loads(line)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--eader", default="target/release/eader")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--config", action="append",
                   help="LOCALIZER:ADVERSARIAL:BATCH:RESOLUTION (repeatable)")
    args = p.parse_args()
    configs = args.config or ["resnet18:resnet18:8:224", "resnet18:resnet18:16:128"]
    rows = []
    for spec in configs:
        loc, adv, batch, res = spec.split(":")
        eader_cmd = [args.eader, "bench", "train", "--localizer-model", loc,
                     "--adversarial-model", adv, "--batch-size", batch,
                     "--img-resolution", res, "--steps", str(args.steps), "--warmup", "1",
                     "--device", args.device, "--threads", str(args.threads)]
        torch_cmd = [sys.executable, os.path.join(HERE, "bench_reference_step.py"),
                     "--localizer", loc, "--adversarial", adv, "--batch-size", batch,
                     "--resolution", res, "--steps", str(args.steps), "--warmup", "1",
                     "--threads", str(args.threads)]
        if args.device != "cpu":
            torch_cmd += ["--device", args.device]
        best_e, best_t = None, None
        for _ in range(args.rounds):
            e = run_json(eader_cmd)
            t = run_json(torch_cmd)
            if best_e is None or e["images_per_s"] > best_e["images_per_s"]:
                best_e = e
            if best_t is None or t["images_per_s"] > best_t["images_per_s"]:
                best_t = t
        rows.append((spec, best_e, best_t))
    print(f"| localizer + adversarial, batch @ px ({args.device}, {args.threads} threads) "
          "| PyTorch img/s (loc / adv / cycle) | eader img/s (loc / adv / cycle) "
          "| ratio (cycle) | peak memory PyTorch / eader (MiB) |")
    print("|---|---|---|---|---|")
    for spec, e, t in rows:
        loc, adv, batch, res = spec.split(":")
        mem_t = t.get("peak_rss_mib") or t.get("peak_gpu_mib")
        mem_e = e.get("peak_rss_mib") or e.get("peak_gpu_mib")
        fmt = lambda v: "-" if v is None else f"{v:.0f}"
        print(f"| {loc} + {adv}, {batch} @ {res} "
              f"| {t['localizer_images_per_s']:.2f} / {t['adversarial_images_per_s']:.2f} / {t['images_per_s']:.2f} "
              f"| {e['localizer_images_per_s']:.2f} / {e['adversarial_images_per_s']:.2f} / {e['images_per_s']:.2f} "
              f"| {e['images_per_s'] / t['images_per_s']:.2f}x "
              f"| {fmt(mem_t)} / {fmt(mem_e)} |")


if __name__ == "__main__":
    main()
