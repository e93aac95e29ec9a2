"""Probe patterns: a small image set made in code, so the explorer has something to show offline.

Gratings, colour patches, edges, checkerboards and dots, 32x32 RGB uint8, always the same pixels.
Angles are measured anticlockwise from the image's horizontal axis (with y pointing up): a 0°
grating has horizontal stripes, a 90° grating vertical ones; an edge at θ has its light side
toward θ (0° = light on the right).
"""

from __future__ import annotations

import numpy as np

from explorer.core.images import SIZE, ImageSet

CLASSES = ("grating", "colour", "edge", "checkerboard", "dots")
GRATING_ANGLES = tuple(i * 22.5 for i in range(8))
GRATING_PERIODS = (4, 8, 16)
EDGE_ANGLES = tuple(i * 45.0 for i in range(8))
CHECKER_CELLS = (2, 4, 8)

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (1, 0, 0),
    "green": (0, 1, 0),
    "blue": (0, 0, 1),
    "cyan": (0, 1, 1),
    "magenta": (1, 0, 1),
    "yellow": (1, 1, 0),
    "orange": (1, 0.5, 0),
    "white": (1, 1, 1),
    "gray": (0.5, 0.5, 0.5),
    "black": (0, 0, 0),
}
EDGE_PAIRS = (("red", "green"), ("green", "red"), ("blue", "yellow"), ("red", "cyan"))

# Pixel-centre coordinates relative to the image centre, y pointing up.
_C = (SIZE - 1) / 2
_X = np.arange(SIZE, dtype=np.float64)[None, :] - _C
_Y = _C - np.arange(SIZE, dtype=np.float64)[:, None]


def _mix(weight: np.ndarray, dark: str, light: str) -> np.ndarray:
    """[32, 32, 3] floats: `light` where weight is 1, `dark` where it is 0."""
    w = np.broadcast_to(weight, (SIZE, SIZE))[..., None]
    return (1 - w) * np.array(COLOURS[dark]) + w * np.array(COLOURS[light])


def grating(angle: float, period: float) -> np.ndarray:
    """Sinusoidal stripes running along `angle`, gray 0..1, one cycle every `period` pixels."""
    t = np.deg2rad(angle)
    across = -_X * np.sin(t) + _Y * np.cos(t)
    return _mix(0.5 + 0.5 * np.cos(2 * np.pi * across / period), "black", "white")


def edge(angle: float, dark: str = "black", light: str = "white") -> np.ndarray:
    """A straight step edge through the centre, light side toward `angle`, one pixel of antialiasing."""
    t = np.deg2rad(angle)
    distance = _X * np.cos(t) + _Y * np.sin(t)
    return _mix(np.clip(0.5 + distance, 0, 1), dark, light)


def checkerboard(cell: int, dark: str = "black", light: str = "white") -> np.ndarray:
    """Squares of `cell` pixels, starting dark in the top-left corner."""
    rows, cols = np.indices((SIZE, SIZE))
    return _mix(((rows // cell + cols // cell) % 2).astype(np.float64), dark, light)


def dots(spacing: int | None, radius: float, dark: str = "black", light: str = "white") -> np.ndarray:
    """Round `light` dots on `dark`: a grid every `spacing` pixels, or one centred dot when None."""
    if spacing is None:
        dx, dy = _X, _Y
    else:
        # Grid points sit midway between pixels, so every dot is drawn the same.
        dx = np.mod(_X + _C + 0.5, spacing) - spacing / 2
        dy = np.mod(_Y + _C + 0.5, spacing) - spacing / 2
    return _mix(np.clip(radius + 0.5 - np.hypot(dx, dy), 0, 1), dark, light)


def _patterns() -> list[tuple[str, str, np.ndarray]]:
    out: list[tuple[str, str, np.ndarray]] = []
    for period in GRATING_PERIODS:
        for angle in GRATING_ANGLES:
            out.append(("grating", f"grating {angle:g}° period {period} px", grating(angle, period)))
    for name, rgb in COLOURS.items():
        out.append(("colour", f"{name} patch", np.full((SIZE, SIZE, 3), rgb, dtype=np.float64)))
    for angle in EDGE_ANGLES:
        out.append(("edge", f"edge {angle:g}°, black to white", edge(angle)))
    for dark, light in EDGE_PAIRS:
        out.append(("edge", f"edge 0°, {dark} to {light}", edge(0.0, dark, light)))
    for cell in CHECKER_CELLS:
        out.append(("checkerboard", f"checkerboard {cell} px cells", checkerboard(cell)))
    out.append(("checkerboard", "checkerboard 4 px cells, red and green", checkerboard(4, "red", "green")))
    out.append(("dots", "grid of dots every 8 px", dots(8, 1.5)))
    out.append(("dots", "grid of dots every 4 px", dots(4, 1.0)))
    out.append(("dots", "single white dot, centred", dots(None, 3.0)))
    out.append(("dots", "single black dot on white, centred", dots(None, 3.0, "white", "black")))
    return out


def probe_patterns() -> ImageSet:
    """The built-in probe-pattern set (about 55 images), identical on every call."""
    patterns = _patterns()
    pixels = np.stack([np.round(np.clip(img, 0, 1) * 255) for _, _, img in patterns]).astype(np.uint8)
    labels = np.array([CLASSES.index(kind) for kind, _, _ in patterns], dtype=np.int64)
    return ImageSet(
        name="Probe patterns",
        classes=CLASSES,
        labels=labels,
        pixels=pixels,
        captions=[caption for _, caption, _ in patterns],
        source_key="probes",
    )
