"""Engine measurements for `cnn-explorer bench`: projections, the top-k scan, the bare forward pass."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from explorer.core.graph import layers
from explorer.core.images import ImageSet, to_tensor
from explorer.core.model import SeedNet
from explorer.core.projection import Projector, layer_outputs, model_device, predict, project
from explorer.core.scan import CPU_PIXELS_PER_BATCH, scan_top_k
from explorer.core.synthesis import maximize


def bench_layers(model: nn.Module) -> list[str]:
    """The layers the figures use: the model's first two (conv1 and conv2 for SeedNet)."""
    return [lay.name for lay in layers(model)[:2]]


def scan_layers(model: nn.Module) -> list[str]:
    """The layers the scan figures use: every layer, as the window's Find top images scans (SeedNet: conv1, conv2)."""
    return [lay.name for lay in layers(model)]


def scan_batch(side: int, batch: int = 256) -> int:
    """Images a forward batch holds at `side` pixels on the CPU, by the scan's own rule (5 at 224 px)."""
    return max(1, min(batch, CPU_PIXELS_PER_BATCH // (side * side)))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 3) -> float:
    """Median wall time of `fn` in milliseconds over `repeats` runs, after `warmup` runs."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def projection_times(model: nn.Module, image: torch.Tensor, device: torch.device, repeats: int) -> dict[str, float]:
    """All projections of the second layer (SeedNet's 64 of conv2) of one image in one call, and one call each."""
    x = image.to(device)
    layer = bench_layers(model)[-1]
    channels = next(lay.channels for lay in layers(model) if lay.name == layer)
    one_call = median_ms(lambda: project(model, x, layer, None), device, repeats)

    def per_feature() -> None:
        for f in range(channels):
            project(model, x, layer, f)

    per = median_ms(per_feature, device, max(1, repeats // 5), warmup=1)
    return {"layer_projection_ms": round(one_call, 3), "per_feature_calls_ms": round(per, 3)}


def photo_times(model: nn.Module, image: torch.Tensor, device: torch.device, repeats: int) -> dict[str, float]:
    """At the model's input size: one image's forward (`forward_one_ms`), and one feature of the model's last
    layer projected with the forward pass kept, as a scrub step through its features runs
    (`feature_kept_ms`), and cold, the forward pass included (`cold_projection_ms`). Features take turns, so no
    step repeats the one before it."""
    x = image.to(device)
    last = layers(model)[-1]
    turn = itertools.count()

    def feature() -> int:
        return next(turn) % last.channels

    with torch.no_grad():
        forward = median_ms(lambda: predict(model, x), device, repeats)
    kept = Projector(model, x, last.name)
    return {
        "forward_one_ms": round(forward, 2),
        "feature_kept_ms": round(median_ms(lambda: kept.project(feature()), device, repeats), 2),
        "cold_projection_ms": round(median_ms(lambda: project(model, x, last.name, feature()), device, repeats), 2),
    }


def maximize_layer_s(model: nn.Module, repeats: int, layer: str = "conv2", threads: int | None = None) -> float:
    """Median seconds to synthesize every feature of `layer` with the default settings, as one call.

    `threads`: torch's thread count meanwhile (the window's worker runs syntheses on one); None: as it is.
    """
    before = torch.get_num_threads()
    times = []
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            maximize(model, layer)
            times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
    return statistics.median(times)


def _uncached(dataset: ImageSet) -> ImageSet:
    """The same files, opened lazily without the pixel cache: every image is decoded again, by the same rule
    (a photo model's preprocessing, else the 32-pixel rule)."""
    if dataset.paths is None:
        return dataset
    return ImageSet(
        dataset.name, dataset.classes, dataset.labels, paths=dataset.paths, source_key=dataset.source_key,
        prepare=dataset.prepare,
    )  # fmt: skip


def _timed_scan(model: nn.Module, dataset: ImageSet) -> float:
    t0 = time.perf_counter()
    scan_top_k(model, dataset, scan_layers(model), 9)
    _sync(model_device(model))
    return len(dataset) / (time.perf_counter() - t0)


def scan_rate(model: nn.Module, make_dataset: Callable[[], ImageSet], repeats: int) -> tuple[float, ImageSet]:
    """Images per second of the top-k scan (every layer, k = 9) on a freshly opened set, decoding
    included (the pixel cache is bypassed)."""
    rates = []
    ds = make_dataset()
    for _ in range(repeats):
        ds = _uncached(make_dataset())
        rates.append(_timed_scan(model, ds))
    return statistics.median(rates), ds


def scan_in_turns(
    model: nn.Module, make_dataset: Callable[[], ImageSet], device: torch.device, repeats: int
) -> dict[str, float]:
    """The uncached scan (`scan_rate`'s) and the bare forward pass (`forward_rate`'s) measured in turns, scan then
    forward, so a busy minute of a shared machine falls on both: their medians and the median of each turn's
    ratio (`scan_over_forward`)."""
    scans, forwards = [], []
    pixels = None
    for _ in range(max(1, repeats)):
        ds = _uncached(make_dataset())
        scans.append(_timed_scan(model, ds))
        if pixels is None:
            pixels = ds.all_pixels()
        forwards.append(forward_rate(model, pixels, device, 1))
    return {
        "scan_images_per_s": round(statistics.median(scans)),
        "forward_images_per_s": round(statistics.median(forwards)),
        "scan_over_forward": round(statistics.median(s / f for s, f in zip(scans, forwards, strict=True)), 2),
    }


def cached_scan_rate(model: nn.Module, make_dataset: Callable[[], ImageSet], repeats: int) -> float | None:
    """The same scan on a freshly opened set whose pixels all came from the pixel cache (filled
    first when needed; opening, which checks the cache file, is not timed). None for a set without
    files, or when the cache could not be written."""
    first = make_dataset()
    if first.paths is None:
        return None
    first.all_pixels()
    rates = []
    for _ in range(repeats):
        ds = make_dataset()
        if not all(ds.is_decoded(i) for i in range(len(ds))):
            return None
        rates.append(_timed_scan(model, ds))
    return statistics.median(rates)


@torch.no_grad()
def forward_rate(model: nn.Module, pixels: np.ndarray, device: torch.device, repeats: int, batch: int = 256) -> float:
    """Images per second of the bare conv stack (float32, NCHW, batches as the scan makes them: 256 CIFAR-size
    images on the CPU), images already decoded: SeedNet's `features`, else the forward pass up to the scanned
    layers."""
    x_all = to_tensor(pixels, "cpu")
    if device.type == "cpu":
        batch = scan_batch(x_all.shape[-1], batch)
    names = scan_layers(model)
    stack = model.features if isinstance(model, SeedNet) else (lambda x: layer_outputs(model, x, names))
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for start in range(0, len(x_all), batch):
            stack(x_all[start : start + batch].to(device))
        _sync(device)
        rates.append(len(x_all) / (time.perf_counter() - t0))
    return statistics.median(rates)


def occlusion_ms(model: torch.nn.Module, image: torch.Tensor, device: torch.device, repeats: int) -> float:
    """One image under an 8-pixel square at stride 1 (625 positions on 32x32), with a conv2 feature's sum."""
    from explorer.core.occlusion_sensitivity import occlusion

    x = image.to(device)
    layer = "conv2" if "conv2" in {lay.name for lay in layers(model)} else layers(model)[-1].name
    return median_ms(lambda: occlusion(model, x, size=8, stride=1, layer=layer, feature=0), device, repeats, warmup=1)


def cam_ms(model: torch.nn.Module, image: torch.Tensor, device: torch.device, repeats: int) -> float:
    """Grad-CAM of one image at the model's last layer, its forward pass included."""
    from explorer.core.class_activation import cam

    x = image.to(device)
    layer = layers(model)[-1].name
    return median_ms(lambda: cam(model, x, layer, method="gradcam"), device, repeats)


def sanity_s(model: torch.nn.Module, images: torch.Tensor, device: torch.device) -> float:
    """The whole cascading randomization (every layer with weights, four methods) for `images`, in seconds."""
    from explorer.core.sanity_checks import sanity

    x = images.to(device)
    start = time.perf_counter()
    sanity(model, x, seed=0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start
