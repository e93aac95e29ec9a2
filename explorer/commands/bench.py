"""`cnn-explorer bench`: measure the speeds the explorer promises and print a table or JSON."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from collections.abc import Sequence

from explorer.cli import Parser, int_in, load_from_args, open_from_args
from explorer.core.errors import ExplorerError

KEYS = (
    "scrub_p50_ms",
    "scrub_p95_ms",
    "layer_projection_ms",
    "per_feature_calls_ms",
    "occlusion_ms",
    "scan_images_per_s",
    "forward_images_per_s",
    "maximize_layer_s",
    "maximize_layer_1thread_s",
    "startup_s",
    "peak_rss_mb",
    "device",
)
TARGETS = {
    "scrub_p95_ms": "<= 8 ms",
    "layer_projection_ms": "<= 8 ms",
    "occlusion_ms": "< 1,000 ms",
    "scan_images_per_s": ">= 3,000",
    "forward_images_per_s": "scan / forward >= 1.0",
    "maximize_layer_s": "<= 10 s",
    "maximize_layer_1thread_s": "as the window runs it",
    "startup_s": "<= 3 s",
    "peak_rss_mb": "<= 1,500 MB",
}


def _child(mode: str, args, *extra: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "explorer.bench.window",
        mode,
        args.data,
        args.split_for(mode),
        args.checkpoint or "-",
        args.device,
        *extra,
    ]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ExplorerError(f"bench {mode}: the measuring process failed ({tail[0]})")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["_wall_s"] = wall
    return result


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="cnn-explorer bench", description="Measure scrubbing, projections, the scan, start-up and memory.")
    p.add_argument(
        "--data", default="cifar10", help="a source with a test split (and train, for memory) (default: %(default)s)"
    )
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
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
    args = p.parse_args(argv)
    args.download = False
    args.split = "test"
    if args.quick:
        args.repeats, args.changes = 1, min(args.changes, 20)
    args.split_for = lambda mode: "train" if mode == "browse" and not args.quick else "test"

    from explorer.bench.core import forward_rate, maximize_layer_s, occlusion_ms, projection_times, scan_rate
    from explorer.core.device import describe_device

    model, device = load_from_args(args)
    test_set = open_from_args(args.data, "test", False)
    results: dict[str, object] = {"device": f"{describe_device(device)}; {platform.processor() or platform.machine()}"}
    results.update(projection_times(model, test_set.tensor([0]), device, max(3, 10 * args.repeats)))
    results["occlusion_ms"] = round(occlusion_ms(model, test_set.tensor([0]), device, args.repeats), 1)
    rate, scanned = scan_rate(model, lambda: open_from_args(args.data, "test", False), args.repeats)
    results["scan_images_per_s"] = round(rate)
    results["forward_images_per_s"] = round(forward_rate(model, scanned.all_pixels(), device, args.repeats))
    # all 64 conv2 features with the default settings
    results["maximize_layer_s"] = round(maximize_layer_s(model, min(args.repeats, 3)), 2)
    results["maximize_layer_1thread_s"] = round(maximize_layer_s(model, min(args.repeats, 3), threads=1), 2)
    results.update({k: v for k, v in _child("scrub", args, str(args.changes)).items() if k.startswith("scrub")})
    starts = []
    for _ in range(max(1, min(args.repeats, 3))):
        r = _child("startup", args)
        starts.append(r["_wall_s"])
    results["startup_s"] = round(sorted(starts)[len(starts) // 2], 3)
    results["peak_rss_mb"] = _child("browse", args)["peak_rss_mb"]
    results["images"] = f"{args.data} ({len(test_set)} test images)"
    if args.json:
        sys.stdout.write(json.dumps(results) + "\n")
    else:
        for key in (*KEYS, "images"):
            sys.stdout.write(f"{key:22} {results[key]!s:>32}  {TARGETS.get(key, '')}\n")
    return 0
