"""`cnn-explorer export maximize`: the synthesized images of a layer's features, as a figure.

Builds the MaximizeRequest the window's Synthesized view builds and makes the file the same two
steps (request.compute, explorer.render.write), so the same settings give the same bytes.
"""

from __future__ import annotations

import argparse
import sys
import time

from explorer.analyses.errors import AnalysisError
from explorer.analyses.selection import parse_indices
from explorer.commands.export_common import add_output_args, write_figure
from explorer.core.paths import show
from explorer.core.synthesis import MAX_STEPS, OBJECTIVES, PARAMS, MaximizeSettings

HELP = "what each feature wants to see: inputs optimized to drive it hardest (activation maximization)"
D = MaximizeSettings()
# Every count typed into the command has a bound, so a typo cannot run for hours or fill the memory.
MAX_FEATURES = 512  # images optimized together (and tiles in the figure), as MAX_CELLS bounds other figures
MAX_INPUT_SIZE = 1024  # the side of each image, pixels
MAX_PIXELS = 512 * 224 * 224  # features x side x side in one run: 512 ImageNet-sized images
COUNTS = {  # flag: (attribute, lowest, highest)
    "--steps": ("steps", 0, MAX_STEPS),
    "--seed": ("seed", -(2**63), 2**63 - 1),
    "--blur-every": ("blur_every", 0, MAX_STEPS),
    "--jitter": ("jitter", 0, 256),
    "--columns": ("columns", 1, 1024),
}  # the model's --input-size, --resize and --num-classes are bounded where every command parses them


def add_settings(p: argparse.ArgumentParser) -> None:
    """The optimization's flags, with MaximizeSettings' defaults."""
    p.add_argument("--objective", default=D.objective, choices=OBJECTIVES, help="(default: %(default)s)")
    p.add_argument("--steps", type=int, default=D.steps, help="(default: %(default)s)")
    p.add_argument("--seed", type=int, default=D.seed, help="(default: %(default)s)")
    p.add_argument("--lr", type=float, default=D.lr, help="Adam's step size (default: %(default)s)")
    p.add_argument("--param", default=D.param, choices=PARAMS, help="(default: %(default)s)")
    p.add_argument("--l2", type=float, default=D.l2, help="decay towards grey per step (default: %(default)s)")
    p.add_argument("--blur-every", type=int, default=D.blur_every, help="0: never (default: %(default)s)")
    p.add_argument("--blur-sigma", type=float, default=D.blur_sigma, help="pixels (default: %(default)s)")
    p.add_argument("--jitter", type=int, default=D.jitter, help="pixels (default: %(default)s)")


def settings_from_args(args: argparse.Namespace) -> MaximizeSettings:
    try:
        return MaximizeSettings(
            args.objective,
            args.steps,
            args.seed,
            args.lr,
            args.param,
            args.l2,
            args.blur_every,
            args.blur_sigma,
            args.jitter,
        )
    except ValueError as exc:
        raise AnalysisError(f"settings: {exc}") from None


def add_parser(sub: argparse._SubParsersAction, add_common) -> None:
    sp = sub.add_parser("maximize", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    add_common(sp)
    sp.add_argument("--layer", required=True, help="a layer of the model (conv1, conv2, ... for the bundled ones)")
    sp.add_argument("--features", default=None, help="indices: N, A:B, A:B:STEP or N,M,... (default: all)")
    add_settings(sp)
    sp.add_argument("--columns", type=int, default=None, help="cells per row (default: 8)")
    add_output_args(sp, "maximize")


def check_counts(args: argparse.Namespace) -> None:
    """AnalysisError naming the flag and its bounds for any count out of COUNTS' range (None: not given)."""
    for flag, (name, low, high) in COUNTS.items():
        value = getattr(args, name, None)
        if value is not None and not low <= value <= high:
            raise AnalysisError(f"{flag} {value}: must be between {low:,} and {high:,}")


def check_work(features: int, size: int, layer: str) -> None:
    """AnalysisError, before any optimization, when the run would hold too many images or too many pixels."""
    if features > MAX_FEATURES:
        raise AnalysisError(
            f"--features: {features:,} features of {layer}, more than the {MAX_FEATURES} one run optimizes; "
            "choose fewer, e.g. every STEP-th with A:B:STEP"
        )
    if size > MAX_INPUT_SIZE:
        raise AnalysisError(f"the model's input size {size}: more than the {MAX_INPUT_SIZE} pixels maximize takes")
    if features * size * size > MAX_PIXELS:
        raise AnalysisError(
            f"--features: {features:,} images of {size}x{size} pixels, more than the {MAX_PIXELS:,} pixels "
            f"one run optimizes; choose at most {MAX_PIXELS // (size * size):,} features"
        )


def run(args: argparse.Namespace, load_from_args) -> int:
    """The figure; --out was checked by export.main (against --data's files too, though none is read)."""
    check_counts(args)
    settings = settings_from_args(args)

    from explorer.analyses.maximize import MaximizeRequest
    from explorer.analyses.names import model_label
    from explorer.cli import progress_line
    from explorer.core.graph import model_graph
    from explorer.core.model_meta import model_info

    model, _device = load_from_args(args)
    try:
        channels = model_graph(model).layer(args.layer).channels
    except ValueError as exc:
        raise AnalysisError(f"--layer {args.layer}: {exc}") from None
    features = parse_indices(args.features, channels, "--features") if args.features else None
    check_work(channels if features is None else len(features), model_info(model).input_size, args.layer)
    request = MaximizeRequest(args.layer, features, settings, args.columns)
    t0 = time.perf_counter()
    data = request.compute(model, None, model_name=model_label(model), progress=progress_line("optimizing"))
    seconds = time.perf_counter() - t0
    path = write_figure(args, data)
    sys.stdout.write(f"wrote {show(path)}: maximize, {args.layer}, {len(data.labels)} features in {seconds:.1f} s\n")
    return 0
