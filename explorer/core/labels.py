"""A data set's labels as the model's classes: matched by name, never by position alone.

A folder `cat/ dog/ ship/` numbers its classes 0, 1, 2; to a CIFAR-10 model they are 3, 5 and 8.
Names match exactly, or ignoring case, spaces, underscores and hyphens; a name the model gives two
classes matches neither. Folders named only by numbers are the model's classes of those indices. A
model whose classes are unnamed ("class 0" ...) takes the data set's classes by position when the
counts agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from torch import nn

from explorer.core.images import ImageSet
from explorer.core.model_meta import has_class_names, model_info


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


AMBIGUOUS = -2  # a name the model gives two classes (ImageNet's "crane", the bird and the machine)


def class_map(model_classes: Sequence[str], data_classes: Sequence[str], named: bool = True) -> np.ndarray:
    """int64 [len(data_classes)]: each data class's index among the model's classes, -1 where it has none.

    A name two of the model's classes share maps to none (-1): either guess would mark some images wrong.
    Folders named by number only (`0/ 1/ ... 999/`) are the model's classes by that index.
    """
    if not named and len(model_classes) == len(data_classes):
        return np.arange(len(data_classes), dtype=np.int64)
    exact: dict[str, int] = {}
    loose: dict[str, int] = {}
    for i, c in enumerate(model_classes):
        exact[c] = AMBIGUOUS if c in exact else i
        k = _key(c)
        loose[k] = AMBIGUOUS if k in loose and loose[k] != i else i
    out = np.array([exact.get(c, loose.get(_key(c), -1)) for c in data_classes], dtype=np.int64)
    if (out == -1).all() and data_classes and all(_index(c, len(model_classes)) is not None for c in data_classes):
        return np.array([_index(c, len(model_classes)) for c in data_classes], dtype=np.int64)
    out[out == AMBIGUOUS] = -1
    return out


def _index(name: str, n: int) -> int | None:
    """The class index a folder named by a number gives (0 to n - 1), else None."""
    text = name.strip()
    return int(text) if text.isdigit() and int(text) < n else None


def model_labels(model: nn.Module, dataset: ImageSet) -> np.ndarray:
    """int64 [N]: each image's true class as an index of the model's classes, -1 where it has none the model knows."""
    info = model_info(model)
    mapping = class_map(info.classes, dataset.classes, has_class_names(info))
    labels = np.asarray(dataset.labels, dtype=np.int64)
    out = np.full(len(labels), -1, dtype=np.int64)
    known = (labels >= 0) & (labels < len(mapping))
    out[known] = mapping[labels[known]]
    return out


def unknown_classes(model: nn.Module, dataset: ImageSet) -> list[str]:
    """The data set's classes (of images it holds) that are not classes of the model."""
    info = model_info(model)
    mapping = class_map(info.classes, dataset.classes, has_class_names(info))
    used = np.unique(dataset.labels[(dataset.labels >= 0) & (dataset.labels < len(mapping))])
    return [dataset.classes[int(i)] for i in used if mapping[int(i)] < 0]


def model_label(model: nn.Module, dataset: ImageSet, index: int) -> int:
    """Image `index`'s true class among the model's classes, or -1."""
    label = int(dataset.labels[index])
    if not 0 <= label < len(dataset.classes):
        return -1
    info = model_info(model)
    return int(class_map(info.classes, dataset.classes, has_class_names(info))[label])
