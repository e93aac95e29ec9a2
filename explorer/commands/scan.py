"""`cnn-explorer scan`: the top-k images of every feature, written to an .npz file.

Started by torchrun (RANK, WORLD_SIZE, LOCAL_RANK set, WORLD_SIZE > 1), the same command scans one
share of the images on every rank and rank 0 writes the merged result (explorer.commands.scan_ranks).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from explorer.cli import Parser, add_common, load_from_args, open_from_args, progress_line, warn_unreadable
from explorer.core.errors import ExplorerError
from explorer.core.model import LAYERS


def parse_layers(text: str) -> list[str]:
    layers = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in layers if s not in LAYERS]
    if bad or not layers:
        raise ExplorerError(f"--layers {text}: unknown layer {bad[0] if bad else '(none)'} (use {', '.join(LAYERS)})")
    return layers


def parser() -> Parser:
    p = Parser(prog="cnn-explorer scan", description="Find the k images that excite each feature most.")
    add_common(p)
    p.add_argument("--layers", default="conv1,conv2", help="comma-separated (default: %(default)s)")
    p.add_argument("-k", type=int, default=9, help="images per feature (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--out", required=True, help="the .npz file to write")
    p.add_argument(
        "--rank-timeout",
        type=float,
        default=1800.0,
        help="under torchrun: seconds a rank waits for the others before the job fails (default: %(default)s)",
    )
    return p


def check_args(args) -> tuple[list[str], Path]:
    layers = parse_layers(args.layers)
    if args.k < 1:
        raise ExplorerError(f"-k {args.k}: must be at least 1")
    if args.batch_size < 1:
        raise ExplorerError(f"--batch-size {args.batch_size}: must be at least 1")
    if not args.rank_timeout > 0:
        raise ExplorerError(f"--rank-timeout {args.rank_timeout}: must be positive")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise ExplorerError(f"{out}: folder {out.parent} does not exist")
    return layers, out


def save_or_fail(results, meta, out: Path) -> None:
    from explorer.core.scan_file import save_scan

    try:
        save_scan(results, meta, out)
    except OSError as exc:
        raise ExplorerError(f"{out}: cannot write ({exc.strerror or exc})") from None


def main(argv: Sequence[str]) -> int:
    from explorer.core.distributed_scan import torchrun_env

    env = torchrun_env()
    if env is not None:
        from explorer.commands.scan_ranks import main_rank

        return main_rank(argv, env)
    args = parser().parse_args(argv)
    layers, out = check_args(args)
    from explorer.core.model_info import model_info
    from explorer.core.scan import scan_top_k
    from explorer.core.scan_file import describe

    model, _device = load_from_args(args)
    ds = open_from_args(args.data, args.split, args.download)
    results = scan_top_k(model, ds, layers, args.k, batch_size=args.batch_size, progress=progress_line("scanning"))
    warn_unreadable(ds, "count as black images")
    save_or_fail(results, describe(model, ds, layers, args.k, model_info(model).name), out)
    sys.stdout.write(f"wrote {out}: top {args.k} of {len(ds)} images for {', '.join(layers)}\n")
    return 0
