"""`cnn-explorer export backprop`: one conv input element's delta counted on fingers, as a figure.

Builds the BackpropRequest the window's Backpropagation view builds and makes the file the same
two steps (request.compute, explorer.render.write), so the same state gives the same bytes.
"""

from __future__ import annotations

import argparse
import sys

from explorer.analyses.errors import AnalysisError
from explorer.analyses.selection import whole_index
from explorer.commands.export_common import add_output_args, named_image, write_figure
from explorer.core.paths import show

HELP = "one conv input element's delta counted term by term (the seed's rot180), beside autograd"


def add_parser(sub: argparse._SubParsersAction, add_common) -> None:
    sp = sub.add_parser("backprop", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    add_common(sp)
    sp.add_argument(
        "--layer", default=None, help="a conv layer of the model, by module name (default: its second, SeedNet's conv2)"
    )
    sp.add_argument("--image", default="0", help="dataset index of the image (default: %(default)s)")
    sp.add_argument("--channel", default="0", help="channel of the layer's input (default: %(default)s)")
    sp.add_argument("--position", default="0,0", help="ROW,COL in the layer's input map (default: %(default)s)")
    sp.add_argument("--out-channel", default=None, help="output channel shown (default: the largest |sum|)")
    add_output_args(sp, "backprop")


def parse_position(text: str) -> tuple[int, int]:
    """ "R,C" -> (R, C), or an AnalysisError naming --position."""
    parts = text.split(",")
    if len(parts) != 2:
        raise AnalysisError(f"--position {text}: use ROW,COL (two whole numbers)")
    return whole_index(parts[0].strip(), "--position", text), whole_index(parts[1].strip(), "--position", text)


def run(args: argparse.Namespace, load_from_args, open_data) -> int:
    """The figure; --out was checked by export.main, and `open_data` guards the data set's files."""
    row, col = parse_position(args.position)
    channel = whole_index(args.channel, "--channel", args.channel)
    out_channel = None if args.out_channel is None else whole_index(args.out_channel, "--out-channel", args.out_channel)

    from explorer.analyses.backprop import BackpropRequest
    from explorer.analyses.names import model_label

    model, _device = load_from_args(args)
    if args.layer is None:
        from explorer.core.delta_terms import conv_layers

        convs = conv_layers(model)
        if not convs:
            raise AnalysisError(f"{args.model or 'seednet'}: has no Conv2d layer to count through")
        args.layer = convs[min(1, len(convs) - 1)]
    ds = open_data(args.data, args.split, args.download, model)
    image = named_image(ds, args.image)
    request = BackpropRequest(args.layer, image, channel, row, col, out_channel)
    data = request.compute(model, ds, model_name=model_label(model))
    path = write_figure(args, data)
    e = data.explanation
    sys.stdout.write(
        f"wrote {show(path)}: backprop, {e.layer} input ({e.channel}, {e.row}, {e.col}), {len(e.terms)} terms, "
        f"total {e.total:.6e}, autograd {e.autograd:.6e}\n"
    )
    return 0
