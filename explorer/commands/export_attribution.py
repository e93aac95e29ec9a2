"""`cnn-explorer export cam | sanity`: a class activation map over its image, and Adebayo et al.'s sanity cascade.

Builds the request a view would build and makes the file the same two steps (request.compute,
explorer.render.write), so the same choices give the same bytes.
"""

from __future__ import annotations

import argparse
import sys

from explorer.analyses.errors import AnalysisError
from explorer.analyses.selection import parse_index
from explorer.cli import check_layer_names, int_in, progress_line
from explorer.commands.export_common import add_output_args, named_image, named_images, write_figure
from explorer.core.class_activation import METHODS
from explorer.core.paths import show
from explorer.core.saliency import SALIENCY_METHODS

# A sanity run holds every method's picture of every image at every step of the cascade, and computes the saliency
# of all its images in one batch: its images are bounded, as maximize bounds its features, so that a typed range
# cannot fill the memory. At most 64 images, and at most 16 of a photo model's 224x224 pixels.
MAX_SANITY_IMAGES = 64
MAX_SANITY_PIXELS = 16 * 224 * 224
SEED_RANGE = (0, 2**63 - 1)  # what torch.manual_seed takes, as train's --seed
HELP = {
    "cam": "a class activation map (Grad-CAM and kin) of one layer, over its image",
    "sanity": "cascading randomization (Adebayo et al.): how each saliency method's picture changes as layers go random",
}


def add_parsers(sub: argparse._SubParsersAction, add_common) -> None:
    for kind, text in HELP.items():
        sp = sub.add_parser(kind, help=text, description=text[0].upper() + text[1:] + ".")
        add_common(sp)
        add_output_args(sp, kind)
        if kind == "cam":
            sp.add_argument("--image", default="0", help="dataset index of the image (default: %(default)s)")
            sp.add_argument("--layer", default=None, help="a layer of the model (default: its last)")
            sp.add_argument("--method", default="gradcam", help=f"{', '.join(METHODS)} (default: %(default)s)")
            sp.add_argument("--target", default=None, help="the class index mapped (default: the predicted class)")
        else:
            sp.add_argument(
                "--image",
                default="0",
                help=f"dataset indices: N, N,M,... or A:B; at most {MAX_SANITY_IMAGES} images, and at most "
                f"{MAX_SANITY_PIXELS // 224**2} of 224x224 pixels (default: %(default)s)",
            )
            sp.add_argument(
                "--seed",
                type=int_in(*SEED_RANGE),
                default=0,
                help=f"seed of the re-initialised weights, {SEED_RANGE[0]} to {SEED_RANGE[1]} (default: 0)",
            )
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


def run(args: argparse.Namespace, load_from_args, open_data) -> int:
    """The figure of `args.kind`; --out was checked by export.main, and `open_data` guards the data set's files."""
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

    model, _device = load_from_args(args)
    ds = open_data(args.data, args.split, args.download, model)
    name = model_label(model)
    if args.kind == "cam":
        layer = None if args.layer is None else check_layer_names(model, [args.layer], "--layer")[0]
        image = named_image(ds, args.image)
        target = None
        if args.target is not None:
            from explorer.core.model_meta import model_info

            target = parse_index(args.target, len(model_info(model).classes), "--target")
        cam = CamRequest(layer, image, args.method, target).compute(model, ds, model_name=name)
        summary = f"{cam.method}, {cam.layer}, class {cam.target} ({cam.target_name})"
        path = write_figure(args, cam)
    else:
        by_pixels = max(1, MAX_SANITY_PIXELS // ds.size**2)
        what = "images" if by_pixels >= MAX_SANITY_IMAGES else f"images of {ds.size}x{ds.size} pixels"
        images = named_images(ds, args.image, min(MAX_SANITY_IMAGES, by_pixels), what=what)
        request = SanityRequest(images, args.seed, depth, methods)
        checked = request.compute(model, ds, model_name=name, progress=progress_line("randomizing"))
        r = checked.result
        summary = ", ".join(f"{m} {r.spearman[m][0]:.2f}" for m in r.spearman)
        summary = f"{len(r.layers)} steps; rank correlation after {r.layers[0]}: {summary}"
        path = write_figure(args, checked)
    sys.stdout.write(f"wrote {show(path)}: {args.kind}, {summary}\n")
    return 0
