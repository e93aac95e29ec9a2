"""The top-k scan split over the ranks of a torch.distributed job (started by torchrun).

Every rank scans one contiguous share of the dataset (every image exactly once, no padding);
the ranks meet every few batches in a tiny gloo all-reduce (images done, failed, finished), which
gives rank 0 the whole job's progress and lets a failure stop the others within a few batches.
At the end each rank's TopK goes to rank 0, which merges them by (value, dataset index): the same
order a single-process scan gives.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from explorer.core.errors import ExplorerError
from explorer.core.images import ImageSet
from explorer.core.scan import FIELDS, TopK, scan_top_k

SYNC_EVERY = 4  # batches between all-reduces: progress and failures travel this often


class RankFailed(ExplorerError):
    """A rank (this one or another) failed; on rank 0 the message names it and why."""


class RankLost(ExplorerError):
    """The ranks could not talk: one died, hung past the timeout, or the network failed."""


def _gloo_reason(exc: BaseException) -> str:
    """The gist of a gloo error: '[.../pair.cc:561] Connection closed by peer [127.0.0.1]:1234. This is ...'."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)  # the source file and line
    return text.split(". ")[0].rstrip(".")


@dataclass(frozen=True)
class RankEnv:
    rank: int
    world: int
    local_rank: int

    @property
    def label(self) -> str:
        return f"rank {self.rank}/{self.world}"


