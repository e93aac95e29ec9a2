"""`cnn-explorer scan`'s arguments and output file, shared by the one-process scan (explorer.commands.scan)
and each rank of a torchrun job (explorer.commands.scan_ranks); it imports neither.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from explorer.cli import Parser, add_common, check_layer_names, int_in, model_inputs, positive_int
from explorer.core.errors import ExplorerError
from explorer.core.paths import check_output, show


def parse_layers(text: str | None, model) -> list[str]:
    """The layers named in --layers (all of the model's when not given), checked against the model."""
    from explorer.core.graph import layers

    if text is None:
        return [lay.name for lay in layers(model)]
    return check_layer_names(model, [s.strip() for s in text.split(",") if s.strip()], "--layers")


def positive_seconds(text: str) -> float:
    """An argparse `type=` for a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: must be a positive number of seconds")
    return value


def parser() -> Parser:
    p = Parser(prog="cnn-explorer scan", description="Find the k images that excite each feature most.")
    add_common(p)
    p.add_argument("--layers", default=None, help="comma-separated layer names (default: every layer of the model)")
    p.add_argument("-k", type=positive_int, default=9, help="images per feature (default: %(default)s)")
    p.add_argument("--batch-size", type=int_in(1, 65536), default=256)
    p.add_argument("--out", required=True, help="the .npz file to write")
    p.add_argument(
        "--rank-timeout",
        type=positive_seconds,
        default=1800.0,
        help="under torchrun: seconds a rank waits for the others before the job fails (default: %(default)s)",
    )
    return p


def check_out(args) -> Path:
    return check_output(args.out, model_inputs(args))


def save_or_fail(results, meta, out: Path) -> None:
    from explorer.core.scan_file import save_scan

    try:
        save_scan(results, meta, out)
    except OSError as exc:
        raise ExplorerError(f"{show(out)}: cannot write ({exc.strerror or exc})") from None
