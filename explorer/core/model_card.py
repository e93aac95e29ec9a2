"""Model cards: a TOML file holding a model's settings once (`model`, `checkpoint`, `weights`, `num_classes`,
`input_size` or `crop`, `resize`, `interpolation`, `mean`, `std`, `classes` or `classes_file`, `name`).

`read_card` reads and checks one, each key for its type and range, with the files it names resolved against
the card's folder; `naming_card` makes every error about a model opened from a card begin with the card and,
where the error is about a value the card gave, the key as the card writes it.
"""

from __future__ import annotations

import contextlib
import math
import os
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path

from explorer.core.errors import ExplorerError, ModelError, first_line
from explorer.core.paths import open_regular, show

CARD_KEYS = {
    "model",
    "checkpoint",
    "weights",
    "num_classes",
    "input_size",
    "crop",
    "resize",
    "interpolation",
    "mean",
    "std",
    "classes",
    "classes_file",
    "name",
}


class Card(dict):
    """A model card's settings, the files it names resolved against the card's folder; `raw`: as written."""

    def __init__(self, values: dict) -> None:
        super().__init__(values)
        self.raw = dict(values)


def read_card(path: str) -> Card:
    """A model card: TOML with `model` and optionally checkpoint (relative to the card), num_classes, input_size, mean, std, classes, name."""
    try:
        with open_regular(path, "a model card", ModelError) as fh:
            card = tomllib.load(fh)
    except FileNotFoundError:
        raise ModelError(f"{show(path)}: no such model card") from None
    except RecursionError:  # tomllib parses nested arrays by recursion: [[[[...]]]] thousands deep
        raise ModelError(f"{show(path)}: not a readable model card (its arrays are nested too deep)") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{show(path)}: not a readable model card ({getattr(exc, 'strerror', None) or first_line(exc)})"
        ) from None
    unknown = sorted(set(card) - CARD_KEYS)
    if unknown:
        raise ModelError(f"{path}: unknown key {unknown[0]!r} (a card may hold {', '.join(sorted(CARD_KEYS))})")
    if not isinstance(card.get("model"), str):
        raise ModelError(
            f'{path}: the card needs a `model = "..."` line (seednet, torchvision:NAME, FILE.py:CLASS, ...)'
        )
    _check_card_types(path, card)
    card = Card(card)
    base = Path(path).parent
    for key in ("checkpoint", "classes_file"):
        if isinstance(card.get(key), str):
            card[key] = os.fspath(base / card[key])
    model = card["model"]
    if ".py:" in model and not os.path.isabs(model.split(":")[0]):
        card["model"] = os.fspath(base / model)
    return card


# What each card key must hold: a check and the words for the error line.
_TEXT_KEYS = ("model", "checkpoint", "weights", "interpolation", "classes_file", "name")
_SIZE_KEYS = ("input_size", "crop", "resize")


def _check_card_types(path: str, card: dict) -> None:
    """ModelError naming the card, the first key whose value has the wrong type or range, and what it must be."""
    for key in _TEXT_KEYS:
        if key in card and not isinstance(card[key], str):
            raise ModelError(f"{path}: {key} = {card[key]!r} must be a string in quotes")
    for key in (*_SIZE_KEYS, "num_classes"):
        if key not in card:
            continue
        value = card[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ModelError(f"{path}: {key} = {value!r} must be a whole number")
        low = 1 if key == "num_classes" else 8
        if not low <= value <= (100_000 if key == "num_classes" else 1024):
            limit = "between 1 and 100000" if key == "num_classes" else "between 8 and 1024 pixels"
            raise ModelError(f"{path}: {key} = {value} must be {limit}")
    for key in ("mean", "std"):
        if key in card:
            value = card[key]
            if not (isinstance(value, list) and len(value) == 3 and all(_is_number(v) for v in value)):
                raise ModelError(f"{path}: {key} = {value!r} must be a list of three numbers [R, G, B]")
            check_finite(f"{path}: {key}", value)
    if ("mean" in card) != ("std" in card):
        raise ModelError(f"{path}: {'mean' if 'mean' in card else 'std'} without {'std' if 'mean' in card else 'mean'}: "
                         "a card gives both or neither")  # fmt: skip
    if "std" in card and any(v <= 0 for v in card["std"]):
        raise ModelError(f"{path}: std = {card['std']!r} must be positive numbers")
    if "interpolation" in card:
        from explorer.core.preprocessing import INTERPOLATIONS

        if card["interpolation"] not in INTERPOLATIONS:
            raise ModelError(
                f"{path}: interpolation = {card['interpolation']!r} must be one of {', '.join(INTERPOLATIONS)}"
            )
    if "classes" in card:
        value = card["classes"]
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise ModelError(f'{path}: classes = {value!r} must be a list of names in quotes, ["cat", "dog", ...]')


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_finite(what: str, values: Sequence[float]) -> None:
    """ModelError naming `what` and the first value that is not a finite number (nan, inf)."""
    for v in values:
        if not math.isfinite(float(v)):
            raise ModelError(f"{what} {tuple(values)}: {v} is not a finite number")


# How a message about a setting begins, for each card key: a flag's spelling ("--weights X: ..."), the
# value itself (a checkpoint path, a model spec), or the setting's name ("classes: ...", "mean (..): ...").
_OVERRIDDEN_BY = {"crop": "input_size", "classes_file": "classes"}  # a card key: the argument that wins over it
_CARD_FLAGS = {"weights": "--weights", "input_size": "input size", "resize": "resize", "interpolation": "interpolation"}


def _message_starts(key: str, value: object) -> list[str]:
    """The ways a message about card key `key` holding `value` (as load_model uses it) may begin."""
    starts = []
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        starts += [text, f"{key} {text!r}", f"{key} {text}"]
        if key == "model" and ":" in text:
            starts.append(text.rsplit(":", 1)[0])  # the file or module of FILE.py:CLASS
    elif isinstance(value, list):
        starts.append(f"{key} {tuple(value)}")
    elif value is not None:
        starts.append(f"{key} {value}")
    if key in _CARD_FLAGS:
        starts += [f"{_CARD_FLAGS[key]} {value}", f"{_CARD_FLAGS[key]} {value!r}"]
    starts.append(key)
    return starts


@contextlib.contextmanager
def naming_card(path: str, card: dict, given: dict) -> Iterator[None]:
    """Errors about a model opened from card `path` begin with the card: `CARD: KEY = VALUE: what is wrong`
    when the error is about a value the card gave, `CARD: what is wrong` otherwise. An error about a setting
    the caller gave (a flag, which wins over the card) is left as it is."""
    try:
        yield
    except ExplorerError as exc:
        message = str(exc)
        if message.startswith(f"{show(path)}: "):
            raise
        mine = [k for k in card if k in CARD_KEYS - {"name"} and given.get(_OVERRIDDEN_BY.get(k, k)) is None]
        theirs = [k for k, v in given.items() if v is not None]
        for key in theirs:
            if any(message.startswith(f"{start}: ") for start in _message_starts(key, given[key])):
                raise
        raw = card.raw if isinstance(card, Card) else card
        for key in sorted(mine, key=lambda k: k == "model"):  # the model last: a checkpoint error names both
            for start in sorted(_message_starts(key, card[key]), key=len, reverse=True):
                if message.startswith(f"{start}: "):
                    rest = message[len(start) + 2 :]
                    raise type(exc)(f"{show(path)}: {key} = {_toml(raw.get(key, card[key]))}: {rest}") from None
        raise type(exc)(f"{show(path)}: {message}") from None


def _toml(value: object) -> str:
    """A card's value as it is written in the card."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