def torchrun_env(environ: dict[str, str] | None = None) -> RankEnv | None:
    """The rank this process is, when torchrun (or any env:// launcher) started it with WORLD_SIZE > 1."""
    env = os.environ if environ is None else environ
    if not all(name in env for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        return None
    try:
        rank, world, local = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"])
    except ValueError:
        raise ExplorerError(
            f"RANK={env['RANK']!r} WORLD_SIZE={env['WORLD_SIZE']!r} LOCAL_RANK={env['LOCAL_RANK']!r}: not numbers"
        ) from None
    if world > 1 and not (0 <= rank < world and local >= 0):
        raise ExplorerError(
            f"RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local}: a rank must be 0 to WORLD_SIZE - 1 (and LOCAL_RANK "
            "0 or more); start the ranks with torchrun, which numbers them"
        )
    return RankEnv(rank, world, local) if world > 1 else None


def shares(n: int, world: int, block: int = 1) -> list[range]:
    """Contiguous ranges of 0..n-1, one per rank, made of whole blocks; counts differ by at most one block.

    With `block` equal to the batch size every rank's batches are batches of the single-process
    scan, so the arithmetic (and each value) is the same one.
    """
    if world < 1 or block < 1 or n < 0:
        raise ValueError(f"shares({n}, {world}, {block}): need n >= 0, world >= 1, block >= 1")
    blocks = -(-n // block)
    per, extra = divmod(blocks, world)
    out, start = [], 0
    for r in range(world):
        stop = min(n, start + (per + (r < extra)) * block)
        out.append(range(start, stop))
        start = stop
    return out


def share_block(n: int, world: int, batch_size: int) -> int:
    """Whole batches per share when there are enough images for every rank to get one; else single images."""
    return batch_size if n >= world * batch_size else 1


def merge_top_k(parts: Sequence[dict[str, TopK]], k: int) -> dict[str, TopK]:
    """One TopK per layer from the ranks' TopKs: highest value first, equal values by dataset index."""
    out = {}
    for layer in parts[0]:
        cat = {f: np.concatenate([getattr(p[layer], f) for p in parts], axis=1) for f in FIELDS}
        keep = min(k, cat["indices"].shape[1])
        # lexsort's last key is the primary one: -value, then the dataset index.
        order = np.lexsort((cat["indices"], -cat["values"]), axis=-1)[:, :keep]
        picked = {}
        for f in FIELDS:
            arr = cat[f]
            idx = order.reshape(order.shape + (1,) * (arr.ndim - 2))
            picked[f] = np.take_along_axis(arr, idx, axis=1)
        out[layer] = TopK(**picked)
    return out


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ExplorerError) else f"{type(exc).__name__}: {exc}"


class Ranks:
    """This process's place in the job: the gloo group it talks on, and the job's few collectives."""

    def __init__(self, env: RankEnv, timeout_s: float, cuda: bool) -> None:
        self.env = env
        if not dist.is_initialized():
            # The scan itself needs no collective on GPU tensors; NCCL is there for any that would
            # (it connects lazily), and the small lists travel on gloo either way.
            backend = "cpu:gloo,cuda:nccl" if cuda else "gloo"
            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        group = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout_s)) if cuda else None
        assert group is None or isinstance(group, dist.ProcessGroup)  # every rank is in it
        self.group: dist.ProcessGroup | None = group

    def _lost(self, exc: BaseException) -> RankLost:
        return RankLost(
            f"{self.env.label}: lost contact with another rank, which died, hung past --rank-timeout or became "
            f"unreachable ({_gloo_reason(exc)}); torchrun's report names the rank that exited"
        )

    def sync(self, done: int, failed: bool, finished: bool) -> tuple[int, int, int]:
        """(images done, ranks failed, ranks finished) over the job."""
        t = torch.tensor([done, int(failed), int(finished)], dtype=torch.int64)
        try:
            dist.all_reduce(t, group=self.group)
        except RuntimeError as exc:  # gloo's errors, DistBackendError among them
            raise self._lost(exc) from None
        return int(t[0]), int(t[1]), int(t[2])

    def all_gather(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.env.world
        try:
            dist.all_gather_object(out, obj, group=self.group)
        except RuntimeError as exc:
            raise self._lost(exc) from None
        return out

    def gather(self, obj: Any) -> list[Any] | None:
        out: list[Any] | None = [None] * self.env.world if self.env.rank == 0 else None
        try:
            dist.gather_object(obj, out, dst=0, group=self.group)
        except RuntimeError as exc:
            raise self._lost(exc) from None
        return out

    def barrier(self) -> None:
        """Wait for every rank; a rank already gone is no reason to fail again."""
        with contextlib.suppress(RuntimeError):
            dist.barrier(group=self.group)

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def first_failure(reports: Sequence[str | None], world: int) -> str | None:
    """'rank R/W: reason' for the ranks that failed (the others' reports are None), or None."""
    bad = [f"rank {r}/{world}: {why}" for r, why in enumerate(reports) if why]
    return "; ".join(bad) or None


class _PeerFailed(Exception):
    pass


@dataclass(frozen=True)
class RankReport:
    """What a rank sends rank 0 at the end."""

    error: str | None
    results: dict[str, TopK] | None
    failures: dict[int, str]  # unreadable images of this rank's share
    count: int
    seconds: float


def scan_share(
    ranks: Ranks,
    model: nn.Module,
    dataset: ImageSet,
    layers: Sequence[str],
    k: int,
    *,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    on_done: Callable[[RankReport], None] = lambda _r: None,
) -> tuple[dict[str, TopK], dict[int, str]] | None:
    """This rank's share of the scan; on rank 0 the merged results and unreadable images, elsewhere None.

    Raises RankFailed on every rank when any rank failed (on rank 0 naming it and the reason).
    `on_done` gets this rank's report once its share is scanned and every rank has finished.
    """
    env = ranks.env
    n = len(dataset)
    share = shares(n, env.world, share_block(n, env.world, batch_size))[env.rank]
    batches = done = 0

    def on_batch(d: int, _total: int) -> None:
        nonlocal batches, done
        batches, done = batches + 1, d
        if batches % SYNC_EVERY == 0:
            total, failed, _ = ranks.sync(done, False, False)
            if failed:
                raise _PeerFailed
            if progress is not None:
                progress(total, n)

    t0 = time.perf_counter()
    error: str | None = None
    results = None
    try:
        results = scan_top_k(
            model, dataset, layers, k, batch_size=batch_size, progress=on_batch, indices=np.asarray(share)
        )
    except _PeerFailed:
        pass
    except RankLost:
        raise
    except Exception as exc:
        error = _reason(exc)
    seconds = time.perf_counter() - t0
    # Wait for every rank, taking part in the others' syncs; a failure anywhere ends every share.
    while True:
        total, failed, finished = ranks.sync(done, error is not None, True)
        if finished == env.world:
            break
    failures = {i: why for i, why in dataset.failures.items()}
    report = RankReport(error, results if not failed else None, failures, done, seconds)
    if not failed:
        if progress is not None:
            progress(total, n)
        on_done(report)
    reports = ranks.gather(report)
    if reports is None:  # not rank 0
        if failed:
            raise RankFailed(f"{env.label}: stopped, another rank failed")
        return None
    why = first_failure([r.error for r in reports], env.world)
    if why or failed:
        raise RankFailed(why or f"{env.label}: stopped, another rank failed")
    merged = merge_top_k([r.results for r in reports if r.results is not None], k)
    unreadable: dict[int, str] = {}
    for r in reports:
        unreadable.update(r.failures)
    return merged, unreadable
