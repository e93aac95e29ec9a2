"""`cnn-explorer scan`: the top-k images of every feature, written to an .npz file."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from explorer.cli import (
    Parser,
    add_common,
    check_layer_names,
    checkpoint_input,
    int_in,
    load_from_args,
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


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="cnn-explorer scan", description="Find the k images that excite each feature most.")
    add_common(p)
    p.add_argument("--layers", default=None, help="comma-separated layer names (default: every layer of the model)")
    p.add_argument("-k", type=positive_int, default=9, help="images per feature (default: %(default)s)")
    p.add_argument("--batch-size", type=int_in(1, 65536), default=256)
    p.add_argument("--out", required=True, help="the .npz file to write")
    args = p.parse_args(argv)
    out = check_output(args.out, checkpoint_input(args.checkpoint, getattr(args, "model", None)))
    from explorer.core.scan import save_top_k, scan_top_k

    model, _device = load_from_args(args)
    layers = parse_layers(args.layers, model)
    ds = open_from_args(args.data, args.split, args.download)
    refuse_data_inputs(out, args.data, ds)
    results = scan_top_k(model, ds, layers, args.k, batch_size=args.batch_size, progress=progress_line("scanning"))
    warn_unreadable(ds, "count as black images")
    try:
        save_top_k(results, out)
    except OSError as exc:
        raise ExplorerError(f"{show(out)}: cannot write ({exc.strerror or exc})") from None
    sys.stdout.write(f"wrote {show(out)}: top {args.k} of {len(ds)} images for {', '.join(layers)}\n")
    return 0
