"""How alike two saliency maps are: Spearman's rank correlation and SSIM, as Adebayo et al. compare them.

Both take two maps [H, W] and return a float. A pair where either map is constant scores 0 (a
constant map has no ranks to correlate and no structure to compare), never NaN.

SSIM is Wang et al.'s, computed the way scikit-image's `structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1)` does: each map min-max scaled to [0, 1],
local statistics under an 11 x 11 Gaussian window (sigma 1.5; smaller maps take the largest odd
window that fits), K1 = 0.01, K2 = 0.03, and the mean over the positions where the window fits whole.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0 .. n-1 of a 1-D array, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    counts = np.diff(np.r_[first, values.size])
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = (first + (counts - 1) / 2)[group]
    return ranks


def is_constant(picture: np.ndarray) -> bool:
    return bool(picture.size == 0 or np.all(picture == picture.flat[0]))


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two maps of the same shape (ties take average ranks); 0 if either is constant."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps of different sizes: {a.size} and {b.size} values")
    if is_constant(a) or is_constant(b):
        return 0.0
    ra, rb = average_ranks(a), average_ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    return float(np.clip((ra @ rb) / np.sqrt((ra @ ra) * (rb @ rb)), -1.0, 1.0))


def min_max(picture: np.ndarray) -> np.ndarray:
    """A map scaled to [0, 1] (zeros if it is constant)."""
    p = np.asarray(picture, np.float64)
    low, span = p.min(), p.max() - p.min()
    return (p - low) / span if span > 0 else np.zeros_like(p)


def gaussian_window(size: int, sigma: float) -> torch.Tensor:
    """The normalised 1-D Gaussian of `size` taps (odd) and standard deviation `sigma`, float64."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    w = torch.exp(-(t * t) / (2 * sigma * sigma))
    return w / w.sum()


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two maps [H, W] after min-max scaling each to [0, 1]; 0 if either is constant."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"SSIM compares two maps of one size, got {a.shape} and {b.shape}")
    if is_constant(a) or is_constant(b):
        return 0.0
    size = min(SSIM_WINDOW, *a.shape)
    size -= 1 - size % 2
    w = gaussian_window(size, SSIM_SIGMA)
    stack = torch.from_numpy(np.stack([min_max(a), min_max(b)]))[:, None]  # [2, 1, H, W]
    x = torch.cat([stack, stack * stack, stack[:1] * stack[1:]])  # a, b, a^2, b^2, ab

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        t = F.conv2d(t, w.view(1, 1, -1, 1))
        return F.conv2d(t, w.view(1, 1, 1, -1))

    mu_a, mu_b, aa, bb, ab = local_mean(x)[:, 0]
    var_a, var_b, cov = aa - mu_a * mu_a, bb - mu_b * mu_b, ab - mu_a * mu_b
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(value.mean())
