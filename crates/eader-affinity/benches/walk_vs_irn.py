"""eader's sparse random walk beside IRN's dense `propagate_to_edge`, in one run.

    python3 crates/eader-affinity/benches/walk_vs_irn.py --irn /tmp/irn [--sizes 500x375,250x188] [--rounds 2]

For each image size (pixels; the walk runs on the stride-4 graph, IRN's
`ceil(size / 4)`), with two maps, alternating per round: eader's release
example `walk_speed` and IRN's code at 057cea6 (`.cuda()` made the identity,
float32, torch with all cores), each in its own process so that its peak
resident memory (ru_maxrss) is its own. Prints a markdown table: seconds per
image (best of the rounds), images/s, the ratio, peak memory.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

IRN_CHILD = r"""
import sys, time, json, torch
sys.path.insert(0, sys.argv[1])
torch.Tensor.cuda = lambda self, *a, **k: self
torch.sparse.FloatTensor = lambda i, v: torch.sparse_coo_tensor(i, v)
from misc import indexing
h, w, c = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ys = torch.arange(h).float()[:, None]; xs = torch.arange(w).float()[None, :]
edge = (0.5 + 0.5 * torch.sin(xs * 0.31) * torch.cos(ys * 0.17)).clamp(0, 1)
maps = torch.rand(c, h, w)
with torch.no_grad():
    start = time.perf_counter()
    rw = indexing.propagate_to_edge(maps, edge, radius=5, beta=10, exp_times=8)
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds}))
"""


def timed(cmd):
    """Runs cmd; returns its JSON line with its own peak RSS (MiB) added."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        sys.exit(f"{cmd[0]} failed with status {status}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_mib"] = usage.ru_maxrss / 1024.0
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--irn", required=True, help="a checkout of jiwoon-ahn/irn at 057cea6")
    p.add_argument("--sizes", default="250x188,500x375")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--channels", type=int, default=2)
    args = p.parse_args()
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "eader-affinity", "--example", "walk_speed"],
        cwd=ROOT,
        check=True,
    )
    exe = os.path.join(ROOT, "target", "release", "examples", "walk_speed")
    rows = []
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        h, w = math.ceil(height / 4), math.ceil(width / 4)
        best = {"eader": math.inf, "irn": math.inf}
        peak = {"eader": 0.0, "irn": 0.0}
        bytes_t = 0
        for _ in range(args.rounds):
            e = timed([exe, str(h), str(w), str(args.channels), "1"])
            best["eader"] = min(best["eader"], e["seconds"])
            peak["eader"] = max(peak["eader"], e["peak_mib"])
            bytes_t = e["transition_bytes"]
            r = timed([sys.executable, "-c", IRN_CHILD, args.irn, str(h), str(w), str(args.channels)])
            best["irn"] = min(best["irn"], r["seconds"])
            peak["irn"] = max(peak["irn"], r["peak_mib"])
        rows.append((size, h, w, best, peak, bytes_t))
    print(f"torch {__import__('torch').__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print("| image | graph (nodes) | IRN dense s/img | eader sparse s/img | ratio | IRN peak RSS | eader peak RSS | eader T |")
    print("|---|---|---|---|---|---|---|---|")
    for size, h, w, best, peak, bytes_t in rows:
        print(
            f"| {size} | {h}x{w} ({h*w}) | {best['irn']:.3f} | {best['eader']:.4f} | "
            f"{best['irn'] / best['eader']:.0f}x | {peak['irn']:.0f} MiB | {peak['eader']:.0f} MiB | {bytes_t / 2**20:.1f} MiB |"
        )


if __name__ == "__main__":
    main()
