"""Times the reference's evaluation loop in PyTorch, next to `eader evaluate`.

Done the way /work/ref/EADER/train.py's `validate(..., evaluate=True)` does it: a
DataLoader with batch size 1 and no workers over the split (ToTensor + ImageNet
Normalize at original size; labels from the masks, void ignored), the localizer in
eval mode with Grad-CAM through forward/backward hooks on layer4 (one backward pass
per round of labels), BCE, `generate_segmentation_map` (threshold 0.3, background
score 1e-5, argmax) and the reference's `Metrics.update` (a loop over classes).
The network is a torchvision ResNet with a K-way fc and random weights (timing only).

Usage: python3 bench_reference_eval.py DATASET_ROOT [--split val] [--arch resnet18] [--threads 2] [--limit N]
Prints one JSON line: images, seconds, images/s, and the seconds spent in the
network (forward + Grad-CAM backward passes).
"""
import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torchvision import transforms


class Split(torch.utils.data.Dataset):
    def __init__(self, root, split, k):
        self.root = Path(root)
        self.ids = (self.root / "ImageSets/Segmentation" / f"{split}.txt").read_text().split()
        self.k = k
        self.tf = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
        )

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        img = Image.open(self.root / "JPEGImages" / f"{self.ids[i]}.jpg").convert("RGB")
        mask = np.array(Image.open(self.root / "SegmentationClass" / f"{self.ids[i]}.png"))
        classes = np.unique(mask)
        classes = classes[(classes != 0) & (classes != 255)]
        y = np.zeros(self.k, dtype=np.float32)
        y[classes - 1] = 1
        return self.tf(img), (torch.from_numpy(y), mask)


class GradCam(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net
        net.layer4.register_forward_hook(lambda m, i, o: setattr(self, "fwd", o))
        net.layer4.register_full_backward_hook(lambda m, gi, go: setattr(self, "bwd", go[0]))

    def forward(self, images, labels):
        logits = self.net(images)
        mapping = defaultdict(list)
        for b, c in labels.nonzero().tolist():
            mapping[b].append(c)
        gcams, targets_all = [], []
        for r in range(max((len(v) for v in mapping.values()), default=0)):
            one_hot = torch.zeros_like(logits)
            targets = []
            for b in range(images.shape[0]):
                if r < len(mapping[b]):
                    one_hot[b, mapping[b][r]] = 1
                    targets.append(mapping[b][r])
                else:
                    targets.append(-1)
            logits.backward(gradient=one_hot, retain_graph=True)
            w = F.adaptive_avg_pool2d(self.bwd, 1)
            g = F.relu((self.fwd * w).sum(1, keepdim=True))
            g = F.interpolate(g, images.shape[2:], mode="bilinear", align_corners=False)
            n = g.shape[0]
            g = g.view(n, -1)
            g -= g.min(dim=1, keepdim=True)[0]
            top = g.max(dim=1, keepdim=True)[0]
            g /= torch.where(top != 0, top, torch.ones_like(top))
            g = g.view(n, 1, *images.shape[2:])
            t = torch.as_tensor(targets)
            gcams.extend(g[t != -1])
            targets_all.extend(t[t != -1].tolist())
        return torch.sigmoid(logits), gcams, targets_all


def segmentation_map(gcams, k, shape, targets, threshold):
    combined = torch.zeros(k + 1, *shape)
    combined[0] = 1e-5
    for g, t in zip(gcams, targets):
        g = F.interpolate(g[None], shape, mode="bilinear", align_corners=False)[0, 0]
        g[g < threshold] = 0
        combined[t + 1] = g
    return combined.argmax(0)


class Metrics:
    """The reference's metrics.py update loop."""

    def __init__(self, n):
        self.n = n
        self.inter = torch.zeros(n, dtype=torch.int64)
        self.union = torch.zeros(n, dtype=torch.int64)

    def update(self, pred, target):
        target = target.view(-1)
        pred = pred.clone().view(-1)
        pred[target == 255] = 255
        for c in range(self.n):
            p, t = pred == c, target == c
            if p.sum() == 0 and t.sum() == 0:
                continue
            i = p[t].sum()
            self.inter[c] += i
            self.union[c] += p.sum() + t.sum() - i

    def miou(self):
        return (self.inter.float() / (self.union.float() + 1e-10)).mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--split", default="val")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="stop after this many images (0: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.root)
    classes = root / "classes.txt"
    k = len(classes.read_text().split()) if classes.exists() else 20
    net = getattr(torchvision.models, args.arch)(weights=None, num_classes=k).eval()
    model = GradCam(net)
    loader = torch.utils.data.DataLoader(Split(root, args.split, k), batch_size=1, shuffle=False)
    metrics = Metrics(k + 1)
    bce = torch.nn.BCELoss()
    network = 0.0
    start = time.perf_counter()
    n = 0
    for images, (labels, masks) in loader:
        t = time.perf_counter()
        probs, gcams, targets = model(images, labels)
        network += time.perf_counter() - t
        bce(probs, labels).item()
        pred = segmentation_map(gcams, k, masks.shape[1:], targets, 0.3)
        metrics.update(pred, masks[0].long())
        n += 1
        if n == args.limit:
            break
    wall = time.perf_counter() - start
    print(
        json.dumps(
            {
                "images": n,
                "seconds": round(wall, 3),
                "images_per_s": round(n / wall, 3),
                "network_s": round(network, 3),
                "miou": metrics.miou(),
            }
        )
    )


if __name__ == "__main__":
    main()
