"""`cnn-explorer train`: train a bundled architecture from scratch, resumable epoch by epoch."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from explorer.cli import Parser, int_in, open_from_args, progress_line, readable, refuse_data_inputs, save_or_fail
from explorer.core.device import DEVICE_CHOICES
from explorer.core.errors import ExplorerError
from explorer.core.paths import check_output, show


def main(argv: Sequence[str]) -> int:
    p = Parser(
        prog="cnn-explorer train", description="Train a bundled architecture; saves the model and conv-layer snapshots."
    )
    p.add_argument("--model", default="seednet", choices=("seednet", "zfnet-cifar"), help="(default: %(default)s)")
    p.add_argument("--data", default="cifar10", help="a source with train and test splits (default: %(default)s)")
    p.add_argument("--epochs", type=int_in(1, 100_000), default=30)
    p.add_argument("--out", required=True, help="where to save the trained state dict")
    p.add_argument("--snapshots", default="1,2,5,10,20", help="epochs whose conv weights are kept (and the last)")
    p.add_argument("--snapshots-out", default=None, help="default: OUT with .snapshots.pt")
    p.add_argument("--resume", action="store_true", help="go on from OUT.train-state.pt, saved after every epoch")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--download", action="store_true")
    p.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0)
    args = p.parse_args(argv)
    try:
        snaps = tuple(int(s) for s in args.snapshots.split(",") if s.strip())
    except ValueError:
        raise ExplorerError(f"--snapshots {show(args.snapshots)}: expected comma-separated epoch numbers") from None
    if any(e < 1 for e in snaps):
        raise ExplorerError(f"--snapshots {show(args.snapshots)}: epoch numbers start at 1")
    out = check_output(args.out)
    snap_out = check_output(args.snapshots_out or out.with_suffix(".snapshots.pt"), flag="--snapshots-out")
    state_out = check_output(out.with_suffix(".train-state.pt"), flag="the training state")
    from explorer.core.paths import check_distinct_outputs

    check_distinct_outputs({"--out": out, "--snapshots-out": snap_out, "the training state": state_out})

    import torch

    from explorer.core.checkpoint import atomic_save, save_model
    from explorer.core.device import resolve_device
    from explorer.core.training import RECIPES, EpochReport, snapshot_tensors, train
    from explorer.core.zoo import build_bundled

    resume = None
    snapshots: dict[str, object] = {}
    if args.resume:
        if not state_out.is_file():
            raise ExplorerError(f"{state_out}: no saved run to resume (it is written after every epoch)")
        resume = torch.load(state_out, map_location="cpu", weights_only=True)
        if snap_out.is_file():
            snapshots = dict(torch.load(snap_out, map_location="cpu", weights_only=True))
        sys.stderr.write(f"resuming after epoch {resume['epoch']} of {resume['epochs']}\n")
    device = resolve_device(args.device)
    train_set = open_from_args(args.data, "train", args.download)
    test_set = open_from_args(args.data, "test", args.download)
    for target, flag in ((out, "--out"), (snap_out, "--snapshots-out"), (state_out, "the training state")):
        for ds in (train_set, test_set):
            refuse_data_inputs(target, args.data, ds, flag)
    train_pixels, train_labels = readable(train_set, train_set.all_pixels(progress_line("decoding train")), args.data)
    test_pixels, test_labels = readable(test_set, test_set.all_pixels(progress_line("decoding test")), args.data)
    t0 = time.perf_counter()

    def on_epoch(r: EpochReport) -> None:
        test = f", test accuracy {100 * r.test_accuracy:.2f}%" if r.test_accuracy is not None else ""
        sys.stderr.write(
            f"\repoch {r.epoch}/{r.epochs}: loss {r.train_loss:.4f}, train accuracy {100 * r.train_accuracy:.2f}%{test} ({r.seconds:.0f} s)\n"
        )

    def on_snapshot(epoch: int, model) -> None:
        for k, v in snapshot_tensors(model).items():
            snapshots[f"epoch{epoch}/{k}"] = v
        save_or_fail(lambda: atomic_save(snapshots, snap_out), snap_out)

    def on_state(state: dict) -> None:
        # The model as it is after every epoch, then all it takes to go on (--resume).
        save_or_fail(lambda: atomic_save(state["model"], out), out)
        save_or_fail(lambda: atomic_save(state, state_out), state_out)

    try:
        model = train(
            train_pixels,
            train_labels,
            epochs=args.epochs,
            model=build_bundled(args.model),
            recipe=RECIPES[args.model],
            device=device,
            test=(test_pixels, test_labels),
            snapshot_epochs=snaps,
            on_snapshot=on_snapshot,
            on_epoch=on_epoch,
            on_batch=progress_line("  batch"),
            on_state=on_state,
            resume=resume,
            seed=args.seed,
        )
    except (ValueError, KeyError, RuntimeError) as exc:
        if resume is None:
            raise
        raise ExplorerError(f"{state_out}: cannot resume from it ({exc})") from None
    save_or_fail(lambda: save_model(model, out), out)
    from explorer.core.training import evaluate

    acc = evaluate(model, test_pixels, test_labels, device)
    minutes = (time.perf_counter() - t0) / 60
    print(
        f"saved {show(out)} and {show(snap_out)}; test accuracy {100 * acc:.2f}% after {args.epochs} epochs ({minutes:.1f} min on {device})"
    )
    return 0
