"""`cnn-explorer scan` as one rank of a torchrun job.

Every rank loads the model and opens the data, and the ranks compare what they see before any
scanning; each then scans its share (explorer.core.distributed_scan) and prints
`rank R/W: N images in S s (X images/s)` on stderr; rank 0 shows the job's progress, merges,
and writes --out atomically. Any failure is one `error:` line from rank 0 naming the rank and
why; the other ranks exit quietly with the same status, and no --out is written.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

from explorer.cli import EXIT_USAGE, load_from_args, open_from_args, progress_line, refuse_data_inputs, warn_unreadable
from explorer.commands.scan_options import check_out, parse_layers, parser, save_or_fail
from explorer.core.distributed_scan import RankEnv, RankFailed, RankReport, Ranks, first_failure, scan_share
from explorer.core.errors import ExplorerError
from explorer.core.paths import show


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ExplorerError) else f"{type(exc).__name__}: {exc}"


def main_rank(argv: Sequence[str], env: RankEnv) -> int:
    import torch

    from explorer.core.device import resolve_device

    # Every rank parses the same arguments: rank 0 alone says what is wrong with them.
    quiet = contextlib.redirect_stderr(io.StringIO()) if env.rank else contextlib.nullcontext()
    try:
        with quiet:
            args = parser().parse_args(argv)
        out = check_out(args) if env.rank == 0 else Path(args.out)  # only rank 0 writes
        device = resolve_device(args.device)
    except ExplorerError:
        if env.rank:
            return EXIT_USAGE
        raise
    except SystemExit as exc:  # --help, or argparse's error line
        if env.rank:
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        raise
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(env.local_rank % torch.cuda.device_count())
    try:
        ranks = Ranks(env, args.rank_timeout, cuda)
    except (RuntimeError, ValueError) as exc:
        raise ExplorerError(f"{env.label}: cannot join the other ranks ({exc})") from None
    try:
        return _run(ranks, args, out)
    except RankFailed as exc:
        if env.rank == 0:  # it names the rank and the reason; the others say nothing
            sys.stderr.write(f"error: {exc}\n")
            sys.stderr.flush()
        # torchrun stops every rank once one exits with an error: the line must be out first.
        ranks.barrier()
        return EXIT_USAGE
    finally:
        ranks.close()


def _run(ranks: Ranks, args, out: Path) -> int:
    from explorer.core.model_meta import model_info
    from explorer.core.scan_file import describe

    env = ranks.env
    error = None
    meta = None
    try:
        model, _device = load_from_args(args)
        layers = parse_layers(args.layers, model)
        ds = open_from_args(args.data, args.split, args.download, model)
        if env.rank == 0:
            refuse_data_inputs(out, args.data, ds)
        meta = describe(model, ds, layers, args.k, model_info(model).name)
        files = _files_fingerprint(ds)
    except Exception as exc:  # reported by rank 0, naming this rank
        error, files = _reason(exc), None
    seen = ranks.all_gather((error, meta, _shaping_args(args)))
    why = first_failure([e for e, _, _ in seen], env.world)
    if why:
        raise RankFailed(why)
    for r, (_, _, other_args) in enumerate(seen):
        differ = _first_difference(seen[0][2], other_args)
        if differ is not None:
            flag, first, other = differ
            raise RankFailed(
                f"rank {r}/{env.world}: started with {flag} {other}, rank 0 with {flag} {first} "
                "(every rank needs the same arguments)"
            )
    for r, (_, other, _) in enumerate(seen):
        if other != seen[0][1]:
            raise RankFailed(_differs(r, env.world, seen[0][1], other))
    fingerprints = ranks.all_gather(files)
    for r, other_files in enumerate(fingerprints):
        if other_files != fingerprints[0]:
            raise RankFailed(
                f"rank {r}/{env.world}: its image files differ from rank 0's in name or size under the same folder "
                "(every rank needs the same data: a copy on each node must be the same files)"
            )

    def on_done(report: RankReport) -> None:
        rate = report.count / report.seconds if report.seconds > 0 else 0.0
        sys.stderr.write(f"{env.label}: {report.count} images in {report.seconds:.1f} s ({rate:.1f} images/s)\n")
        sys.stderr.flush()

    progress = progress_line("scanning") if env.rank == 0 else None
    outcome = scan_share(
        ranks, model, ds, layers, args.k, batch_size=args.batch_size, progress=progress, on_done=on_done
    )
    if outcome is None:
        return 0
    results, unreadable = outcome
    warn_unreadable(SimpleNamespace(failures=unreadable), "count as black images")
    save_or_fail(results, meta, out)
    sys.stdout.write(
        f"wrote {show(out)}: top {args.k} of {len(ds)} images for {', '.join(layers)} ({env.world} ranks)\n"
    )
    return 0


# Arguments that may differ between ranks: where a rank waits, runs and (rank 0 alone) writes.
_PER_RANK = ("rank_timeout", "device", "out", "download")


def _files_fingerprint(ds) -> str | None:
    """A digest of every image file's name (relative to the folder) and size: ranks on other nodes may mount the
    folder elsewhere, but must see the same files; None for images that are not files."""
    import hashlib

    paths = getattr(ds, "paths", None)
    if not paths:
        return None
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    digest = hashlib.sha256()
    for p in paths:
        try:
            size = os.stat(p).st_size
        except OSError:
            size = -1
        digest.update(f"{os.path.relpath(p, root)}\0{size}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _shaping_args(args) -> dict[str, object]:
    """Every argument that shapes the scan's result, by flag name."""
    return {
        ("-k" if k == "k" else f"--{k.replace('_', '-')}"): v
        for k, v in sorted(vars(args).items())
        if k not in _PER_RANK
    }


def _first_difference(first: dict, other: dict) -> tuple[str, object, object] | None:
    for flag in sorted(set(first) | set(other)):
        if first.get(flag) != other.get(flag):
            return flag, first.get(flag), other.get(flag)
    return None


def _differs(rank: int, world: int, first, other) -> str:
    if (other.dataset, other.count) != (first.dataset, first.count):
        return (
            f"rank {rank}/{world}: sees {other.count:,} images of {other.dataset}, rank 0 sees "
            f"{first.count:,} of {first.dataset} (every rank needs the same data)"
        )
    return f"rank {rank}/{world}: has other model weights than rank 0 (every rank needs the same model)"
