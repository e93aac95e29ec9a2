"""Each format read back with an independent reader: the tiles at native resolution, the labels as real text."""

import base64
import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pypdf
import pytest
from PIL import Image

from explorer.render import render, write
from explorer.render.files import WriteError
from explorer.render.grid_render import layout

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


@pytest.fixture
def figure(grid_figure):
    return grid_figure


def _words(data):
    """Every line of text the figure must carry: title and caption as wrapped, and each label line."""
    lay = layout(data)
    labels = [line for label in data.labels for line in label.splitlines()]
    return list(lay.title_lines), list(lay.caption_lines), labels


def test_png_size_follows_the_dpi_and_tiles_are_not_smoothed(figure, tmp_path):
    path = write(figure, tmp_path / "fig.png", dpi=120)
    lay = layout(figure)
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (math.floor(lay.width * 120), math.floor(lay.height * 120))
        assert [round(v) for v in img.info["dpi"]] == [120, 120]
        pixels = np.asarray(img.convert("RGB"))
    fig = render(figure)
    h, w = pixels.shape[:2]
    assert len(fig.axes) == len(figure.tiles) + 1  # the tiles, then the colour bar
    for ax, tile in zip(fig.axes[: len(figure.tiles)], figure.tiles, strict=True):
        box = ax.get_position()
        top, bottom = math.ceil((1 - box.y1) * h) + 1, math.floor((1 - box.y0) * h) - 1
        left, right = math.ceil(box.x0 * w) + 1, math.floor(box.x1 * w) - 1
        shown = {tuple(c) for c in pixels[top:bottom, left:right].reshape(-1, 3)}
        colours = {tuple(c) for c in tile.reshape(-1, 3)}
        assert shown <= colours  # nearest neighbour: no colour that is not in the tile
        assert len(shown) > 0.9 * len(colours)


def test_svg_has_native_images_and_real_text(figure, tmp_path):
    path = write(figure, tmp_path / "fig.svg")
    root = ET.parse(path).getroot()
    images = root.findall(f".//{SVG}image")
    assert len(images) == len(figure.tiles) + 1  # the tiles, then the colour bar
    for element, tile in zip(images[: len(figure.tiles)], figure.tiles, strict=True):
        href = element.get(f"{XLINK}href") or element.get("href")
        assert href.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(href.split(",", 1)[1]))) as embedded:
            np.testing.assert_array_equal(np.asarray(embedded.convert("RGB")), tile)  # native pixels, as they are
        assert "pixelated" in element.get("style", "")
    texts = {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}
    title, caption, labels = _words(figure)
    assert set(title) | set(caption) | set(labels) <= texts
    assert not any((p.get("id") or "").startswith("DejaVu") for p in root.iter(f"{SVG}path"))  # no glyph outlines


def test_pdf_has_text_and_image_xobjects(figure, tmp_path):
    path = write(figure, tmp_path / "fig.pdf")
    reader = pypdf.PdfReader(path)
    assert len(reader.pages) == 1
    page = reader.pages[0]
    text = page.extract_text()
    title, _caption, labels = _words(figure)
    for line in title + labels:
        assert line in text
    xobjects = page["/Resources"]["/XObject"]
    images = [x.get_object() for x in xobjects.values() if x.get_object()["/Subtype"] == "/Image"]
    assert len(images) == len(figure.tiles) + 1  # the tiles, then the colour bar
    assert sorted((int(o["/Width"]), int(o["/Height"])) for o in images) == sorted(
        [(t.shape[1], t.shape[0]) for t in figure.tiles] + [(256, 1)]  # the colour bar: 256 colours in a line
    )
    assert all(not o.get("/Interpolate", False) for o in images)  # the viewer is asked not to smooth
    fonts = page["/Resources"]["/Font"]
    assert any(f.get_object()["/Subtype"] in ("/TrueType", "/Type0") for f in fonts.values())
    assert reader.metadata.title == figure.title
    assert reader.metadata.creation_date is None


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_same_figure_same_bytes(figure, tmp_path, ext):
    first = write(figure, tmp_path / f"a.{ext}", dpi=100).read_bytes()
    second = write(figure, tmp_path / f"b.{ext}", dpi=100).read_bytes()
    assert first == second


def test_unknown_extension_is_refused_before_anything_is_written(figure, tmp_path):
    with pytest.raises(WriteError, match=r"fig\.jpg: unknown figure format \('\.jpg'\); use \.png, \.svg or \.pdf"):
        write(figure, tmp_path / "fig.jpg")
    with pytest.raises(WriteError, match="does not exist"):
        write(figure, tmp_path / "missing" / "fig.png")
    assert list(tmp_path.iterdir()) == []
