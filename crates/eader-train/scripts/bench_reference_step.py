"""Times the reference EADER training step in PyTorch, for `eader bench train`'s table.

The step is done the way /work/ref/EADER/train.py does it: torchvision ResNets with a
20-way fc, Grad-CAM through forward/backward hooks on layer4 with one backward pass
per round of positive labels (`logits.backward(gradient=one_hot, retain_graph=True)`),
maps upsampled and min-max normalised, soft mask, erasing, the adversarial on the
erased images, BCE + beta * reg + alpha * am for the localizer phase and BCE of the
adversarial for the adversarial phase, `backward`, optimizer step (SGD momentum 0.9,
weight decay 1e-4). Both networks in training mode.

Usage: python3 bench_reference_step.py --batch-size 8 --resolution 224 \
           [--localizer resnet18] [--adversarial resnet18] [--steps 6] [--threads 2] \
           [--device cpu|cuda|cuda:N]
Prints one JSON line: images/s per phase and their mean, peak RSS in MiB, and on CUDA
the peak GPU memory (`torch.cuda.max_memory_allocated`, and what the caching allocator
reserved) in MiB. On CUDA, PyTorch's defaults are kept as the reference runs them
(cuDNN convolutions, TF32 allowed in them, `cudnn.benchmark` off); timing synchronises
the device before the clock is read.
"""
import argparse
import json
import resource
import time
from collections import defaultdict

import torch
import torch.nn.functional as F
import torchvision

NUM_CLASSES = 20


def make_net(arch):
    net = getattr(torchvision.models, arch)(weights=None)
    net.fc = torch.nn.Linear(net.fc.in_features, NUM_CLASSES)
    return net


class GradCamLocalizer(torch.nn.Module):
    """Forward/backward hooks on layer4, one backward per round of labels (the reference's gcam)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.fwd, self.bwd = None, None
        net.layer4.register_forward_hook(lambda m, i, o: setattr(self, "fwd", o))
        net.layer4.register_full_backward_hook(lambda m, gi, go: setattr(self, "bwd", go[0]))

    def forward(self, images, labels):
        logits = self.net(images)
        size = images.shape[2:]
        idx = labels.nonzero()
        mapping = defaultdict(list)
        for b, c in idx.tolist():
            mapping[b].append(c)
        rounds = max(len(v) for v in mapping.values())
        gcams, new_images, new_targets, original_targets = [], [], [], []
        for r in range(rounds):
            one_hot = torch.zeros_like(logits)
            targets = []
            for b in range(images.shape[0]):
                if r < len(mapping[b]):
                    one_hot[b, mapping[b][r]] = 1
                    targets.append(mapping[b][r])
                else:
                    targets.append(-1)
            targets = torch.as_tensor(targets, device=images.device)
            logits.backward(gradient=one_hot, retain_graph=True)
            weights = F.adaptive_avg_pool2d(self.bwd, 1)
            gcam = F.relu((self.fwd * weights).sum(dim=1, keepdim=True))
            gcam = F.interpolate(gcam, size, mode="bilinear", align_corners=False)
            n, c, h, w = gcam.shape
            gcam = gcam.view(n, -1)
            gcam = gcam - gcam.min(dim=1, keepdim=True)[0]
            gmax = gcam.max(dim=1, keepdim=True)[0]
            gcam = gcam / torch.where(gmax != 0, gmax, torch.ones_like(gmax))
            gcam = gcam.view(n, c, h, w)
            keep = targets != -1
            gcams.extend(gcam[keep])
            new_images.extend(images[keep])
            original_targets.extend(labels[keep])
            new_targets.extend(targets[keep])
        return (
            torch.sigmoid(logits),
            torch.stack(gcams),
            torch.stack(new_images),
            torch.stack(new_targets),
            torch.stack(original_targets),
        )


def step(localizer, adversarial, opt_l, opt_a, images, labels, train_localizer, alpha=0.05, beta=1e-5):
    probs, gcams, new_images, new_targets, original_targets = localizer(images, labels)
    masks = torch.sigmoid(100 * (gcams - 0.5))
    localizer.zero_grad()
    adversarial.zero_grad()
    adv = torch.sigmoid(adversarial(new_images * (1 - masks)))
    if train_localizer:
        loss = F.binary_cross_entropy(probs, labels) + beta * gcams.mean()
        am = adv[torch.arange(adv.shape[0]), new_targets].mean()
        loss = loss + alpha * am
        loss.backward()
        opt_l.step()
    else:
        loss = F.binary_cross_entropy(adv, original_targets)
        loss.backward()
        opt_a.step()
    return loss.item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--localizer", default="resnet18")
    parser.add_argument("--adversarial", default="resnet18")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per phase")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)

    localizer = GradCamLocalizer(make_net(args.localizer)).train().to(device)
    adversarial = make_net(args.adversarial).train().to(device)
    sgd = lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=1e-4)
    opt_l, opt_a = sgd(localizer.parameters()), sgd(adversarial.parameters())

    gen = torch.Generator().manual_seed(1)
    images = torch.randn(args.batch_size, 3, args.resolution, args.resolution, generator=gen)
    labels = torch.zeros(args.batch_size, NUM_CLASSES)
    for b in range(args.batch_size):
        k = 1 + b % 3  # 1, 2 or 3 positive classes per image
        labels[b, torch.randperm(NUM_CLASSES, generator=gen)[:k]] = 1
    images, labels = images.to(device), labels.to(device)

    result = {
        "impl": "pytorch-reference",
        "torch": torch.__version__,
        "threads": args.threads,
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "localizer": args.localizer,
        "adversarial": args.adversarial,
        "batch_size": args.batch_size,
        "resolution": args.resolution,
        "pairs": int(labels.sum().item()),
    }
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    for phase, train_localizer in [("localizer", True), ("adversarial", False)]:
        for _ in range(args.warmup):
            step(localizer, adversarial, opt_l, opt_a, images, labels, train_localizer)
        sync()
        start = time.perf_counter()
        for _ in range(args.steps):
            step(localizer, adversarial, opt_l, opt_a, images, labels, train_localizer)
        sync()
        seconds = (time.perf_counter() - start) / args.steps
        result[f"{phase}_step_s"] = seconds
        result[f"{phase}_images_per_s"] = args.batch_size / seconds
    mean_step = (result["localizer_step_s"] + result["adversarial_step_s"]) / 2
    result["images_per_s"] = args.batch_size / mean_step
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if cuda:
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["peak_gpu_reserved_mib"] = torch.cuda.max_memory_reserved(device) / 2**20
    print(json.dumps(result))


if __name__ == "__main__":
    main()
