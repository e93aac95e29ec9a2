"""`cnn-explorer export maximize`: the synthesized images as a figure, the same bytes as the API and the view."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.analyses.maximize import MaximizeRequest, images_rgb8, maximize_figure
from explorer.analyses.names import model_label
from explorer.cli import main
from explorer.core import maximize
from explorer.core.synthesis import MaximizeSettings, feature_response
from explorer.render import write

SETTINGS = ["--steps", "4", "--param", "fourier", "--lr", "0.1", "--jitter", "1", "--blur-every", "2"]


def _cli(argv: list[str], checkpoint, out) -> int:
    return main(["export", "maximize", *argv, "--checkpoint", str(checkpoint), "--device", "cpu", "--out", str(out)])


@pytest.mark.parametrize("ext", ["png", "svg"])
def test_command_line_matches_the_api_and_repeats_byte_for_byte(ext, model, checkpoint, tmp_path):
    argv = ["--layer", "conv2", "--features", "3,7,60", *SETTINGS, "--dpi", "60"]
    first, second = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
    assert _cli(argv, checkpoint, first) == 0
    assert _cli(argv, checkpoint, second) == 0
    settings = MaximizeSettings(steps=4, param="fourier", lr=0.1, jitter=1, blur_every=2)
    request = MaximizeRequest("conv2", (3, 7, 60), settings)
    data = request.compute(model, None, model_name=model_label(checkpoint))
    api = write(data, tmp_path / f"api.{ext}", dpi=60)
    assert first.read_bytes() == second.read_bytes() == api.read_bytes()


def test_the_view_path_gives_the_same_figure_as_compute(model, checkpoint):
    """The view keeps images per feature and builds the figure from them: the same tiles and labels."""
    request = MaximizeRequest("conv1", (0, 5), MaximizeSettings(steps=3))
    data = request.compute(model, None, model_name="m")
    parts = [maximize(model, "conv1", [f], steps=3) for f in (0, 5)]
    values = [float(feature_response(model, p, "conv1", [f])[0]) for p, f in zip(parts, (0, 5), strict=True)]
    pictures = np.concatenate([images_rgb8(p) for p in parts])
    view = maximize_figure(request, (0, 5), pictures, values, model_name="m")
    assert data.labels == view.labels
    assert all(np.array_equal(a, b) for a, b in zip(data.tiles, view.tiles, strict=True))
    assert data.tiles[0].shape == (32, 32, 3) and data.caption == view.caption
    assert data.request is view.request is request


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--layer", "conv9"], "--layer conv9"),
        (["--layer", "conv2", "--features", "64"], "--features 64"),
        (["--layer", "conv2", "--steps", "-1"], "steps"),
        (["--layer", "conv2", "--lr", "0"], "lr"),
        (["--layer", "conv2", "--columns", "0"], "--columns 0"),
    ],
)
def test_bad_arguments_give_one_line(argv, message, checkpoint, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert _cli(argv, checkpoint, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not out.exists()
