"""`cnn-explorer export backprop`: one conv input element's delta counted on fingers, as a figure.

Builds the BackpropRequest the window's Backpropagation view builds and makes the file the same
two steps (request.compute, explorer.render.write), so the same state gives the same bytes.
"""

from __future__ import annotations

import argparse
import sys

from explorer.analyses.errors import AnalysisError
from explorer.analyses.selection import parse_index, whole_index
from explorer.cli import model_inputs
from explorer.core.paths import check_output
from explorer.render.files import DEFAULT_DPI, DPI_RANGE, WriteError, check_target

HELP = "one conv input element's delta counted term by term (the seed's rot180), beside autograd"


def add_parser(sub: argparse._SubParsersAction, add_common) -> None:
    sp = sub.add_parser("backprop", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    add_common(sp)
    sp.add_argument("--layer", default="conv2", help="a conv layer of the model, by module name (default: %(default)s)")
    sp.add_argument("--image", default="0", help="dataset index of the image (default: %(default)s)")
    sp.add_argument("--channel", default="0", help="channel of the layer's input (default: %(default)s)")
    sp.add_argument("--position", default="0,0", help="ROW,COL in the layer's input map (default: %(default)s)")
    sp.add_argument("--out-channel", default=None, help="output channel shown (default: the largest |sum|)")
    sp.add_argument("--out", required=True, help="the file to write: FILE.png, FILE.svg or FILE.pdf")
    sp.add_argument("--dpi", type=int, default=DEFAULT_DPI, help="resolution of PNG output (default: %(default)s)")


def parse_position(text: str) -> tuple[int, int]:
    """ "R,C" -> (R, C), or an AnalysisError naming --position."""
    parts = text.split(",")
    if len(parts) != 2:
        raise AnalysisError(f"--position {text}: use ROW,COL (two whole numbers)")
    return whole_index(parts[0].strip(), "--position", text), whole_index(parts[1].strip(), "--position", text)


def run(args: argparse.Namespace, load_from_args, open_from_args) -> int:
    if not DPI_RANGE[0] <= args.dpi <= DPI_RANGE[1]:
        raise WriteError(f"--dpi {args.dpi}: must be between {DPI_RANGE[0]} and {DPI_RANGE[1]}")
    check_target(args.out, args.dpi)
    check_output(args.out, model_inputs(args))
    row, col = parse_position(args.position)
    channel = whole_index(args.channel, "--channel", args.channel)
    out_channel = None if args.out_channel is None else whole_index(args.out_channel, "--out-channel", args.out_channel)

    from explorer.analyses.backprop import BackpropRequest
    from explorer.analyses.names import model_label
    from explorer.render import write

    model, _device = load_from_args(args)
    ds = open_from_args(args.data, args.split, args.download, model)
    image = parse_index(args.image, len(ds), "--image")
    request = BackpropRequest(args.layer, image, channel, row, col, out_channel)
    data = request.compute(model, ds, model_name=model_label(model))
    path = write(data, args.out, dpi=args.dpi)
    e = data.explanation
    sys.stdout.write(
        f"wrote {path}: backprop, {e.layer} input ({e.channel}, {e.row}, {e.col}), {len(e.terms)} terms, "
        f"total {e.total:.6e}, autograd {e.autograd:.6e}\n"
    )
    return 0
