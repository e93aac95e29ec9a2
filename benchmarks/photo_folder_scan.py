"""Time and peak memory of opening and scanning a folder of large JPEG photos with an ImageNet-size model.

    python benchmarks/photo_folder_scan.py make FOLDER [--count 1000] [--size 4000x3000]
    python benchmarks/photo_folder_scan.py scan FOLDER [--model torchvision:resnet18] [--weights random]

`make` writes `count` JPEGs of the given size (12 megapixels by default; a few seconds each to
encode). `scan` opens the folder as the command line does, runs the top-k scan of the model's
last layer and prints the images per second and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make(folder: Path, count: int, width: int, height: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width * 255, y / height * 255, 128 + 90 * np.sin(x / 37.0) * np.cos(y / 53.0)], -1)
    for i in range(count):
        path = folder / f"photo{i:04d}.jpg"
        if path.exists():
            continue
        shift = rng.integers(0, 255, 3).astype(np.float32)
        Image.fromarray(((base + shift) % 256).astype(np.uint8)).save(path, quality=85)
        if i % 50 == 0:
            print(f"{i}/{count}", file=sys.stderr)


def scan(folder: Path, model_spec: str, weights: str | None) -> None:
    from explorer.core import layers, load_model
    from explorer.core.datasets import open_dataset
    from explorer.core.preprocessing import preprocessing_of
    from explorer.core.scan import scan_top_k

    model = load_model(model_spec, weights=weights)
    t0 = time.perf_counter()
    ds = open_dataset(str(folder), prepare=preprocessing_of(model))
    opened = time.perf_counter() - t0
    layer = layers(model)[-1].name
    t1 = time.perf_counter()
    scan_top_k(model, ds, [layer], 9, batch_size=32)
    took = time.perf_counter() - t1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(ds)} photos, {model_spec} at {ds.size} px, layer {layer}: opened in {opened:.2f} s, "
        f"scanned in {took:.1f} s ({len(ds) / took:.1f} images/s), peak memory {peak_mb:.0f} MB"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    m = sub.add_parser("make")
    m.add_argument("folder", type=Path)
    m.add_argument("--count", type=int, default=1000)
    m.add_argument("--size", default="4000x3000")
    s = sub.add_parser("scan")
    s.add_argument("folder", type=Path)
    s.add_argument("--model", default="torchvision:resnet18")
    s.add_argument("--weights", default="random")
    args = p.parse_args()
    if args.what == "make":
        w, h = (int(v) for v in args.size.split("x"))
        make(args.folder, args.count, w, h)
    else:
        scan(args.folder, args.model, args.weights)


if __name__ == "__main__":
    main()
