"""`cnn-explorer export KIND`: the window's figures, headless, as PNG, SVG or PDF.

Builds the same request the window builds (explorer.analyses) and makes the file the same two
steps (request.compute, explorer.render.write), so the same state gives the same file.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from explorer.analyses.errors import AnalysisError
from explorer.analyses.selection import parse_index, parse_indices
from explorer.cli import (
    Parser,
    add_common,
    check_layer_names,
    int_in,
    load_from_args,
    open_from_args,
    positive_int,
    progress_line,
)
from explorer.commands import export_attribution, export_backprop, export_experiments, export_maximize
from explorer.commands.export_common import (
    add_output_args,
    check_figure_output,
    data_opener,
    named_image,
    refuse_data_files,
    write_figure,
)
from explorer.core.paths import show
from explorer.core.projection import KEEPS, METHODS, UNPOOLS

KIND_HELP = {
    "maps": "all activation maps of one image",
    "projections": "all features' projections for one image",
    "feature": "one feature across images, each image beside its projection",
    "topk": "each feature's top-k patches beside their projections (Zeiler & Fergus)",
    "maxact": "for each feature, the image of a batch with its highest activation, and its projection",
}
USES_PROJECTION = ("projections", "feature", "topk", "maxact")


def build_parser() -> Parser:
    p = Parser(prog="cnn-explorer export", description="Write a figure grid for a report (.png, .svg or .pdf).")
    sub = p.add_subparsers(dest="kind", metavar="KIND", required=True, parser_class=Parser)
    for kind, text in KIND_HELP.items():
        sp = sub.add_parser(kind, help=text, description=text[0].upper() + text[1:] + ".")
        add_common(sp)
        sp.add_argument("--layer", default=None, help="a layer of the model (default: its first)")
        add_output_args(sp, kind)
        sp.add_argument(
            "--columns", type=int_in(1, 1024), default=None, help="cells per row (default: depends on the figure)"
        )
        if kind in ("maps", "projections"):
            sp.add_argument("--image", default="0", help="dataset index of the image (default: %(default)s)")
        if kind == "feature":
            sp.add_argument("--feature", required=True, help="the feature index")
            sp.add_argument("--images", default=None, help="indices: N, A:B, A:B:STEP or N,M,... (default: 0:16)")
        if kind == "maxact":
            sp.add_argument("--images", default=None, help="the batch searched: A:B, ... (default: 0:256)")
        if kind in ("projections", "topk", "maxact"):
            sp.add_argument("--features", default=None, help="indices: N, A:B, A:B:STEP or N,M,... (default: all)")
        if kind == "topk":
            sp.add_argument("-k", type=positive_int, default=9, help="images per feature (default: %(default)s)")
        if kind in USES_PROJECTION:
            sp.add_argument("--method", default="deconvnet", help=f"{', '.join(METHODS)} (default: %(default)s)")
            sp.add_argument("--unpool", default="switches", help=f"{', '.join(UNPOOLS)} (default: %(default)s)")
        if kind in ("projections", "feature", "maxact"):
            sp.add_argument("--keep", default="map", help=f"{', '.join(KEEPS)} (default: %(default)s)")
    export_backprop.add_parser(sub, add_common)
    export_maximize.add_parser(sub, add_common)
    export_experiments.add_parsers(sub, add_common)
    export_attribution.add_parsers(sub, add_common)
    return p


def _choice(flag: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise AnalysisError(f"{flag} {show(value)}: unknown (use {', '.join(allowed)})")
    return value


def _check_options(args: argparse.Namespace) -> None:
    """Everything checkable before the model and the images are loaded (the output: main, for every kind)."""
    if args.columns is not None and args.columns < 1:
        raise AnalysisError(f"--columns {args.columns}: must be at least 1")
    if args.kind in USES_PROJECTION:
        _choice("--method", args.method, METHODS)
        _choice("--unpool", args.unpool, UNPOOLS)
        if args.unpool == "fill" and args.method != "deconvnet":
            raise AnalysisError(f"--unpool fill: belongs to the deconvnet; --method {args.method} follows the switches")
    if getattr(args, "keep", None) is not None:
        _choice("--keep", args.keep, KEEPS)
    if args.kind == "topk" and args.k < 1:
        raise AnalysisError(f"-k {args.k}: must be at least 1")


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    # Every kind: the output checked against every file the command reads before any work, and the data set
    # opened only through a guard that refuses an --out among its images (export_common).
    out = check_figure_output(args)
    open_data = data_opener(out, open_from_args)
    if args.kind == "backprop":
        return export_backprop.run(args, load_from_args, open_data)
    if args.kind == "maximize":
        refuse_data_files(out, args.data, args.split)
        return export_maximize.run(args, load_from_args)
    if args.kind in export_experiments.HELP:
        return export_experiments.run(args, load_from_args, open_data)
    if args.kind in export_attribution.HELP:
        return export_attribution.run(args, load_from_args, open_data)
    _check_options(args)

    from explorer.analyses.kinds import grid_request
    from explorer.analyses.names import model_label
    from explorer.core.graph import layers

    model, _device = load_from_args(args)
    found = layers(model)
    args.layer = found[0].name if args.layer is None else check_layer_names(model, [args.layer], "--layer")[0]
    channels = next(lay.channels for lay in found if lay.name == args.layer)
    feature = parse_index(args.feature, channels, "--feature") if args.kind == "feature" else 0
    features = parse_indices(args.features, channels, "--features") if getattr(args, "features", None) else None
    ds = open_data(args.data, args.split, args.download, model)
    image = named_image(ds, args.image) if args.kind in ("maps", "projections") else 0
    images = parse_indices(args.images, len(ds), "--images") if getattr(args, "images", None) else ()
    request = grid_request(
        args.kind,
        args.layer,
        image=image,
        feature=feature,
        features=features,
        images=images,
        method=getattr(args, "method", "deconvnet"),
        unpool=getattr(args, "unpool", "switches"),
        keep=getattr(args, "keep", "map"),
        k=getattr(args, "k", 9),
        columns=args.columns,
    )
    request.check_size(ds, channels)  # before the scan: a figure too big to draw is refused before any work
    if args.kind == "topk":
        from explorer.core.datasets import cache_dir
        from explorer.core.scan import cached_scan

        results, _cached = cached_scan(
            model, ds, [args.layer], args.k, cache_dir() / "scans", progress=progress_line("scanning")
        )
        request = dataclasses.replace(request, top_k=results[args.layer])
    data = request.compute(model, ds, model_name=model_label(model))
    path = write_figure(args, data)
    if ds.failures:
        first = next(iter(ds.failures.values()))
        sys.stderr.write(
            f"warning: {len(ds.failures)} image(s) could not be read and show as black (first: {show(first)})\n"
        )
    sys.stdout.write(f"wrote {show(path)}: {args.kind}, {len(data.labels)} cells, {len(data.tiles)} tiles\n")
    return 0
