"""What every `cnn-explorer export KIND` shares, so that no kind can leave a check out.

- `add_output_args`: --out (default: KIND.png in the current folder) and --dpi, the same on every kind.
- `check_figure_output`: before any work, the output is checked against every file the command reads
  (the model card, the checkpoint and class file it names, the model's .py file, --checkpoint,
  --classes, --snapshots, the bundled model) and a default name that exists already is refused.
- `data_opener`: the only way a kind opens --data; an --out that is one of its images is refused
  after the listing, before any image is decoded or any work is done.
- `named_image` / `named_images`: what --image names, decoded now; one that cannot be decoded is an
  error naming the file, never a black picture in the figure.
- `write_figure`: the one place a kind's figure is written.

`explorer.commands.export.main` checks the output for every kind before it hands the kind its
arguments, and hands over the guarded opener: a kind gets its data set through nothing else.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

from explorer.analyses.errors import AnalysisError
from explorer.analyses.selection import parse_index, parse_indices
from explorer.cli import int_in, model_inputs, refuse_data_inputs
from explorer.core.errors import DataError, ExplorerError
from explorer.core.paths import OutputError, check_output, show
from explorer.render.files import DEFAULT_DPI, DPI_RANGE, check_target, figure_format

DEFAULT_FORMAT = ".png"


def default_out(kind: str) -> str:
    """The file an export writes when no --out is given: KIND.png in the current folder."""
    return f"{kind}{DEFAULT_FORMAT}"


def add_output_args(sp: argparse.ArgumentParser, kind: str) -> None:
    """--out and --dpi, the same for every kind."""
    sp.add_argument(
        "--out",
        default=None,
        help=f"the file to write: FILE.png, FILE.svg or FILE.pdf (default: {default_out(kind)} in the current "
        "folder; when that file exists already it is left as it is and the command stops: give --out to choose "
        "another name, or name it with --out to replace it)",
    )
    sp.add_argument(
        "--dpi",
        type=int_in(*DPI_RANGE),
        default=DEFAULT_DPI,
        help=f"resolution of PNG output, {DPI_RANGE[0]} to {DPI_RANGE[1]} (default: %(default)s)",
    )


def _refuse_existing_default(args: argparse.Namespace) -> None:
    if getattr(args, "out_is_default", False) and os.path.lexists(args.out):
        raise OutputError(
            f"{show(args.out)}: exists already; it is the default --out of `export {args.kind}`, which never "
            f"replaces a file nobody named (give --out {show(args.out)} to replace it, or --out another name)"
        )


def check_figure_output(args: argparse.Namespace) -> Path:
    """The output checked before any work (OutputError / WriteError otherwise): a figure format, a folder that
    exists, a name the file system takes, never an input of the command nor a default name that exists."""
    args.out_is_default = args.out is None
    if args.out_is_default:
        args.out = default_out(args.kind)
    _refuse_existing_default(args)
    figure_format(args.out)
    inputs: dict[str, str | os.PathLike[str] | None] = dict(model_inputs(args))
    if getattr(args, "snapshots", None):
        inputs["--snapshots"] = args.snapshots
    out = check_output(args.out, inputs)
    check_target(out, args.dpi)
    return out


Opener = Callable[..., object]


def data_opener(out: Path, open_from_args: Opener) -> Opener:
    """open_from_args, refusing an --out that is one of the data set's files (after listing, before decoding)."""

    def open_data(source: str, split: str, download: bool, model=None):
        ds = open_from_args(source, split, download, model)
        refuse_data_inputs(out, source, ds)
        return ds

    return open_data


def refuse_data_files(out: Path, source: str, split: str) -> None:
    """For a kind that reads no images (maximize): its --out must still not be one of --data's files."""
    if source == "probes":
        return
    if source == "cifar10":
        ds: object = SimpleNamespace(paths=None)  # the batch files in the cache, listed without loading them
    else:
        from explorer.core.datasets import open_dataset

        try:
            ds = open_dataset(source, split)
        except ExplorerError:
            return  # nothing this kind would read, and nothing there to protect
    refuse_data_inputs(out, source, ds)


def _refuse_undecodable(ds, indices: Sequence[int], flag: str, text: str) -> None:
    """Decode `indices` now; DataError naming the first file that cannot be decoded."""
    ds.images(list(indices))
    bad = [i for i in indices if i in ds.failures]
    if bad:
        raise DataError(f"{flag} {text}: {show(ds.failures[bad[0]])}")  # the failure starts with the file's path


def named_image(ds, text: str, flag: str = "--image") -> int:
    """The one image `text` names, decoded; an error naming its file when it cannot be decoded."""
    index = parse_index(text, len(ds), flag)
    _refuse_undecodable(ds, [index], flag, text)
    return index


def named_images(ds, text: str, limit: int, flag: str = "--image", what: str = "images") -> tuple[int, ...]:
    """The images `text` names (at most `limit`), decoded; an error naming a file that cannot be decoded."""
    images = parse_indices(text, len(ds), flag)
    if len(images) > limit:
        raise AnalysisError(
            f"{flag} {text}: {len(images):,} {what}, more than the {limit} one run takes; choose at most {limit}, "
            "e.g. every STEP-th with A:B:STEP"
        )
    _refuse_undecodable(ds, images, flag, text)
    return images


def write_figure(args: argparse.Namespace, figure) -> Path:
    """Write `figure` to --out (atomically: explorer.render.write), once more refusing a default name that
    appeared while the figure was computed."""
    from explorer.render import write

    _refuse_existing_default(args)
    return write(figure, args.out, dpi=args.dpi)
