import numpy as np
import pytest

from explorer.core.datasets import open_dataset
from explorer.core.probes import GRATING_ANGLES, GRATING_PERIODS, probe_patterns


@pytest.fixture(scope="module")
def probes():
    return probe_patterns()


def _index(ds, caption):
    captions = [ds.caption(i) for i in range(len(ds))]
    return captions.index(caption)


def test_shapes_and_dtype(probes):
    px = probes.images(slice(None))
    assert 50 <= len(probes) <= 70
    assert px.shape == (len(probes), 32, 32, 3)
    assert px.dtype == np.uint8
    assert probes.labels.dtype == np.int64
    assert probes.name == "Probe patterns"
    assert probes.source_key == "probes"
    assert probes.failures == {}


def test_deterministic(probes):
    again = probe_patterns()
    np.testing.assert_array_equal(again.images(slice(None)), probes.images(slice(None)))
    np.testing.assert_array_equal(again.labels, probes.labels)
    assert [again.caption(i) for i in range(len(again))] == [probes.caption(i) for i in range(len(probes))]


def test_every_class_present(probes):
    assert probes.classes == ("grating", "colour", "edge", "checkerboard", "dots")
    counts = np.bincount(probes.labels, minlength=len(probes.classes))
    assert len(counts) == len(probes.classes)
    assert (counts > 0).all()
    assert counts[0] == len(GRATING_ANGLES) * len(GRATING_PERIODS)


def test_captions_are_unique_and_human(probes):
    captions = [probes.caption(i) for i in range(len(probes))]
    assert len(set(captions)) == len(captions)
    assert "grating 45° period 8 px" in captions
    assert "red patch" in captions
    for caption, label in zip(captions, probes.labels, strict=True):
        assert caption.split()[0] in {"grating", "edge", "checkerboard", "grid", "single"} or label == 1


def test_images_are_distinct_and_use_the_range(probes):
    px = probes.images(slice(None)).reshape(len(probes), -1)
    assert len({row.tobytes() for row in px}) == len(probes)
    gratings = px[probes.labels == 0]
    assert gratings.min() <= 5 and gratings.max() >= 250


@pytest.mark.parametrize("period", GRATING_PERIODS)
def test_zero_degree_grating_varies_down_the_image_only(probes, period):
    img = probes.image(_index(probes, f"grating 0° period {period} px")).astype(int)
    assert (img == img[:, :1, :]).all(), "every row is one value"
    assert np.ptp(img[:, 0, 0]) > 100, "the rows differ"
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()


@pytest.mark.parametrize("period", GRATING_PERIODS)
def test_ninety_degree_grating_varies_across_the_image_only(probes, period):
    img = probes.image(_index(probes, f"grating 90° period {period} px")).astype(int)
    assert (img == img[:1, :, :]).all()
    assert np.ptp(img[0, :, 0]) > 100


def test_45_degree_grating_is_constant_along_the_rising_diagonal(probes):
    img = probes.image(_index(probes, "grating 45° period 8 px"))[..., 0].astype(int)
    # 45° anticlockwise from horizontal: one row up and one column right is the same stripe.
    np.testing.assert_allclose(img[1:, :-1], img[:-1, 1:], atol=1)
    assert np.abs(img[1:, 1:] - img[:-1, :-1]).max() > 50


def test_grating_period(probes):
    img = probes.image(_index(probes, "grating 0° period 8 px"))[:, 0, 0].astype(int)
    np.testing.assert_array_equal(img[8:], img[:-8])
    assert not np.array_equal(img[4:], img[:-4])


def test_oriented_energy_follows_the_angle(probes):
    # The strongest Fourier component of each grating lies along the grating's normal.
    for angle in GRATING_ANGLES:
        img = probes.image(_index(probes, f"grating {angle:g}° period 8 px"))[..., 0].astype(float)
        spectrum = np.abs(np.fft.fft2(img - img.mean()))
        fy, fx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
        fy = fy - 32 if fy > 16 else fy
        fx = fx - 32 if fx > 16 else fx
        # Rows grow downward, so the normal (-sin, cos) in y-up coordinates is (-sin, -cos) in (x, row).
        normal = np.rad2deg(np.arctan2(-fy, fx)) % 180
        expected = (angle + 90) % 180
        diff = min(abs(normal - expected), 180 - abs(normal - expected))
        assert diff <= 12, (angle, normal)


def test_colour_patches_are_flat_and_right(probes):
    red = probes.image(_index(probes, "red patch"))
    assert (red == [255, 0, 0]).all()
    gray = probes.image(_index(probes, "gray patch"))
    assert (gray == gray[0, 0]).all() and 120 <= gray[0, 0, 0] <= 135
    assert (probes.image(_index(probes, "black patch")) == 0).all()


def test_edges_have_light_side_toward_the_angle(probes):
    right = probes.image(_index(probes, "edge 0°, black to white"))
    assert (right[:, :16] == 0).all() and (right[:, 16:] == 255).all()
    up = probes.image(_index(probes, "edge 90°, black to white"))
    assert (up[:16] == 255).all() and (up[16:] == 0).all()
    red_green = probes.image(_index(probes, "edge 0°, red to green"))
    assert (red_green[:, 0] == [255, 0, 0]).all() and (red_green[:, -1] == [0, 255, 0]).all()


@pytest.mark.parametrize("cell", [2, 4, 8])
def test_checkerboard_cells(probes, cell):
    img = probes.image(_index(probes, f"checkerboard {cell} px cells"))[..., 0]
    assert img[0, 0] == 0 and img[0, cell] == 255 and img[cell, 0] == 255 and img[cell, cell] == 0
    assert (img[:cell, :cell] == 0).all()


def test_single_dot_is_centred(probes):
    img = probes.image(_index(probes, "single white dot, centred"))[..., 0].astype(float)
    rows, cols = np.indices(img.shape)
    assert img[0, 0] == 0 and img[15:17, 15:17].min() == 255
    assert (rows * img).sum() / img.sum() == pytest.approx(15.5)
    assert (cols * img).sum() / img.sum() == pytest.approx(15.5)


def test_open_dataset_gives_probes_for_either_split():
    for split in ("train", "test"):
        ds = open_dataset("probes", split)
        assert ds.name == "Probe patterns" and ds.source_key == "probes"
