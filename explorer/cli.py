"""The `cnn-explorer` command: opens the window, or runs a subcommand (train, evaluate, ...).

A bad argument or file gives one line, `error: <what and which file>`, on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from explorer.core.device import DEVICE_CHOICES
from explorer.core.errors import ExplorerError
from explorer.core.paths import same_file_as, show
from explorer.core.whole_numbers import whole_number

EXIT_USAGE = 2


class ParserExit(SystemExit):
    """The command line's own exit (--help, a usage error): every other SystemExit during a command is foreign."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {show(message)}\n")
        raise ParserExit(EXIT_USAGE)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            sys.stderr.write(message)
        raise ParserExit(status)


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse `type=` for a whole number in low..high (no upper bound when high is None)."""

    def parse(text: str) -> int:
        try:
            value = whole_number(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: must be {bound}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in its message
    return parse


positive_int = int_in(1)


def model_inputs(args: argparse.Namespace) -> dict[str, str]:
    """Every file a command's model is read from, named as the user knows it: --checkpoint, --classes, a
    model card and each file the card names, a model file, or the bundled weights."""
    inputs = {}
    spec = getattr(args, "model", None) or "seednet"
    checkpoint = getattr(args, "checkpoint", None)
    classes = getattr(args, "classes", None)
    if spec.endswith(".toml"):
        inputs["--model"] = spec
        from explorer.core.model_card import read_card

        card = read_card(spec)
        for key in ("checkpoint", "classes_file"):
            if isinstance(card.get(key), str):
                inputs[f"the card's {key}"] = card[key]
        spec = card["model"]
    if ".py:" in spec:
        inputs["the model file"] = spec.rsplit(":", 1)[0]
    if checkpoint is not None:
        inputs["--checkpoint"] = checkpoint
    if classes is not None:
        inputs["--classes"] = classes
    from explorer.core.zoo import BUNDLED_ARCHITECTURES

    if spec in BUNDLED_ARCHITECTURES and checkpoint is None and "the card's checkpoint" not in inputs:
        from explorer.core.loading import bundled_snapshots, bundled_weights

        inputs["the bundled model"] = str(bundled_weights(spec))
        inputs["the bundled snapshots"] = str(bundled_snapshots(spec))
    return inputs


def data_files(source: str, ds) -> list[str]:
    """The files an opened image set reads: its image files, or the CIFAR-10 batch files behind it."""
    if ds.paths is not None:
        return list(ds.paths)
    from explorer.core.datasets import cache_dir

    folders = (
        [cache_dir() / "cifar-10-batches-py"]
        if source == "cifar10"
        else [Path(source), Path(source) / "cifar-10-batches-py"]
    )
    return [str(f / name) for f in folders if f.is_dir() for name in sorted(os.listdir(f))]


def refuse_data_inputs(out: Path, source: str, ds, flag: str = "--out") -> None:
    """ExplorerError when `out` is one of the files of the data set (checked after listing, before decoding)."""
    same = same_file_as(out, data_files(source, ds))
    if same is not None:
        raise ExplorerError(
            f"{flag} {show(out)}: is the same file as {show(same)}, read from --data {show(source)}; refusing to overwrite it"
        )


MODEL_HELP = "seednet, zfnet-cifar, torchvision:NAME, timm:NAME, FILE.py:CLASS, package.module:CLASS or CARD.toml (default: seednet)"


def rgb_triple(text: str) -> tuple[float, float, float]:
    """argparse type: R,G,B as three numbers."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected three numbers R,G,B") from None
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: expected three numbers R,G,B")
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(
            f"{text!r}: {next(v for v in values if not math.isfinite(v))} is not a finite number"
        )
    return values  # type: ignore[return-value]


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model, --checkpoint and the settings a model may need: the same on every subcommand and the window."""
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--checkpoint", default=None, help="a state dict for the model (default: the bundled weights)")
    p.add_argument(
        "--weights",
        default=None,
        help="a torchvision weight set (IMAGENET1K_V1, ...; default: the builder's DEFAULT), or random",
    )
    p.add_argument("--num-classes", type=int_in(1, 100_000), default=None, help="classes of a model's head")
    p.add_argument(
        "--input-size", "--crop", type=int_in(8, 1024), default=None, help="the model's input size (the centre crop)"
    )
    p.add_argument("--resize", type=int_in(8, 1024), default=None, help="a photo's shorter side before the crop")
    p.add_argument("--classes", default=None, help="a file with the model's class names, one a line")
    p.add_argument("--mean", type=rgb_triple, default=None, help="R,G,B the model's input is normalised with")
    p.add_argument("--std", type=rgb_triple, default=None, help="R,G,B (with --mean)")


def add_common(p: argparse.ArgumentParser, *, data_default: str | None = "cifar10") -> None:
    p.add_argument("--data", default=data_default, help="cifar10, probes, or a folder of images (default: %(default)s)")
    p.add_argument("--split", default="test", choices=("train", "test"), help="(default: %(default)s)")
    add_model_args(p)
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="(default: %(default)s)")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 if it is not in the cache yet")


def _gui_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="cnn-explorer",
        description="See what a CNN has learned. Subcommands: " + ", ".join(sorted(SUBCOMMANDS)),
    )
    p.add_argument("--data", default=None, help="cifar10, probes, or a folder of images (default: the last one used)")
    p.add_argument("--split", default=None, choices=("train", "test"))
    add_model_args(p)
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    return p


def _cmd_gui(argv: Sequence[str]) -> int:
    args = _gui_parser().parse_args(argv)
    from explorer.gui.app import run_app

    return run_app(args)


def load_from_args(args: argparse.Namespace):
    """(model, device) from --model, --checkpoint, --num-classes, --input-size, --mean, --std and --device."""
    from explorer.core.device import resolve_device
    from explorer.core.loading import load_model

    device = resolve_device(args.device)
    model = load_model(
        getattr(args, "model", None) or "seednet",
        args.checkpoint,
        device,
        num_classes=getattr(args, "num_classes", None),
        input_size=getattr(args, "input_size", None),
        mean=getattr(args, "mean", None),
        std=getattr(args, "std", None),
        weights=getattr(args, "weights", None),
        resize=getattr(args, "resize", None),
        classes=getattr(args, "classes", None),
    )
    from explorer.core.graph import require_layers

    require_layers(model, getattr(args, "model", None) or "seednet")
    return model, device


def check_layer_names(model, names: Sequence[str], flag: str) -> list[str]:
    """The names, each checked to be a layer of `model`; an error listing the model's layers otherwise."""
    from explorer.core.graph import layers

    valid = [lay.name for lay in layers(model)]
    bad = [n for n in names if n not in valid]
    if bad or not names:
        shown = ", ".join(valid[:30]) + (f" ... ({len(valid)} in all)" if len(valid) > 30 else "")
        name = show(bad[0]) if bad else "(none)"
        raise ExplorerError(f"{flag} {name}: not a layer of this model (its layers: {shown})")
    return list(names)


