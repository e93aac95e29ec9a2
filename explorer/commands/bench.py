"""`cnn-explorer bench`: measure the speeds the explorer promises and print a table or JSON."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from explorer.cli import Parser, add_model_args, int_in, load_from_args, open_from_args
from explorer.core.device import DEVICE_CHOICES
from explorer.core.errors import ExplorerError

if TYPE_CHECKING:
    from explorer.core.images import ImageSet

KEYS = (
    "scrub_p50_ms",
    "scrub_p95_ms",
    "scrub_during_scan_p95_ms",
    "layer_projection_ms",
    "per_feature_calls_ms",
    "forward_one_ms",
    "feature_kept_ms",
    "cold_projection_ms",
    "occlusion_ms",
    "cam_ms",
    "sanity_s",
    "scan_images_per_s",
    "scan_cached_images_per_s",
    "forward_images_per_s",
    "scan_over_forward",
    "maximize_layer_s",
    "maximize_layer_1thread_s",
    "window_visible_s",
    "startup_s",
    "peak_rss_mb",
    "model",
    "device",
    "torch_threads",
)
TARGETS = {
    "scrub_p95_ms": "<= 8 ms",
    "scrub_during_scan_p95_ms": "<= 16 ms",
    "layer_projection_ms": "<= 8 ms",
    "forward_one_ms": "one image's forward at the model's size, the window's threads",
    "feature_kept_ms": "a last-layer feature, forward kept (scrubbing): <= 1.3x forward_one_ms",
    "cold_projection_ms": "a last-layer feature, forward included",
    "occlusion_ms": "< 1,000 ms",
    "cam_ms": "Grad-CAM: one image, the last layer, forward included",
    "sanity_s": "the cascading randomization of four images, four methods",
    "scan_images_per_s": ">= 3,000",
    "scan_cached_images_per_s": "a folder's later scans, decode-free",
    "forward_images_per_s": "the bare forward pass, in turns with the scan",
    "scan_over_forward": ">= 1.0 (each turn's ratio, median)",
    "maximize_layer_s": "<= 10 s",
    "maximize_layer_1thread_s": "as the window runs it",
    "window_visible_s": "<= 1.5 s",
    "startup_s": "<= 3 s",
    "peak_rss_mb": "<= 1,500 MB",
}


def _model_json(args) -> str:
    """The model flags as the measuring process reads them (explorer.bench.window)."""
    keys = ("model", "checkpoint", "weights", "num_classes", "input_size", "resize", "classes", "mean", "std")
    return json.dumps({k: (list(v) if isinstance(v, tuple) else v) for k in keys if (v := getattr(args, k, None))})


def _child(mode: str, args, *extra: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "explorer.bench.window",
        mode,
        args.data,
        args.split_for(mode),
        _model_json(args),
        args.device,
        *extra,
    ]
    spawned = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ExplorerError(f"bench {mode}: the measuring process failed ({tail[0]})")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["_spawned"] = spawned
    return result


def _median(values: list[float]) -> float:
    return round(sorted(values)[len(values) // 2], 3)


def _startup(args) -> dict[str, object]:
    """window_visible_s and startup_s (medians), measured from the moment the process was spawned, and
    where the time of the median run went (seconds from the spawn to each moment)."""
    runs = [_child("startup", args) for _ in range(max(1, min(args.repeats, 3)))]
    runs.sort(key=lambda r: r["first_projection"] - r["_spawned"])
    mid = runs[len(runs) // 2]
    moments = (
        "process_started",
        "qt_imported",
        "window_visible",
        "torch_imported",
        "model_loaded",
        "main_window_visible",
    )
    return {
        "window_visible_s": _median([r["window_visible"] - r["_spawned"] for r in runs]),
        "startup_s": _median([r["first_projection"] - r["_spawned"] for r in runs]),
        "startup_moments_s": {m: round(mid[m] - mid["_spawned"], 3) for m in moments},
    }


# What --only may name: a group of keys measured together, by the group's name or any of its keys.
GROUPS = {
    "projection": ("layer_projection_ms", "per_feature_calls_ms"),
    "photo": ("forward_one_ms", "feature_kept_ms", "cold_projection_ms"),
    "occlusion": ("occlusion_ms",),
    "cam": ("cam_ms",),
    "sanity": ("sanity_s",),
    "scan": ("scan_images_per_s", "scan_cached_images_per_s", "forward_images_per_s", "scan_over_forward"),
    "maximize": ("maximize_layer_s", "maximize_layer_1thread_s"),
    "scrub": ("scrub_p50_ms", "scrub_p95_ms", "scrub_during_scan_p95_ms"),
    "startup": ("window_visible_s", "startup_s"),
    "memory": ("peak_rss_mb",),
}


def groups_named(text: str | None) -> list[str]:
    """The groups that --only names (every group when None); an unknown name is an error listing the known ones."""
    if text is None:
        return list(GROUPS)
    chosen = []
    for name in (n.strip() for n in text.split(",") if n.strip()):
        group = name if name in GROUPS else next((g for g, keys in GROUPS.items() if name in keys), None)
        if group is None:
            known = ", ".join([*GROUPS, *(k for keys in GROUPS.values() for k in keys)])
            raise ExplorerError(f"--only: unknown {name!r}; choose from {known}")
        if group not in chosen:
            chosen.append(group)
    if not chosen:
        raise ExplorerError("--only: name at least one group or key")
    return chosen


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="cnn-explorer bench", description="Measure scrubbing, projections, the scan, start-up and memory.")
    p.add_argument(
        "--data", default="cifar10", help="a source with a test split (and train, for memory) (default: %(default)s)"
    )
    add_model_args(p)
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--repeats", type=int_in(1, 100), default=5, help="runs per figure; medians are reported (default: %(default)s)"
    )
    p.add_argument(
        "--changes",
        type=int_in(1, 100_000),
        default=500,
        help="feature changes for the scrub figure (default: %(default)s)",
    )
    p.add_argument(
        "--quick", action="store_true", help="a fast smoke run: few repeats and changes, test split for memory"
    )
    p.add_argument(
        "--only",
        metavar="NAMES",
        help="measure only these groups or keys, comma-separated (groups: " + ", ".join(GROUPS) + ")",
    )
    args = p.parse_args(argv)
    chosen = groups_named(args.only)
    args.download = False
    args.split = "test"
    if args.quick:
        args.repeats, args.changes = 1, min(args.changes, 20)
    args.split_for = lambda mode: "train" if mode == "browse" and not args.quick else "test"

    from explorer.bench.core import (
        bench_layers,
        cached_scan_rate,
        cam_ms,
        maximize_layer_s,
        occlusion_ms,
        photo_times,
        projection_times,
        sanity_s,
        scan_in_turns,
    )
    from explorer.core.device import describe_device, interactive_threads
    from explorer.core.model_meta import model_info

    threads = interactive_threads()  # the engine figures measured as the window runs them
    model, device = load_from_args(args)
    test_set = open_from_args(args.data, "test", False, model)
    results: dict[str, object] = {
        "model": model_info(model).name,
        "device": f"{describe_device(device)}; {platform.processor() or platform.machine()}",
        "torch_threads": threads,
    }
    first = test_set.tensor([0])
    if "projection" in chosen:
        results.update(projection_times(model, first, device, max(3, 10 * args.repeats)))
    if "photo" in chosen:
        results.update(photo_times(model, first, device, max(3, 5 * args.repeats)))
    if "occlusion" in chosen:
        results["occlusion_ms"] = round(occlusion_ms(model, first, device, args.repeats), 1)
    if "cam" in chosen:
        results["cam_ms"] = round(cam_ms(model, first, device, max(3, 10 * args.repeats)), 2)
    if "sanity" in chosen:
        results["sanity_s"] = round(sanity_s(model, test_set.tensor(list(range(min(4, len(test_set))))), device), 2)
    if "scan" in chosen:

        def test() -> ImageSet:
            return open_from_args(args.data, "test", False, model)

        results.update(scan_in_turns(model, test, device, max(3, args.repeats)))
        cached = cached_scan_rate(model, test, args.repeats)
        results["scan_cached_images_per_s"] = None if cached is None else round(cached)
    if "maximize" in chosen:  # every feature of the second layer (SeedNet: all 64 of conv2), the default settings
        top = bench_layers(model)[-1]
        results["maximize_layer_s"] = round(maximize_layer_s(model, min(args.repeats, 3), layer=top), 2)
        results["maximize_layer_1thread_s"] = round(
            maximize_layer_s(model, min(args.repeats, 3), layer=top, threads=1), 2
        )
    if "scrub" in chosen:
        results.update({k: v for k, v in _child("scrub", args, str(args.changes)).items() if k.startswith("scrub")})
    if "startup" in chosen:
        results.update(_startup(args))
    if "memory" in chosen:
        results["peak_rss_mb"] = _child("browse", args)["peak_rss_mb"]
    results["images"] = f"{args.data} ({len(test_set)} test images)"
    if args.json:
        sys.stdout.write(json.dumps(results) + "\n")
    else:
        for key in (*KEYS, "images"):
            if key in results:
                sys.stdout.write(f"{key:26} {results[key]!s:>32}  {TARGETS.get(key, '')}\n")
        moments_s: dict[str, float] | None = results.get("startup_moments_s")  # type: ignore[assignment]
        if moments_s:
            moments = ", ".join(f"{m} {t:.2f}" for m, t in moments_s.items())
            sys.stdout.write(f"{'startup_moments_s':26} {moments}\n")
    return 0
