"""`cnn-explorer layers`: the selectable layers of a model, with feature counts, map sizes and receptive fields."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from explorer.cli import Parser, add_model_args
from explorer.core.device import DEVICE_CHOICES


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="cnn-explorer layers", description="List the layers of a model that the explorer can show.")
    add_model_args(p)
    p.add_argument("--device", default="cpu", choices=DEVICE_CHOICES, help="(default: %(default)s)")
    args = p.parse_args(argv)
    from explorer.cli import load_from_args
    from explorer.core.graph import layers
    from explorer.core.model_meta import model_info

    model, _device = load_from_args(args)
    info = model_info(model)
    photos = "" if info.resize == info.input_size else f" (photos: shorter side to {info.resize}, {info.interpolation})"
    sys.stdout.write(f"{info.name}, input {info.input_size}x{info.input_size}{photos}, {len(info.classes)} classes:\n")
    sys.stdout.write(f"  {'layer':<24} {'features':>8} {'map':>9} {'field':>6}  max-pool below\n")
    for lay in layers(model):
        size = f"{lay.size[0]}x{lay.size[1]}"
        field = "image" if lay.jump == 0 else lay.field  # below an op of unknown geometry: the whole image
        sys.stdout.write(f"  {lay.name:<24} {lay.channels:>8} {size:>9} {field:>6}  {'yes' if lay.pooled else 'no'}\n")
    return 0
