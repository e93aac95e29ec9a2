"""Top images per feature: a streaming scan of a dataset, cached on disk.

For every feature of each chosen layer, the k images with the highest activation, each image
counted once per feature at the position of its maximum; ties go to the lower dataset index.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import stat
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from explorer.core.atomic import atomic_write
from explorer.core.errors import ExplorerError
from explorer.core.graph import model_graph
from explorer.core.images import ImageSet, to_tensor
from explorer.core.projection import _first_param, layer_outputs
from explorer.core.receptive import layer_box

FIELDS = ("indices", "values", "positions", "boxes")


class ScanCancelled(ExplorerError):
    """The scan was stopped before it finished; nothing was cached."""


@dataclass(frozen=True)
class TopK:
    """The k best images of every feature of one layer, each row sorted by value, highest first."""

    indices: np.ndarray  # [C, k] int64 dataset indices
    values: np.ndarray  # [C, k] float32 maximum activation
    positions: np.ndarray  # [C, k, 2] int64 (row, col) in the feature map
    boxes: np.ndarray  # [C, k, 4] int64 (top, left, bottom, right) in image pixels, exclusive ends


def _merge(best: tuple[torch.Tensor, torch.Tensor, torch.Tensor], a: torch.Tensor, ids: torch.Tensor, k: int):
    """The running best (values, indices, positions, each [C, k']) merged with a batch's maps `a` [B, C, h*w].

    Only the maxima are taken of every map, and the position of the maximum (the first, the top-left one on
    ties) only where a map enters the top k: arg-max over every map took a fifth of a SeedNet scan. Once k
    images are in, a batch none of whose maxima beats a feature's k-th best changes nothing (its images come
    later in the order, so a tie stays out). The running best come first and hold lower dataset indices than
    the batch, and the batch is in index order, so a stable sort on -value orders ties by dataset index.
    """
    best_v, best_i, best_p = best
    v = a.amax(2).T.float()  # [C, B]
    old = best_v.shape[1]
    if old == k and not bool((v > best_v[:, -1:]).any()):
        return best
    all_v = torch.cat([best_v, v], 1)
    order = torch.sort(-all_v, dim=1, stable=True).indices[:, :k]
    new = order >= old
    channel, _ = new.nonzero(as_tuple=True)
    rows = order[new] - old
    positions = torch.zeros_like(order)
    if 4 * len(rows) > a.shape[0] * a.shape[1]:
        positions[new] = a.max(2).indices[rows, channel]  # most maps enter (the first batches): no copy of them
    elif len(rows):
        positions[new] = a[rows, channel].max(1).indices
    if old:
        positions = torch.where(new, positions, best_p.gather(1, order.clamp(max=old - 1)))
    all_i = torch.cat([best_i, ids.expand(v.shape[0], -1)], 1)
    return all_v.gather(1, order), all_i.gather(1, order), positions


# 256 CIFAR-size images: the pixels of one CPU batch (SeedNet's scan batch, 5 images at 224 px).
CPU_PIXELS_PER_BATCH = 256 * 32 * 32
# What one CPU batch's forward pass may hold (see _pass_bytes).
CPU_ACTIVATION_BYTES = 192 * 2**20


def _pass_bytes(graph, layers: Sequence[str]) -> int:
    """Bytes a scan's forward pass holds for one image (float32): the maps of the layers scanned, kept to the end
    of the pass, and a few of the other values, each dropped after its last reader (ModelGraph.run's targets_only)."""
    from explorer.core.graph import _ancestors

    targets = [graph.by_name[graph.layer(name).node] for name in layers]
    sizes = {}
    for node in _ancestors(targets):
        shape = graph.shapes.get(node)
        sizes[node] = int(np.prod(shape[1:])) * 4 if shape is not None and len(shape) > 1 else 0
    kept = sum(sizes[t] for t in targets)
    passing = max((v for n, v in sizes.items() if n not in targets), default=0)
    return kept + 4 * passing


@torch.no_grad()
def scan_top_k(
    model: nn.Module,
    dataset: ImageSet,
    layers: Sequence[str] = ("conv1", "conv2"),
    k: int = 9,
    *,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    notice: Callable[[str], None] = lambda _msg: None,
    indices: Sequence[int] | np.ndarray | None = None,
    merge_aside: bool | None = None,
) -> dict[str, TopK]:
    """Scan `dataset` in batches (never holding all activations) on the model's device.

    `merge_aside`: merge each batch into the top k on a thread of its own while the next batch's forward pass
    runs; False merges in turn, leaving the machine's other core to a window the user works in. By default it
    merges aside on the CPU where a batch holds fewer than 64 images (photos: a few images a batch, every
    layer's merge an eighth of ResNet-18's scan: 26 against 31 images/s) and in turn otherwise (SeedNet's
    256-image batches merge in a few percent of their time: six turns each way measured the same).

    `indices` (ascending) scans only those images, e.g. one rank's share; results keep dataset
    indices, and `progress` counts within the share. Out of GPU memory, the batch is halved and
    retried (`notice` tells why); `should_stop` is checked between batches and stops the scan with
    ScanCancelled.
    """
    graph = model_graph(model)
    infos = {layer: graph.layer(layer) for layer in layers}
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    order = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(order) > 1 and (np.diff(order) <= 0).any():
        raise ValueError("indices must be strictly ascending (ties go to the lower dataset index)")
    n = len(order)
    k_eff = min(k, n)
    param = _first_param(model)
    device = param.device
    if device.type == "cpu" and len(dataset):
        # A batch's activations grow with the picture's area: at 224 px, 256 images would hold gigabytes
        # on the way up. On the CPU a few images a batch run as fast per image as many.
        batch_size = max(1, min(batch_size, CPU_PIXELS_PER_BATCH // (int(dataset.size) ** 2)))
        # And by what a pass holds (VGG-16 at 224 px about 100 MB an image, ResNet-50's 49 layers 50 MB).
        batch_size = max(1, min(batch_size, CPU_ACTIVATION_BYTES // max(1, _pass_bytes(graph, layers))))
    if merge_aside is None:
        merge_aside = device.type == "cpu" and batch_size < 64
    sizes: dict[str, tuple[int, int]] = {}
    best: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for layer in layers:
        c = infos[layer].channels
        best[layer] = (
            torch.full((c, 0), -torch.inf, device=device),
            torch.zeros((c, 0), dtype=torch.long, device=device),
            torch.zeros((c, 0), dtype=torch.long, device=device),
        )

    def merge(maps: dict[str, torch.Tensor], ids: torch.Tensor) -> None:
        for layer in layers:
            sizes[layer] = (maps[layer].shape[2], maps[layer].shape[3])
            best[layer] = _merge(best[layer], maps[layer].flatten(2), ids, k_eff)

    # A second thread decodes the next batch while this one computes (Pillow's decoder releases the GIL), and a
    # third may merge a batch's maxima into the top k while the next batch's forward pass runs (`merge_aside`).
    with (
        ThreadPoolExecutor(1, thread_name_prefix="scan-decode") as pool,
        ThreadPoolExecutor(1, thread_name_prefix="scan-merge") as merger,
    ):
        ahead: tuple[int, int, Future[np.ndarray]] | None = None
        merging: Future[None] | None = None
        start = 0
        while start < n:
            if should_stop():
                raise ScanCancelled("scan cancelled")
            stop = min(n, start + batch_size)
            if ahead is not None and ahead[:2] == (start, stop):
                pixels = ahead[2].result()
            else:
                pixels = dataset.images(order[start:stop])
            if stop < n:
                nxt = (stop, min(n, stop + batch_size))
                ahead = (*nxt, pool.submit(dataset.images, order[nxt[0] : nxt[1]]))
            try:
                x = to_tensor(pixels, device).to(param.dtype)
                maps = layer_outputs(model, x, layers)
            except torch.OutOfMemoryError:
                if batch_size == 1:
                    raise
                batch_size //= 2
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                notice(f"out of GPU memory: batch size halved to {batch_size}")
                continue
            ids = torch.from_numpy(order[start:stop]).to(device).expand(1, -1)
            if merging is not None:
                merging.result()  # the batch before is in: its images precede these in the order
            if merge_aside:
                merging = merger.submit(merge, maps, ids)
            else:
                merge(maps, ids)
            del maps
            start = stop
            if progress is not None:
                progress(start, n)
        if merging is not None:
            merging.result()
    out = {}
    for layer in layers:
        values, top_i, flat_pos = (t.cpu().numpy() for t in best[layer])
        width = sizes.get(layer, infos[layer].size)[1]
        positions = np.stack([flat_pos // width, flat_pos % width], axis=-1).astype(np.int64)
        img = dataset.images([0]).shape[1:3] if len(dataset) else (graph.input_size, graph.input_size)
        boxes = np.array(
            [[layer_box(infos[layer], int(r), int(c), img) for r, c in row] for row in positions], dtype=np.int64
        ).reshape(*positions.shape[:2], 4)
        out[layer] = TopK(top_i.astype(np.int64), values.astype(np.float32), positions, boxes)
    return out


def model_fingerprint(model: nn.Module) -> str:
    """A hash of all that changes the model's forward pass: its weights and buffers (the normalisation's
    too), its traced code and module settings (the model's source as it runs), and its preprocessing."""
    from explorer.core.model_meta import model_info

    h = hashlib.sha256()
    tensors = dict(model.state_dict())
    tensors.update({f"buffer:{name}": b for name, b in model.named_buffers()})  # non-persistent ones too
    for name, t in sorted(tensors.items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    h.update(model_graph(model).gm.code.encode())
    h.update(repr(model).encode())
    info = model_info(model)
    h.update(repr((info.input_size, info.resize, info.interpolation, info.mean, info.std)).encode())
    return h.hexdigest()[:20]


# Bump when the entry's layout or meaning changes: older entries are then simply not found.
CACHE_FORMAT = 3
KEY_ENTRY = "meta.cache_key"  # an entry holds its own key: one copied in another's place is not trusted


def cache_key(model: nn.Module, dataset: ImageSet, layers: Sequence[str], k: int) -> str:
    """The entry's name: the model's weights, the images' content (each file's name, size and
    modification time, or the pixels), the layers, k and the cache format."""
    parts = [
        f"format{CACHE_FORMAT}", model_fingerprint(model), dataset.source_key, dataset.content_key(),
        str(len(dataset)), ",".join(layers), str(k),
    ]  # fmt: skip
    return hashlib.sha256("|".join(parts).encode(errors="surrogateescape")).hexdigest()[:32]


class DamagedEntry(ValueError):
    """A cache entry that loads but does not fit the model and images it is meant for."""


def check_entry(
    results: dict[str, TopK],
    layers: Sequence[str],
    k: int,
    n: int,
    channels: dict[str, int],
    map_sizes: dict[str, tuple[int, int]] | None = None,
    image_size: int | None = None,
) -> None:
    """DamagedEntry unless `results` holds exactly `layers`, each [C, min(k, n)] with indices in 0..n-1,
    finite values sorted highest first, positions inside the layer's map (`map_sizes`) and boxes
    non-empty inside the image (`image_size`)."""
    if sorted(results) != sorted(layers):
        raise DamagedEntry(f"layers {sorted(results)}, expected {sorted(layers)}")
    k_eff = min(k, n)
    for layer, top in results.items():
        c = channels[layer]
        shapes = {"indices": (c, k_eff), "values": (c, k_eff), "positions": (c, k_eff, 2), "boxes": (c, k_eff, 4)}
        for f, shape in shapes.items():
            a = getattr(top, f)
            if not isinstance(a, np.ndarray) or a.shape != shape:
                raise DamagedEntry(f"{layer}.{f}: shape {getattr(a, 'shape', None)}, expected {shape}")
            if f == "values" and not np.issubdtype(a.dtype, np.floating):
                raise DamagedEntry(f"{layer}.{f}: dtype {a.dtype}")
            if f != "values" and not np.issubdtype(a.dtype, np.integer):
                raise DamagedEntry(f"{layer}.{f}: dtype {a.dtype}")
        if top.indices.size and (top.indices.min() < 0 or top.indices.max() >= n):
            raise DamagedEntry(f"{layer}.indices: outside 0..{n - 1}")
        if not np.isfinite(top.values).all() or (np.diff(top.values, axis=1) > 0).any():
            raise DamagedEntry(f"{layer}.values: not finite or not sorted")
        if (top.positions < 0).any() or (top.boxes < 0).any():
            raise DamagedEntry(f"{layer}: negative positions or boxes")
        if map_sizes is not None and top.positions.size:
            h, w = map_sizes[layer]
            if top.positions[..., 0].max() >= h or top.positions[..., 1].max() >= w:
                raise DamagedEntry(f"{layer}.positions: outside the layer's {h}x{w} map")
        if image_size is not None and top.boxes.size:
            b = top.boxes
            if b.max() > image_size or (b[..., 2] <= b[..., 0]).any() or (b[..., 3] <= b[..., 1]).any():
                raise DamagedEntry(f"{layer}.boxes: empty, or outside the {image_size}x{image_size} images")


def save_top_k(results: dict[str, TopK], path: str | os.PathLike[str], key: str | None = None) -> None:
    """Write `L.indices`, `L.values`, `L.positions`, `L.boxes` per layer (and the cache `key`) to an .npz, atomically."""
    arrays = {f"{layer}.{f}": getattr(t, f) for layer, t in results.items() for f in FIELDS}
    if key is not None:
        arrays[KEY_ENTRY] = np.array(key)
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def entry_key(path: str | os.PathLike[str]) -> str | None:
    """The key a cache entry was saved under (None when it holds none)."""
    with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
        return str(data[KEY_ENTRY][()]) if KEY_ENTRY in data.files else None


def load_top_k(path: str | os.PathLike[str]) -> dict[str, TopK]:
    """Read a file written by save_top_k (ValueError when it is not a regular file; never blocks on a FIFO)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise DamagedEntry(f"{os.fspath(path)}: not a regular file")
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    # An open file of our own: np.load leaks the one it opens when the archive is damaged.
    with fh, np.load(fh, allow_pickle=False) as data:
        # Only layers' arrays: a scan file also holds meta.* entries (explorer.core.scan_file).
        layers = sorted(key.rsplit(".", 1)[0] for key in data.files if key.endswith(".indices"))
        return {layer: TopK(*(data[f"{layer}.{f}"] for f in FIELDS)) for layer in layers}


def _remove_entry(path: Path) -> None:
    """Remove a damaged entry, whatever it is (a file, a FIFO, a folder left in its place)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass  # then the new entry cannot be saved either; the scan result is still given


def _load_valid(
    path: Path, model: nn.Module, dataset: ImageSet, layers: Sequence[str], k: int, key: str
) -> dict[str, TopK] | None:
    if not os.path.lexists(path):
        return None
    try:
        results = load_top_k(path)
        if entry_key(path) != key:
            raise DamagedEntry(f"{path.name}: saved under another key")
        graph = model_graph(model)
        check_entry(
            results,
            layers,
            k,
            len(dataset),
            {layer: graph.layer(layer).channels for layer in layers},
            {layer: graph.layer(layer).size for layer in layers},
            dataset.size,
        )
        return results
    except (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile):
        _remove_entry(path)  # a damaged entry is rescanned
        return None


def cached_scan(
    model: nn.Module,
    dataset: ImageSet,
    layers: Sequence[str],
    k: int,
    cache_dir: Path,
    **kwargs,
) -> tuple[dict[str, TopK], bool]:
    """scan_top_k through an on-disk cache; returns (results, whether they came from the cache)."""
    key = cache_key(model, dataset, layers, k)
    path = Path(cache_dir) / f"topk-{key}.npz"
    cached = _load_valid(path, model, dataset, layers, k, key)
    if cached is not None:
        return cached, True
    try:
        results = scan_top_k(model, dataset, layers, k, **kwargs)
    except torch.OutOfMemoryError:
        # Even one image at a time does not fit: the CPU does the scan on a copy of the model.
        notice = kwargs.get("notice") or (lambda _msg: None)
        notice("out of GPU memory even at batch size 1: scanning on the CPU")
        cpu_model = copy.deepcopy(model).cpu()
        results = scan_top_k(cpu_model, dataset, layers, k, **{**kwargs, "batch_size": 64})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_top_k(results, path, key)
    except OSError as exc:  # a cache that cannot be written costs a rescan next time, not this result
        notice = kwargs.get("notice") or (lambda _msg: None)
        notice(f"scan not cached: {path.parent}: {exc.strerror or exc}")
    return results, False
