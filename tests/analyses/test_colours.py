"""The colour rules, checked on values worked out by hand, and the viridis table against its two sources."""

import numpy as np

from explorer.analyses.colours import (
    VIRIDIS,
    class_cmap,
    class_rgb8,
    grey_rgb8,
    maps_rgb8,
    maps_scale,
    normalise_projection,
    projection_rgb8,
    scale_colours,
    to_rgb8,
)


def test_projection_is_symmetric_around_grey_per_tile():
    p = np.zeros((2, 3, 2, 2), dtype=np.float32)
    p[0, 0, 0, 0] = 4.0
    p[0, 1, 1, 1] = -2.0
    p[1, 2, 0, 1] = 0.5  # a second tile with its own, much smaller scale
    out = normalise_projection(p)
    assert out.shape == p.shape
    assert out[0, 0, 0, 0] == 1.0  # +max|p| -> 1
    assert out[0, 1, 1, 1] == 0.25  # 0.5 + (-2) / (2 * 4)
    assert out[0, 2, 0, 0] == 0.5  # 0 -> grey
    assert out[1, 2, 0, 1] == 1.0  # scaled by its own max, not the first tile's


def test_all_zero_projection_is_uniform_grey():
    out = normalise_projection(np.zeros((3, 4, 4), dtype=np.float32))
    assert np.all(out == 0.5)


def test_projection_rgb8_is_channels_last_uint8():
    p = np.zeros((3, 2, 5), dtype=np.float32)
    p[0, 1, 4] = -1.0
    rgb = projection_rgb8(p)
    assert rgb.shape == (2, 5, 3) and rgb.dtype == np.uint8
    assert rgb[1, 4, 0] == 0 and rgb[0, 0, 0] == 128  # 0.5 * 255 = 127.5 rounds to even 128


def test_maps_share_one_scale():
    maps = np.array([[[0.0, 1.0]], [[2.0, 4.0]]], dtype=np.float32)  # [2, 1, 2]
    assert maps_scale(maps) == 4.0
    rgb = maps_rgb8(maps)
    assert rgb.shape == (2, 1, 2, 3)
    assert tuple(rgb[0, 0, 0]) == tuple(maps_rgb8(np.zeros(1), 1.0)[0])  # 0 -> the bottom colour
    assert tuple(rgb[1, 0, 1]) == tuple(maps_rgb8(np.ones(1), 1.0)[0])  # the top -> top colour
    assert tuple(rgb[0, 0, 1]) != tuple(rgb[1, 0, 1])  # 1.0 of 4.0 is not the top


def test_all_zero_maps_are_the_bottom_colour():
    rgb = maps_rgb8(np.zeros((2, 3, 3), dtype=np.float32))
    assert len({tuple(c) for c in rgb.reshape(-1, 3)}) == 1


def test_to_rgb8_clips_and_rounds():
    np.testing.assert_array_equal(to_rgb8(np.array([-0.1, 0.0, 0.002, 1.0, 1.5])), [0, 0, 1, 255, 255])


def test_the_viridis_table_is_matplotlibs_and_pyqtgraphs():
    """The table is kept as bytes so that nothing imports matplotlib for it; both libraries give the same."""
    from matplotlib import colormaps
    from pyqtgraph import colormap

    theirs = np.round(colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)
    window = np.asarray(colormap.get("viridis").getLookupTable(nPts=256, alpha=False), dtype=np.uint8)
    assert VIRIDIS.shape == (256, 3) and VIRIDIS.dtype == np.uint8 and not VIRIDIS.flags.writeable
    np.testing.assert_array_equal(VIRIDIS, theirs)
    np.testing.assert_array_equal(VIRIDIS, window)
    assert len({tuple(c) for c in VIRIDIS}) > 250  # a real table (two neighbours round alike), not one colour


def test_a_colour_bar_shows_the_colours_its_tiles_are_drawn_with():
    np.testing.assert_array_equal(scale_colours("viridis")[0], VIRIDIS)
    assert scale_colours("signed")[0, [0, 128, 255]].tolist() == [[0, 0, 0], [128, 128, 128], [255, 255, 255]]
    # the signed scale is projection_rgb8's grey: -max|p| black, 0 grey, +max|p| white
    p = np.tile(np.array([-1.0, 0.0, 1.0], np.float32), (3, 1, 1))  # [3, 1, 3]: every channel -1, 0, 1
    assert projection_rgb8(p)[0, :, 0].tolist() == [0, 128, 255]


def test_grey_spans_the_map_and_class_maps_fit_the_classes():
    assert grey_rgb8(np.array([[2.0, 3.0, 4.0]]))[0, :, 0].tolist() == [0, 128, 255]
    assert grey_rgb8(np.full((2, 2), 7.0)).max() == 0  # a flat map: all black, never a division by zero
    assert class_cmap(10) == "tab10" and class_cmap(11) == "tab20"


def test_class_colours_are_matplotlibs_as_the_occlusion_figure_draws_them():
    """The window's most-probable-class map takes the colour the figure's imshow gives each class."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    for n in (2, 10, 11, 100, 1000):
        labels = np.arange(n)
        norm = Normalize(-0.5, max(n, 10) - 0.5)
        theirs = np.round(colormaps[class_cmap(n)](norm(labels))[:, :3] * 255).astype(np.uint8)
        np.testing.assert_array_equal(class_rgb8(labels, n), theirs, err_msg=f"{n} classes")
    assert len({tuple(c) for c in class_rgb8(np.arange(10), 10)}) == 10  # ten classes, ten colours
