"""What the window remembers between runs, read back with types and defaults (garbage gives defaults).

Settings live in QSettings under ORGANIZATION/APPLICATION; $CNN_EXPLORER_SETTINGS names an ini
file to use instead (tests and portable setups), and $CNN_EXPLORER_ORG overrides the organisation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

from PySide6.QtCore import QByteArray, QSettings

from explorer.core.datasets import SPLITS
from explorer.core.projection import KEEPS, METHODS, UNPOOLS
from explorer.gui.identity import APPLICATION, ORGANIZATION
from explorer.gui.messages import COMPARES, ProjectionOptions
from explorer.gui.state import Choices


def open_settings() -> QSettings:
    """The user's settings, or the ini file named by $CNN_EXPLORER_SETTINGS."""
    path = os.environ.get("CNN_EXPLORER_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(os.environ.get("CNN_EXPLORER_ORG", ORGANIZATION), APPLICATION)


def _text(settings: QSettings, key: str, default: str) -> str:
    value = settings.value(key, default)
    return value if isinstance(value, str) and value else default


def _choice(settings: QSettings, key: str, choices: tuple[str, ...], default: str) -> str:
    value = _text(settings, key, default)
    return value if value in choices else default


def _int(settings: QSettings, key: str, default: int, low: int, high: int) -> int:
    try:
        value = int(str(settings.value(key, default)))
    except ValueError:
        return default
    return value if low <= value <= high else default


def read_choices(settings: QSettings, channels: Mapping[str, int] | None = None) -> Choices:
    """The remembered state; any missing, corrupt or unknown value is replaced by its default.

    `channels` is the open model's layers (name: features); a layer it does not have gives its first
    layer. Without it, any layer name is kept and the window fits it to the model it opens.
    """
    d = Choices()
    if channels:
        d = replace(d, layer=next(iter(channels)))
        layer = _choice(settings, "view/layer", tuple(channels), d.layer)
    else:
        layer = _text(settings, "view/layer", d.layer)
    top = channels[layer] - 1 if channels else 10**6
    options = ProjectionOptions(
        _choice(settings, "projection/method", METHODS, d.options.method),
        _choice(settings, "projection/unpool", UNPOOLS, d.options.unpool),
        _choice(settings, "projection/keep", KEEPS, d.options.keep),
        _choice(settings, "projection/compare", COMPARES, d.options.compare),
    )  # kept as chosen: fill under guided waits for a switch back to deconvnet
    return Choices(
        source=_text(settings, "data/source", d.source),
        split=_choice(settings, "data/split", SPLITS, d.split),
        layer=layer,
        feature=_int(settings, "view/feature", d.feature, 0, top),
        image=_int(settings, "view/image", d.image, 0, 10**9),
        options=options,
    )


def write_choices(settings: QSettings, state: Choices) -> None:
    values = {
        "data/source": state.source,
        "data/split": state.split,
        "view/layer": state.layer,
        "view/feature": state.feature,
        "view/image": state.image,
        "projection/method": state.options.method,
        "projection/unpool": state.options.unpool,
        "projection/keep": state.options.keep,
        "projection/compare": state.options.compare,
    }
    for key, value in values.items():
        settings.setValue(key, value)


def read_bytes(settings: QSettings, key: str) -> QByteArray | None:
    """A saved geometry or window state, or None when absent or not bytes."""
    value = settings.value(key)
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None
