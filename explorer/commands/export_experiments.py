"""`cnn-explorer export occlusion | evolution | invariance`: Zeiler & Fergus's other experiments as figures.

Builds the request the window's views build and makes the file the same two steps
(request.compute, explorer.render.write), so the same state gives the same bytes.
"""

from __future__ import annotations

import argparse
import math
import sys

from explorer.analyses.errors import AnalysisError
from explorer.analyses.evolution import SPREAD, spread
from explorer.analyses.selection import parse_index, parse_indices
from explorer.cli import int_in
from explorer.commands.export_common import add_output_args, named_image, write_figure
from explorer.core.invariance_curves import TRANSFORMS
from explorer.core.paths import show

HELP = {
    "occlusion": "a grey square slid over one image: p(class), a feature's map sum, the top class (Z&F Fig. 7)",
    "evolution": "features' strongest activations and projections at each training snapshot (Z&F Fig. 4)",
    "invariance": "layer distances and class probabilities as one image is shifted, scaled or rotated (Z&F Fig. 5)",
}


def add_parsers(sub: argparse._SubParsersAction, add_common) -> None:
    for kind, text in HELP.items():
        sp = sub.add_parser(kind, help=text, description=text[0].upper() + text[1:] + ".")
        add_common(sp)
        add_output_args(sp, kind)
        if kind in ("occlusion", "invariance"):
            sp.add_argument("--image", default="0", help="dataset index of the image (default: %(default)s)")
            sp.add_argument("--fill", type=float, default=0.5, help="grey of uncovered pixels, 0..1 (default: 0.5)")
        if kind == "occlusion":
            sp.add_argument("--layer", default=None, help="a layer of the model (default: its last)")
            sp.add_argument("--feature", default="0", help="the feature whose map is summed (default: %(default)s)")
            sp.add_argument(
                "--size",
                type=int_in(1, 1024),
                default=None,
                help="side of the square in pixels (default: a quarter of the input's side, 8 at 32 px, 56 at 224)",
            )
            sp.add_argument(
                "--stride",
                type=int_in(1, 1024),
                default=None,
                help="step between positions (default: a sixteenth of the input's side, 2 at 32 px, 14 at 224)",
            )
            sp.add_argument(
                "--class", dest="target", type=int_in(0, 99_999), default=None, help="class mapped (default: the true)"
            )
        if kind == "evolution":
            sp.add_argument("--layer", default=None, help="a layer of the model (default: its last)")
            sp.add_argument("--features", default="0:8", help="indices: N, A:B or N,M,... (default: %(default)s)")
            sp.add_argument(
                "--images", default=None, help=f"the images searched (default: {SPREAD} spread evenly over the split)"
            )
            sp.add_argument("--snapshots", default=None, help="a snapshot file (default: the bundled model's)")
        if kind == "invariance":
            sp.add_argument("--transform", required=True, choices=TRANSFORMS)
            sp.add_argument(
                "--layers", default=None, help="comma-separated layers (default: the model's first and last)"
            )
            sp.add_argument(
                "--values",
                default=None,
                help="comma-separated amounts, e.g. --values=-4,0,4 (default: depends on the transform)",
            )


def _values(text: str | None) -> tuple[float, ...]:
    if text is None:
        return ()
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise AnalysisError(f"--values {text}: use comma-separated numbers") from None
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise AnalysisError(f"--values {text}: {bad[0]} is not a finite number")
    return values


def build_request(args: argparse.Namespace, model, dataset):
    """The request the window would build for the same choices (names checked after the model is loaded)."""
    from explorer.analyses.evolution import EvolutionRequest
    from explorer.analyses.invariance import InvarianceRequest
    from explorer.analyses.occlusion import OcclusionRequest, default_square
    from explorer.core.graph import model_graph
    from explorer.core.model_meta import model_info

    graph = model_graph(model)
    names = [lay.name for lay in graph.layers]
    if args.kind != "invariance" and args.layer is None:
        args.layer = names[-1]
    if args.kind == "invariance" and args.layers is None:
        args.layers = ",".join(dict.fromkeys([names[0], names[-1]]))
    layers = [args.layer] if args.kind != "invariance" else [s.strip() for s in args.layers.split(",") if s.strip()]
    for layer in layers:
        try:
            graph.layer(layer)
        except ValueError as exc:
            raise AnalysisError(f"--layer{'s' if args.kind == 'invariance' else ''} {layer}: {exc}") from None
    if args.kind == "occlusion":
        channels = graph.layer(args.layer).channels
        feature = parse_index(args.feature, channels, "--feature")
        image = named_image(dataset, args.image)
        square, stride = default_square(model_info(model).input_size)
        size, stride = args.size or square, args.stride or stride
        return OcclusionRequest(image, args.layer, feature, size, stride, args.fill, args.target)
    if args.kind == "evolution":
        channels = graph.layer(args.layer).channels
        features = parse_indices(args.features, channels, "--features")
        images = parse_indices(args.images, len(dataset), "--images") if args.images else spread(len(dataset))
        return EvolutionRequest(args.layer, features, images, args.snapshots)
    image = named_image(dataset, args.image)
    return InvarianceRequest(image, args.transform, tuple(layers), _values(args.values), args.fill)


def run(args: argparse.Namespace, load_from_args, open_data) -> int:
    """The figure of `args.kind`; --out was checked by export.main, and `open_data` guards the data set's files."""
    if not 0.0 <= getattr(args, "fill", 0.5) <= 1.0:
        raise AnalysisError(f"--fill {args.fill}: must be between 0 and 1")

    from explorer.analyses.names import model_label

    model, _device = load_from_args(args)
    ds = open_data(args.data, args.split, args.download, model)
    request = build_request(args, model, ds)
    data = request.compute(model, ds, model_name=model_label(model))
    path = write_figure(args, data)
    sys.stdout.write(f"wrote {show(path)}: {args.kind}, {data.title}\n")
    return 0
