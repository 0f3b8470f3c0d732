#!/usr/bin/env python3
"""torchvision baseline of eader-dataset's `loader` benchmark.

A VOCSegmentation-like dataset (PIL decode of JPEGImages/<id>.jpg and of the
palette mask SegmentationClass/<id>.png, multi-hot labels from the mask as in
the EADER reference) with the reference's training transforms
(RandomResizedCrop(448), RandomHorizontalFlip, ToTensor, Normalize), in a
DataLoader(batch_size=16, shuffle=True, num_workers=2, drop_last=True), on the
files the Rust benchmark wrote:

    cargo bench -p eader-dataset --bench loader
    python3 crates/eader-dataset/scripts/bench_torchvision.py target/eader-dataset-bench

Prints images per second (median over epochs, after a warm-up epoch).
"""
import argparse
import os
import statistics
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


class VocLike(Dataset):
    """torchvision.datasets.VOCSegmentation's reading, without its download checks."""

    def __init__(self, root, split, transform, num_classes=20):
        with open(os.path.join(root, "ImageSets", "Segmentation", split + ".txt")) as f:
            ids = [line.strip() for line in f if line.strip()]
        self.images = [os.path.join(root, "JPEGImages", i + ".jpg") for i in ids]
        self.masks = [os.path.join(root, "SegmentationClass", i + ".png") for i in ids]
        self.transform = transform
        self.num_classes = num_classes

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        img = Image.open(self.images[index]).convert("RGB")
        target = Image.open(self.masks[index])
        # The reference's SegmentationMapToMultiClass.
        m = np.array(target, dtype=np.uint8)
        m = np.where(m == 255, 0, m)
        classes = np.unique(m)
        classes = classes[classes != 0]
        labels = np.zeros(self.num_classes, dtype=np.float32)
        labels[classes - 1] = 1
        return self.transform(img), torch.as_tensor(labels)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root", help="the benchmark's dataset folder (VOC layout)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    tf = transforms.Compose([
        transforms.RandomResizedCrop(args.size),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    ds = VocLike(args.root, "train", tf)
    loader = DataLoader(ds, batch_size=args.batch, shuffle=True, num_workers=args.workers,
                        drop_last=True, persistent_workers=True)
    n = len(ds) // args.batch * args.batch
    for _ in loader:  # warm-up: worker start, page cache
        pass
    rates = []
    for _ in range(args.epochs):
        t = time.perf_counter()
        for images, labels in loader:
            assert images.shape == (args.batch, 3, args.size, args.size)
        rates.append(n / (time.perf_counter() - t))
    print(f"torchvision DataLoader(num_workers={args.workers}): "
          f"median {statistics.median(rates):.1f} images/s "
          f"(epochs: {', '.join(f'{r:.1f}' for r in rates)}; {n} images per epoch, "
          f"torch {torch.__version__})")


if __name__ == "__main__":
    main()