def open_from_args(source: str, split: str, download: bool, model=None):
    """The data set, its images prepared as `model` takes them (its input size and preprocessing)."""
    from explorer.core.datasets import open_dataset

    prepare = None
    if model is not None:
        from explorer.core.preprocessing import preprocessing_of

        prepare = preprocessing_of(model)
    ds = open_dataset(source, split, download=download, prepare=prepare)
    warn_skipped(ds)
    if model is not None:
        adopt_folder_classes(model, ds)
    return ds


def adopt_folder_classes(model, ds) -> None:
    """A model whose classes nobody named takes a data set's class folder names when their count matches."""
    from dataclasses import replace

    from explorer.core.model_meta import has_class_names, model_info

    info = model_info(model)
    if not has_class_names(info) and ds.classes and len(ds.classes) == len(info.classes):
        model.explorer_info = replace(info, classes=tuple(ds.classes))


def progress_line(prefix: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{prefix} {done}/{total} ({100 * done // max(total, 1)}%)" + end)
        sys.stderr.flush()

    return show


MAX_LISTED = 5


def warn_skipped(ds) -> None:
    """Name what the folder walk left out (unreadable folders, FIFOs and other non-files) on stderr."""
    skipped = getattr(ds, "skipped", ())
    if not skipped:
        return
    lines = [f"warning: {len(skipped)} folder(s) or file(s) were left out:"]
    lines += [f"  {show(reason)}" for _, reason in skipped[:MAX_LISTED]]
    if len(skipped) > MAX_LISTED:
        lines.append(f"  ... and {len(skipped) - MAX_LISTED} more")
    sys.stderr.write("\n".join(lines) + "\n")


def warn_unreadable(ds, fate: str = "were skipped") -> None:
    """Name the images that could not be decoded on stderr: the first few, then how many more."""
    if not ds.failures:
        return
    n = len(ds.failures)
    lines = [f"warning: {n} image(s) could not be read and {fate}:"]
    lines += [f"  {show(ds.failures[i])}" for i in sorted(ds.failures)[:MAX_LISTED]]
    if n > MAX_LISTED:
        lines.append(f"  ... and {n - MAX_LISTED} more")
    sys.stderr.write("\n".join(lines) + "\n")


def readable(ds, pixels, source: str, labels=None):
    """(pixels, labels) of the images that decoded (`labels`: the set's own when None); an error naming
    `source` when none did."""
    import numpy as np

    labels = ds.labels if labels is None else labels
    warn_unreadable(ds)
    if not ds.failures:
        return pixels, labels
    keep = np.ones(len(ds), dtype=bool)
    keep[list(ds.failures)] = False
    if not keep.any():
        raise ExplorerError(f"{source}: none of its {len(ds)} images could be read")
    return pixels[keep], labels[keep]


def save_or_fail(save: Callable[[], None], path: Path) -> None:
    """Run an atomic save; a failed write becomes one error line naming the file and the reason."""
    try:
        save()
    except OSError as exc:
        raise ExplorerError(f"{show(path)}: cannot write ({exc.strerror or exc})") from None


def _lazy(module: str) -> Callable[[Sequence[str]], int]:
    """A subcommand living in explorer.commands.<module>, imported only when run."""

    def run(argv: Sequence[str]) -> int:
        import importlib

        return importlib.import_module(f"explorer.commands.{module}").main(argv)

    return run


SUBCOMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "train": _lazy("train"),
    "evaluate": _lazy("evaluate"),
    "scan": _lazy("scan"),
    "export": _lazy("export"),
    "bench": _lazy("bench"),
    "layers": _lazy("layers"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a name no encoding can show is escaped, never a crash
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    command = SUBCOMMANDS.get(argv[0]) if argv else None
    try:
        if command is not None:
            # Not for the window: a Python handler would wait for the Qt event loop to run Python code.
            from explorer.core.atomic import clean_up_on_sigterm

            clean_up_on_sigterm()
            return command(argv[1:])
        return _cmd_gui(argv)
    except ExplorerError as exc:
        sys.stderr.write(f"error: {show(exc)}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except ParserExit:
        raise
    except SystemExit as exc:  # a model's own code (its forward, say) asked to end the process: not its to end
        sys.stderr.write(
            f"error: the model's code called sys.exit({exc.code!r}) while the command ran; the command stopped "
            "there and wrote nothing\n"
        )
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
