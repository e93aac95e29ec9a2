"""SeedNet's speed in this checkout against the baseline commit f8c2157, measured in turns.

The baseline is commit f8c2157 (before the engine became general); its bench reports start-up in its
own way, which this script reads. On a shared machine a figure can move by a third between minutes,
so the two checkouts are measured in turns (A, B, A, B, ...) under the same conditions, each figure
by each checkout's own bench code, and the medians of the turns are compared:

    git worktree add ../base f8c2157
    python benchmarks/speed_against_older_commit.py CIFAR ../base [PAIRS]

CIFAR is a folder with CIFAR-10's `train/` and `test/` class folders.

Figures: start-up (from the bench module's import to the first projection painted, the baseline's
definition), the scrub stage of the window bench (500 feature changes alternating the two layers),
and the engine keys `layer_projection_ms` and `scan_images_per_s` with one and with two torch
threads (the baseline took them with torch's default, two here; the bench now takes them with one,
as the window runs).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

CORE = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[2]))
from explorer.bench.core import projection_times, scan_rate
from explorer.core.datasets import open_folder
try:
    from explorer.core.loading import load_model
    model = load_model("seednet", None, torch.device("cpu"))
except ImportError:  # the baseline
    from explorer.core.checkpoint import load_model
    model = load_model(None, torch.device("cpu"))
data = sys.argv[1]
out = projection_times(model, open_folder(data + "/test").tensor([0]), torch.device("cpu"), 30)
rate, _ = scan_rate(model, lambda: open_folder(data + "/test"), 2)
print(json.dumps({"layer_projection_ms": out["layer_projection_ms"], "scan_images_per_s": rate}))
"""


def _run(tree: Path, args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def figures(tree: Path, data: str, baseline: bool) -> dict[str, float]:
    model_arg = "-" if baseline else "{}"
    out: dict[str, float] = {}
    s = _run(tree, ["-m", "explorer.bench.window", "startup", data, "test", model_arg, "cpu"])
    out["startup_s"] = s["startup_in_process_s"] if baseline else s["first_projection"] - s["process_started"]
    s = _run(tree, ["-m", "explorer.bench.window", "scrub", data, "test", model_arg, "cpu", "500"])
    out["scrub_p50_ms"], out["scrub_p95_ms"] = s["scrub_p50_ms"], s["scrub_p95_ms"]
    for threads in (1, 2):
        c = _run(tree, ["-c", CORE, data, str(threads)])
        out[f"layer_projection_ms_{threads}t"] = c["layer_projection_ms"]
        out[f"scan_images_per_s_{threads}t"] = c["scan_images_per_s"]
    return out


def main() -> None:
    data, base = sys.argv[1], Path(sys.argv[2]).resolve()
    pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    runs: dict[str, list[dict[str, float]]] = {"now": [], "baseline": []}
    for i in range(pairs):
        runs["now"].append(figures(HERE, data, baseline=False))
        runs["baseline"].append(figures(base, data, baseline=True))
        print(f"pair {i + 1}: now {runs['now'][-1]}\n        baseline {runs['baseline'][-1]}", flush=True)
    print(f"{'key':28s} {'now':>10s} {'baseline':>10s}   (medians of {pairs} turns each)")
    for key in runs["now"][0]:
        now = statistics.median(r[key] for r in runs["now"])
        then = statistics.median(r[key] for r in runs["baseline"])
        print(f"{key:28s} {now:10.2f} {then:10.2f}")


if __name__ == "__main__":
    main()
