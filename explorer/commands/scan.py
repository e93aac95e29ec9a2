"""`cnn-explorer scan`: the top-k images of every feature, written to an .npz file.

Started by torchrun (RANK, WORLD_SIZE, LOCAL_RANK set, WORLD_SIZE > 1), the same command scans one
share of the images on every rank and rank 0 writes the merged result (explorer.commands.scan_ranks).
Both parse the same arguments and write the file through explorer.commands.scan_options.
The file records the model's weights fingerprint, the images and the layers (explorer.core.scan_file),
so the window can check that a scan made elsewhere fits what it has open.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from explorer.cli import load_from_args, open_from_args, progress_line, refuse_data_inputs, warn_unreadable
from explorer.commands.scan_options import check_out, parse_layers, parser, save_or_fail
from explorer.core.paths import show


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
