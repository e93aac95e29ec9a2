"""`cnn-explorer scan`: the top-k images of every feature, written to an .npz file.

Started by torchrun (RANK, WORLD_SIZE, LOCAL_RANK set, WORLD_SIZE > 1), the same command scans one
share of the images on every rank and rank 0 writes the merged result (explorer.commands.scan_ranks).
The file records the model's weights fingerprint, the images and the layers (explorer.core.scan_file),
so the window can check that a scan made elsewhere fits what it has open.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from explorer.cli import (
    Parser,
    add_common,
    check_layer_names,
    int_in,
    load_from_args,
    model_inputs,
    open_from_args,
    positive_int,
    progress_line,
    refuse_data_inputs,
    warn_unreadable,
)
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


def main(argv: Sequence[str]) -> int:
    from explorer.core.distributed_scan import torchrun_env

    env = torchrun_env()
    if env is not None:
        from explorer.commands.scan_ranks import main_rank

        return main_rank(argv, env)
    args = parser().parse_args(argv)
    out = check_out(args)
    from explorer.core.model_meta import model_info
    from explorer.core.scan import scan_top_k
    from explorer.core.scan_file import describe

    model, _device = load_from_args(args)
    layers = parse_layers(args.layers, model)
    ds = open_from_args(args.data, args.split, args.download, model)
    refuse_data_inputs(out, args.data, ds)
    results = scan_top_k(model, ds, layers, args.k, batch_size=args.batch_size, progress=progress_line("scanning"))
    warn_unreadable(ds, "count as black images")
    save_or_fail(results, describe(model, ds, layers, args.k, model_info(model).name), out)
    sys.stdout.write(f"wrote {show(out)}: top {args.k} of {len(ds)} images for {', '.join(layers)}\n")
    return 0
