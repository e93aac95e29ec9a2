"""How values become colours: the one definition of each rule, shared by the window and the figure renderers.

Pure numpy, no matplotlib (the window starts without it): every rule has its wording beside it, so
a figure's caption states exactly what was done to its tiles, and the colour map names the
renderers and the window's views both use are here, once.
"""

from __future__ import annotations

import numpy as np

PROJECTION_RULE = "each projection scaled to its own range, symmetric around 0: 0.5 + p / (2 max|p|), so grey is 0"
MAPS_RULE = (
    "all maps share one scale, from 0 (dark violet) to the layer's largest activation on this image (yellow), viridis"
)
IMAGE_RULE = "images shown as stored (8-bit RGB)"

# Colour maps by name, as matplotlib and pyqtgraph both call them.
ACTIVATION_CMAP = "viridis"  # activations, from 0 up (maps, the occlusion view's map sums)
PROBABILITY_CMAP = "magma"  # a class probability, 0 to 1 (occlusion)
CAM_CMAP = "jet"  # a class activation map, 0 to 1
SALIENCY_CMAP = "gray"  # the sanity check's pictures


# matplotlib's "jet" (its segment data): the window draws a CAM in the colours the figure does, without matplotlib.
JET_SEGMENTS = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}


def cam_rgb8(values: np.ndarray) -> np.ndarray:
    """[...] values in [0, 1] (a CAM) -> uint8 [..., 3] in CAM_CMAP ("jet"), as matplotlib draws it with 256 colours."""
    i = np.clip(np.floor(np.nan_to_num(np.asarray(values, np.float64)) * 256), 0, 255).astype(np.int64)
    t = np.arange(256) / 255.0
    channels = []
    for c in ("red", "green", "blue"):
        x, y = (np.array(v, np.float64) for v in zip(*JET_SEGMENTS[c], strict=True))
        channels.append(np.interp(t, x, y))
    lut = np.stack(channels, axis=1)
    return np.rint(lut * 255).astype(np.uint8)[i]


def class_cmap(classes: int) -> str:
    """The qualitative map that tells `classes` classes apart (the occlusion view's most probable class)."""
    return "tab10" if classes <= 10 else "tab20"


# matplotlib's tab10 and tab20 as uint8 RGB colours (tests/analyses/test_colours.py holds them equal to matplotlib's).
QUALITATIVE = {
    "tab10": np.frombuffer(bytes.fromhex("1f77b4ff7f0e2ca02cd627289467bd8c564be377c27f7f7fbcbd2217becf"), np.uint8),
    "tab20": np.frombuffer(
        bytes.fromhex(
            "1f77b4aec7e8ff7f0effbb782ca02c98df8ad62728ff98969467bdc5b0d58c564bc49c94e377c2f7b6d27f7f7fc7c7c7"
            "bcbd22dbdb8d17becf9edae5"
        ),
        np.uint8,
    ),
}


def class_rgb8(labels: np.ndarray, classes: int) -> np.ndarray:
    """Class indices [...] -> uint8 [..., 3]: class_cmap(classes) over -0.5 .. max(classes, 10) - 0.5, as the
    occlusion figure draws its most probable class (ten classes or fewer, one colour each; more share 20)."""
    table = QUALITATIVE[class_cmap(classes)].reshape(-1, 3)
    t = (np.asarray(labels, np.float64) + 0.5) / max(classes, 10)
    return table[np.clip(np.floor(t * len(table)), 0, len(table) - 1).astype(np.int64)]


# matplotlib's viridis as 256 uint8 RGB colours, round(255 * colour): kept here so that neither the
# window nor an analysis imports matplotlib for it (tests/analyses/test_colours.py holds it equal to
# matplotlib's and pyqtgraph's tables).
VIRIDIS = np.frombuffer(
    bytes.fromhex(
        "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769"
        "48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a"
        "472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85"
        "4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b"
        "3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d"
        "33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e"
        "2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e"
        "26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d"
        "21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88"
        "1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81"
        "28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74"
        "3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863"
        "5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d"
        "84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32"
        "addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a"
        "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725"
    ),
    dtype=np.uint8,
).reshape(256, 3)


def normalise_projection(p: np.ndarray) -> np.ndarray:
    """float32 [..., 3, H, W] -> same shape in [0, 1]: 0.5 + p / (2 max|p|), max over each tile's channels and pixels.

    Each leading index is one tile with its own scale; an all-zero tile is uniform grey (0.5).
    """
    p = np.asarray(p, dtype=np.float32)
    if p.ndim < 3:
        raise ValueError(f"a projection is [..., 3, H, W], got shape {p.shape}")
    top = np.abs(p).max(axis=(-3, -2, -1), keepdims=True) if p.size else np.zeros((1, 1, 1), np.float32)
    safe = np.where(top > 0, top, 1.0).astype(np.float32)
    return (0.5 + p / (2 * safe)).astype(np.float32)


def projection_rgb8(p: np.ndarray) -> np.ndarray:
    """float [..., 3, H, W] projections -> uint8 [..., H, W, 3] tiles by normalise_projection."""
    return to_rgb8(np.moveaxis(normalise_projection(p), -3, -1))


def maps_scale(maps: np.ndarray) -> float:
    """The shared top of the maps' scale: the largest activation (0 when there is none above 0)."""
    return max(float(np.max(maps)), 0.0) if np.size(maps) else 0.0


def maps_rgb8(maps: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """[..., h, w] feature maps -> uint8 [..., h, w, 3] viridis tiles on one scale, 0 .. vmax (default maps_scale).

    Values are binned as floor(255 * a / vmax), clipped to 0..255; vmax <= 0 maps everything to the bottom.
    """
    top = maps_scale(maps) if vmax is None else float(vmax)
    scale = 255.0 / top if top > 0 else 0.0
    idx = np.clip(np.asarray(maps, dtype=np.float32) * np.float32(scale), 0, 255).astype(np.int64)
    return VIRIDIS[idx]


def to_rgb8(x: np.ndarray) -> np.ndarray:
    """float values in [0, 1] -> uint8 by rounding to the nearest of 256 levels (out-of-range values clipped)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def scale_colours(kind: str) -> np.ndarray:
    """uint8 [1, 256, 3]: the colours of a ColourScale (`kind` "viridis" or "signed") from low to high."""
    if kind == "viridis":
        return maps_rgb8(np.arange(256, dtype=np.float32), 255.0)[None]
    grey = np.arange(256, dtype=np.uint8)
    return np.repeat(grey[None, :, None], 3, axis=2)


def signed_rgb8(values: np.ndarray) -> np.ndarray:
    """[H, W] -> uint8 [H, W, 3]: white at 0, red for positive, blue for negative, scaled by max|value|."""
    v = np.asarray(values, dtype=np.float64)
    top = float(np.abs(v).max()) if v.size else 0.0
    t = np.clip(v / top, -1.0, 1.0) if top > 0 else np.zeros_like(v)
    pos, neg = np.clip(t, 0, 1), np.clip(-t, 0, 1)
    rgb = np.stack([1 - neg * 0.85, 1 - (pos + neg) * 0.85, 1 - pos * 0.85], axis=-1)
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def grey_rgb8(values: np.ndarray) -> np.ndarray:
    """[H, W] -> uint8 [H, W, 3] grey, from the map's minimum (black) to its maximum (white)."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    t = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    g = np.rint(t * 255).astype(np.uint8)
    return np.stack([g, g, g], axis=-1)
