"""Pure numpy helpers that turn model outputs into the pictures the window shows (float RGB in [0, 1]).

The scaling rules themselves live once, in explorer.analyses.colours (projections, activation maps)
and explorer.analyses.topk (receptive-field crops): the window shows the tiles the figures hold.
"""

from __future__ import annotations

import numpy as np

from explorer.analyses.colours import MAPS_RULE, PROJECTION_RULE, maps_rgb8, maps_scale, normalise_projection
from explorer.analyses.topk import crop_field

PROJECTION_TEXT = f"Projections: {PROJECTION_RULE}."
ACTIVATION_TEXT = f"{MAPS_RULE[0].upper()}{MAPS_RULE[1:]}."


def image_to_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 [H, W, 3] in [0, 1]."""
    return np.asarray(image, dtype=np.float32) / 255.0


def projection_to_rgb(p: np.ndarray) -> np.ndarray:
    """[3, H, W] projection -> float32 [H, W, 3] in [0, 1], by the figures' normalise_projection."""
    return np.ascontiguousarray(np.moveaxis(normalise_projection(p), -3, -1))


def field_tiles(pictures: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
    """uint8 [k, H, W, 3] pictures -> float32 [k, side, side, 3]: each box in its full field (export's crop_field)."""
    tiles = [crop_field(p, b, side) for p, b in zip(pictures, boxes, strict=True)]
    out = np.stack(tiles) if tiles else np.zeros((0, side, side, 3), np.uint8)
    return out.astype(np.float32) / 255.0


def colorize(values: np.ndarray, vmax: float) -> np.ndarray:
    """[...] values in [0, vmax] -> float32 [..., 3] viridis colours, as the figures' maps_rgb8 (vmax <= 0: all bottom)."""
    return maps_rgb8(values, vmax).astype(np.float32) / 255.0


def grid_shape(count: int, cols: int) -> tuple[int, int]:
    """(rows, cols) of a grid holding `count` tiles, at most `cols` wide."""
    cols = max(1, min(cols, count))
    return -(-count // cols), cols


def mosaic(tiles: np.ndarray, cols: int, pad: int = 1, fill: float = 0.15) -> np.ndarray:
    """[n, h, w, 3] tiles -> one [rows*(h+pad)-pad, cols*(w+pad)-pad, 3] picture, row by row."""
    n, h, w = tiles.shape[:3]
    if n == 0:
        return np.full((1, 1, 3), fill, dtype=np.float32)
    rows, cols = grid_shape(n, cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, 3), fill, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tiles[i]
    return out


def cell_at(x: float, y: float, tile: tuple[int, int], cols: int, count: int, pad: int = 1) -> int | None:
    """The tile index under picture coordinates (x, y) of a `mosaic`, or None for padding/outside."""
    h, w = tile
    if x < 0 or y < 0:
        return None
    c, cx = divmod(int(x), w + pad)
    r, cy = divmod(int(y), h + pad)
    _, cols = grid_shape(count, cols)
    if c >= cols or cx >= w or cy >= h:
        return None
    i = r * cols + c
    return i if i < count else None


def activation_tiles(maps: np.ndarray) -> tuple[np.ndarray, float]:
    """[C, h, w] feature maps -> (their colours [C, h, w, 3] on one shared scale, the top of that scale)."""
    vmax = maps_scale(maps)
    return colorize(maps, vmax), vmax


def activation_grid(maps: np.ndarray, cols: int = 8, pad: int = 1) -> tuple[np.ndarray, float]:
    """[C, h, w] feature maps -> (mosaic of coloured maps, the shared top of the scale)."""
    tiles, vmax = activation_tiles(maps)
    return mosaic(tiles, cols, pad), vmax


def fit_columns(
    count: int, tile: tuple[int, int], area: tuple[float, float], preferred: int, min_px: float, pad: int = 1
) -> tuple[int, bool]:
    """(columns, scrolls) of a `mosaic` of `count` tiles (h, w) shown in `area` (h, w) screen pixels.

    `preferred` columns while they show every tile across the whole width; more where a wider grid shows every
    tile larger; where no grid shows every tile at `min_px` or more, as many columns as fit across at `min_px`,
    and the grid is taller than the area (scrolls is True).
    """
    h, w = tile
    area_h, area_w = area
    first = max(1, min(preferred, count))
    if count < 1 or area_h < 10 or area_w < 10:  # no size yet (a hidden pane)
        return first, False

    def scale(cols: int) -> float:  # screen pixels per map pixel when the whole grid shows
        rows = -(-count // cols)
        return min(area_w / (cols * (w + pad) - pad), area_h / (rows * (h + pad) - pad))

    # Fewer columns than `first` only help a grid as wide as the area, and there the familiar grid stays.
    best = max(range(first, count + 1), key=scale)
    width_bound = scale(best) == area_w / (best * (w + pad) - pad)
    if scale(best) * min(h, w) >= min_px or (best == first and width_bound):
        return best, False
    cols = max(1, min(count, int((area_w * min(h, w) / min_px + pad) // (w + pad))))
    rows = -(-count // cols)
    return cols, (rows * (h + pad) - pad) * area_w / (cols * (w + pad) - pad) > area_h + 0.5


def upsample(values: np.ndarray, size: int) -> np.ndarray:
    """[h, w] -> [size, size] by repeating pixels (nearest neighbour); size must be a multiple of h."""
    f = size // values.shape[0]
    return np.repeat(np.repeat(values, f, axis=0), f, axis=1)


def overlay(image: np.ndarray, amap: np.ndarray, vmax: float, alpha: float = 0.65) -> np.ndarray:
    """The feature map, coloured and upsampled to the image, over the image in grey; [H, W, 3]."""
    grey = image_to_rgb(image).mean(axis=2, keepdims=True)
    heat = colorize(upsample(amap, image.shape[0]), vmax)
    return ((1 - alpha) * grey + alpha * heat).astype(np.float32)


def pair_mosaic(images: np.ndarray, projections: np.ndarray, cols: int = 4, pad: int = 2) -> np.ndarray:
    """Each image beside its projection ([n, H, W, 3] uint8 and [n, 3, H, W]), `cols` pairs per row."""
    if not len(images):
        return mosaic(np.zeros((0, 1, 1, 3), np.float32), cols, pad)
    pairs = np.concatenate([image_to_rgb(images), np.moveaxis(normalise_projection(projections), -3, -1)], axis=2)
    out = mosaic(pairs, cols, pad, fill=1.0)  # white lines between the pairs
    rows, cols = grid_shape(len(pairs), cols)
    h, w = pairs.shape[1:3]
    first_empty = len(pairs) - (rows - 1) * cols  # of the last row: the cells no pair fills are background
    if first_empty < cols:
        out[(rows - 1) * (h + pad) - (pad if rows > 1 else 0) :, max(0, first_empty * (w + pad) - pad) :] = 0.0
    return out


PAD = 3  # pixels between the cells of a grid (pairs or features); one between a patch and its projection
HIGHLIGHT = (1.0, 0.55, 0.0)  # the frame round the selected cell


def enlarge(tiles: np.ndarray, factor: int) -> np.ndarray:
    """[..., h, w, 3] -> [..., h*factor, w*factor, 3] by repeating pixels."""
    return np.repeat(np.repeat(tiles, factor, axis=-3), factor, axis=-2)


def best_cols(count: int, cell: tuple[int, int], area: tuple[float, float], fallback: int) -> int:
    """The number of columns that shows `count` cells of `cell` (h, w) largest in `area` (h, w) of a framed_grid."""
    h, w = cell
    area_h, area_w = area
    if count < 1 or area_h < 10 or area_w < 10:  # no size yet (a hidden tab)
        return max(1, min(fallback, count))
    scales = [
        min(area_w / (c * (w + PAD) + PAD), area_h / (-(-count // c) * (h + PAD) + PAD)) for c in range(1, count + 1)
    ]
    return 1 + int(np.argmax(scales))


def framed_grid(cells: np.ndarray, cols: int, selected: int | None = None) -> np.ndarray:
    """Cells in a white grid with a PAD margin all round; the selected cell framed in HIGHLIGHT."""
    picture = np.pad(mosaic(cells, cols, PAD, fill=1.0), ((PAD, PAD), (PAD, PAD), (0, 0)), constant_values=1.0)
    if selected is not None and 0 <= selected < len(cells):
        h, w = cells.shape[1:3]
        r, c = divmod(selected, max(1, min(cols, len(cells))))
        y, x = r * (h + PAD), c * (w + PAD)  # the frame's top-left: the cell's, less the margin
        picture[y : y + h + 2 * PAD, x : x + w + 2 * PAD] = HIGHLIGHT
        picture[y + PAD : y + PAD + h, x + PAD : x + PAD + w] = cells[selected]
    return picture
