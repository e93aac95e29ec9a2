"""Scan result files (`cnn-explorer scan --out`): the TopK arrays plus what they were made from.

The file is the .npz of `save_top_k` with one more entry, `meta.json`: the model's weight
fingerprint, the dataset's key and image count, the layers and k. A window opening the file
shows it only when these match the model and images it has open, and says why not otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from torch import nn

from explorer.core.atomic import atomic_write
from explorer.core.datasets import common_path
from explorer.core.errors import ExplorerError
from explorer.core.images import ImageSet
from explorer.core.scan import FIELDS, DamagedEntry, TopK, check_entry, load_top_k, model_fingerprint

META_KEY = "meta.json"
FORMAT = 1


class ScanFileError(ExplorerError):
    """A scan file that cannot be read, or that was made from another model or other images."""


@dataclass(frozen=True)
class ScanMeta:
    model: str  # model_fingerprint: weights, traced code, preprocessing and normalisation
    data: str  # data_key: the same images wherever they are stored
    count: int  # images scanned
    layers: tuple[str, ...]
    k: int
    model_name: str = ""
    dataset_name: str = ""
    dataset: str = ""  # ImageSet.source_key where it was made
    format: int = FORMAT


def data_key(dataset: ImageSet) -> str:
    """The images, independent of the machine: each file's path below the folder the files share and
    its label (a cluster's /data/imagenet and a laptop's ~/imagenet agree), or the pixels themselves.
    Unlike the cache's content key it holds no sizes, times or inodes, which differ between copies."""
    h = hashlib.sha256()
    if dataset.paths is None:
        return dataset.content_key()
    root = common_path(dataset.paths)
    skip = len(root) if len(dataset.paths) > 1 else len(os.path.dirname(os.path.abspath(dataset.paths[0])))
    for path in dataset.paths:
        h.update(os.path.abspath(path)[skip:].lstrip(os.sep).encode(errors="surrogateescape") + b"\0")
    h.update(np.ascontiguousarray(dataset.labels, dtype=np.int64).tobytes())
    return "files:" + h.hexdigest()[:32]


def describe(model: nn.Module, dataset: ImageSet, layers: Sequence[str], k: int, model_name: str = "") -> ScanMeta:
    """What a scan of `dataset` with `model` is made from, for its file."""
    return ScanMeta(
        model_fingerprint(model),
        data_key(dataset),
        len(dataset),
        tuple(layers),
        k,
        model_name,
        dataset.name,
        dataset.source_key,
    )


def save_scan(results: dict[str, TopK], meta: ScanMeta, path: str | os.PathLike[str]) -> None:
    """Write the arrays and `meta` to an .npz, atomically (the previous file stays until the rename)."""
    arrays: dict[str, Any] = {f"{layer}.{f}": getattr(t, f) for layer, t in results.items() for f in FIELDS}
    arrays[META_KEY] = np.array(json.dumps(asdict(meta)))
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def load_scan(path: str | os.PathLike[str]) -> tuple[dict[str, TopK], ScanMeta | None]:
    """The arrays and the record of what they were made from (None in a file without one)."""
    name = os.fspath(path)
    try:
        results = load_top_k(name)
        with open(name, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            raw = str(data[META_KEY][()]) if META_KEY in data.files else None
    except FileNotFoundError:
        raise ScanFileError(f"{name}: no such file") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ScanFileError(f"{name}: not a scan file ({type(exc).__name__}: {exc})") from None
    if not results:
        raise ScanFileError(f"{name}: not a scan file (no top-k arrays in it)")
    if raw is None:
        return results, None
    try:
        fields = json.loads(raw)
        fields["layers"] = tuple(fields["layers"])
        meta = ScanMeta(**fields)
    except (ValueError, TypeError, KeyError) as exc:
        raise ScanFileError(f"{name}: its record of model and data is damaged ({exc})") from None
    return results, meta


def mismatch(meta: ScanMeta | None, model: nn.Module, dataset: ImageSet, model_layers: Sequence[str]) -> str | None:
    """Why a scan file does not belong to this model and these images, or None when it does."""
    if meta is None:
        return "it has no record of the model and images it was made from (scan it again with `cnn-explorer scan`)"
    if meta.count != len(dataset) or meta.data != data_key(dataset):
        made = f"{meta.dataset_name or meta.dataset} ({meta.count:,} images)"
        return f"it was made from other images: {made}, not the open {dataset.name} ({len(dataset):,} images)"
    unknown = [layer for layer in meta.layers if layer not in model_layers]
    if unknown:
        return f"it was made with another model: layer {unknown[0]} is not one of this model's"
    if meta.model != model_fingerprint(model):
        made = f" ({meta.model_name})" if meta.model_name else ""
        return f"it was made with other model weights{made}"
    return None


def open_for(path: str | os.PathLike[str], model: nn.Module, dataset: ImageSet) -> dict[str, TopK]:
    """A scan file's results when it was made from `model` and `dataset`; else ScanFileError saying why."""
    from explorer.core.graph import model_graph

    name = os.path.basename(os.fspath(path))
    results, meta = load_scan(path)
    graph_layers = {layer.name: layer for layer in model_graph(model).layers}
    why = mismatch(meta, model, dataset, list(graph_layers))
    if why:
        raise ScanFileError(f"{name} is not shown: {why}")
    assert meta is not None
    try:
        check_entry(
            results,
            meta.layers,
            meta.k,
            len(dataset),
            {layer: graph_layers[layer].channels for layer in meta.layers},
            {layer: graph_layers[layer].size for layer in meta.layers},
            dataset.size,
        )
    except DamagedEntry as exc:
        raise ScanFileError(f"{name} is not shown: its arrays are damaged ({exc})") from None
    return results
