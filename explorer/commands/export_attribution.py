"""`cnn-explorer export cam | sanity`: a class activation map over its image, and Adebayo et al.'s sanity cascade.

Builds the request a view would build and makes the file the same two steps (request.compute,
explorer.render.write), so the same choices give the same bytes.
"""

from __future__ import annotations

import argparse
import sys

from explorer.analyses.errors import AnalysisError
from explorer.analyses.selection import parse_index, parse_indices
from explorer.cli import check_layer_names, model_inputs, progress_line
from explorer.core.class_activation import METHODS
from explorer.core.paths import check_output
from explorer.core.saliency import SALIENCY_METHODS
from explorer.render.files import DEFAULT_DPI, DPI_RANGE, WriteError, check_target

HELP = {
    "cam": "a class activation map (Grad-CAM and kin) of one layer, over its image",
    "sanity": "cascading randomization (Adebayo et al.): how each saliency method's picture changes as layers go random",
}


def add_parsers(sub: argparse._SubParsersAction, add_common) -> None:
    for kind, text in HELP.items():
        sp = sub.add_parser(kind, help=text, description=text[0].upper() + text[1:] + ".")
        add_common(sp)
        sp.add_argument("--out", required=True, help="the file to write: FILE.png, FILE.svg or FILE.pdf")
        sp.add_argument("--dpi", type=int, default=DEFAULT_DPI, help="resolution of PNG output (default: %(default)s)")
        if kind == "cam":
            sp.add_argument("--image", default="0", help="dataset index of the image (default: %(default)s)")
            sp.add_argument("--layer", default=None, help="a layer of the model (default: its last)")
            sp.add_argument("--method", default="gradcam", help=f"{', '.join(METHODS)} (default: %(default)s)")
            sp.add_argument("--target", default=None, help="the class index mapped (default: the predicted class)")
        else:
            sp.add_argument("--image", default="0", help="dataset indices: N, N,M,... or A:B (default: %(default)s)")
            sp.add_argument("--seed", type=int, default=0, help="seed of the re-initialised weights (default: 0)")
            sp.add_argument("--depth", default=None, help="randomize only the top N layers (default: all)")
            sp.add_argument(
                "--methods", default=",".join(SALIENCY_METHODS), help="comma-separated (default: %(default)s)"
            )


def _methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in methods if m not in SALIENCY_METHODS]
    if bad or not methods:
        raise AnalysisError(
            f"--methods {text}: unknown {bad[0] if bad else '(none)'} (use {', '.join(SALIENCY_METHODS)})"
        )
    return methods


def run(args: argparse.Namespace, load_from_args, open_from_args) -> int:
    if not DPI_RANGE[0] <= args.dpi <= DPI_RANGE[1]:
        raise WriteError(f"--dpi {args.dpi}: must be between {DPI_RANGE[0]} and {DPI_RANGE[1]}")
    check_target(args.out, args.dpi)
    check_output(args.out, model_inputs(args))
    if args.kind == "cam" and args.method not in METHODS:
        raise AnalysisError(f"--method {args.method}: unknown (use {', '.join(METHODS)})")
    methods = _methods(args.methods) if args.kind == "sanity" else ()
    depth = None
    if args.kind == "sanity" and args.depth is not None:
        depth = parse_index(args.depth, 1 << 30, "--depth")
        if depth < 1:
            raise AnalysisError(f"--depth {args.depth}: randomize at least one layer")

    from explorer.analyses.cam import CamRequest
    from explorer.analyses.names import model_label
    from explorer.analyses.sanity import SanityRequest
    from explorer.render import write

    model, _device = load_from_args(args)
    ds = open_from_args(args.data, args.split, args.download, model)
    name = model_label(model)
    if args.kind == "cam":
        layer = None if args.layer is None else check_layer_names(model, [args.layer], "--layer")[0]
        image = parse_index(args.image, len(ds), "--image")
        target = None
        if args.target is not None:
            from explorer.core.model_meta import model_info

            target = parse_index(args.target, len(model_info(model).classes), "--target")
        cam = CamRequest(layer, image, args.method, target).compute(model, ds, model_name=name)
        summary = f"{cam.method}, {cam.layer}, class {cam.target} ({cam.target_name})"
        path = write(cam, args.out, dpi=args.dpi)
    else:
        images = parse_indices(args.image, len(ds), "--image")
        request = SanityRequest(images, args.seed, depth, methods)
        checked = request.compute(model, ds, model_name=name, progress=progress_line("randomizing"))
        r = checked.result
        summary = ", ".join(f"{m} {r.spearman[m][0]:.2f}" for m in r.spearman)
        summary = f"{len(r.layers)} steps; rank correlation after {r.layers[0]}: {summary}"
        path = write(checked, args.out, dpi=args.dpi)
    sys.stdout.write(f"wrote {path}: {args.kind}, {summary}\n")
    return 0
