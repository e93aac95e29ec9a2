"""Grad-CAM of ResNet-18 at 224 x 224: the explorer's `cam` against torchcam's GradCAM, in one process.

    pip install torchcam==0.5.0
    python benchmarks/gradcam_vs_torchcam.py [--batch B] [--repeats N] [--threads T] [--device cpu|cuda]

Both start from the same [0, 1] images and include the forward pass (torchcam is fed the
normalised input the explorer's wrapper makes), with random weights (no download). Prints the
median and the fastest of N timed calls after two warm-up calls, and the largest difference of
the two maps.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from explorer.core import cam, load_model


def timed(fn, repeats: int, device: torch.device) -> list[float]:
    for _ in range(2):
        fn()
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from torchcam.methods import GradCAM

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = load_model("torchvision:resnet18", weights="random", device=device)
    x = torch.rand(args.batch, 3, 224, 224, device=device)

    def ours() -> torch.Tensor:
        return cam(model, x, "layer4.1.relu_1", method="gradcam")

    def theirs() -> torch.Tensor:
        with GradCAM(model.inner, "layer4") as extractor:
            scores = model.inner((x - model.mean) / model.std)
            return extractor(scores.argmax(1).tolist(), scores)[0]

    rows = []
    for name, fn in (("explorer cam", ours), ("torchcam GradCAM", theirs), ("explorer cam (again)", ours)):
        ms = timed(fn, args.repeats, device)
        rows.append((name, statistics.median(ms), min(ms)))
    diff = (ours() - theirs()).abs().max().item()
    print(
        f"ResNet-18, batch {args.batch} at 224, {device}, {torch.get_num_threads()} thread(s), {args.repeats} repeats"
    )
    for name, median, fastest in rows:
        print(f"  {name:22s} median {median:8.1f} ms   fastest {fastest:8.1f} ms")
    print(f"  largest difference of the maps: {diff:.2e}")


if __name__ == "__main__":
    main()
