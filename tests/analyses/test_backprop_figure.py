"""`cnn-explorer export backprop`: the counted delta as a figure, same bytes as the API, numbers as real text."""

from __future__ import annotations

import re

import numpy as np
import pytest

from explorer.analyses.backprop import BackpropRequest, finger_grid, number
from explorer.analyses.colours import signed_rgb8
from explorer.analyses.names import model_label
from explorer.cli import main
from explorer.core.backprop import explain_delta
from explorer.core.model import CLASSES
from explorer.render import write


def _cli(argv: list[str], image_folder, checkpoint, out) -> int:
    common = ["--data", str(image_folder), "--checkpoint", str(checkpoint), "--device", "cpu", "--out", str(out)]
    return main(["export", "backprop", *argv, *common])


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_command_line_matches_the_api_and_repeats_byte_for_byte(
    ext, model, dataset, checkpoint, image_folder, tmp_path
):
    argv = ["--layer", "conv2", "--image", "5", "--channel", "3", "--position", "0,9", "--dpi", "80"]
    first, second = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
    assert _cli(argv, image_folder, checkpoint, first) == 0
    assert _cli(argv, image_folder, checkpoint, second) == 0
    request = BackpropRequest("conv2", 5, 3, 0, 9)
    data = request.compute(model, dataset, model_name=model_label(checkpoint))
    api = write(data, tmp_path / f"api.{ext}", dpi=80)
    assert first.read_bytes() == second.read_bytes() == api.read_bytes()


def test_the_figure_holds_the_counting_of_the_true_label(model, dataset):
    data = BackpropRequest("conv2", 2, 7, 4, 5).compute(model, dataset)
    x = dataset.tensor([2])
    true = CLASSES.index(dataset.classes[int(dataset.labels[2])])  # the folder's cat/ is CIFAR-10's class 3
    e = explain_delta(model, x, true, "conv2", 7, 4, 5)
    assert data.explanation.total == e.total and data.label == true
    assert data.out_channel == int(np.argmax([abs(e.channel_sum(o)) for o in range(64)]))
    # the grid laid out as rot180(k): cell [i][j] holds the weight k[4 - i, 4 - j]
    grid = finger_grid(data.explanation, data.out_channel)
    k = data.explanation.kernel[data.out_channel]
    for i in range(5):
        for j in range(5):
            assert grid[i][j] is not None and grid[i][j][1] == k[4 - i, 4 - j]


def test_svg_numbers_are_text(model, dataset, checkpoint, image_folder, tmp_path):
    out = tmp_path / "fig.svg"
    assert _cli(["--layer", "conv1", "--image", "1", "--channel", "2", "--position", "31,0", "--out-channel", "4"],
                image_folder, checkpoint, out) == 0  # fmt: skip
    svg = out.read_text()
    data = BackpropRequest("conv1", 1, 2, 31, 0, out_channel=4).compute(model, dataset)
    texts = set(re.findall(r">([^<>]+)</text>", svg))
    kernel = data.explanation.kernel[4]
    assert {number(v) for v in kernel.flatten()} <= texts, "every weight is printed as text"
    assert any(t.startswith("all 32 output channels") and f"{data.explanation.total:.6e}" in t for t in texts)
    assert "pad" in texts  # the corner element fed no output above or beside it


def test_signed_colours_are_white_at_zero_and_symmetric():
    rgb = signed_rgb8(np.array([[-2.0, 0.0, 2.0]]))
    assert rgb[0, 1].tolist() == [255, 255, 255]
    assert rgb[0, 0].tolist() == rgb[0, 2][::-1].tolist()  # blue mirrors red


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--position", "3"], "error: --position 3: use ROW,COL"),
        (["--position", "3,x"], "error: --position 3,x: 'x' is not a whole number"),
        (
            ["--layer", "conv2", "--position", "16,0"],
            "error: position (0, 16, 0) is outside conv2's input [32, 16, 16]",
        ),
        (["--layer", "fc1"], "error: layer 'fc1': is Linear, not a Conv2d"),
        (["--layer", "conv3"], "error: layer 'conv3': no such module (conv layers: conv1, conv2)"),
        (["--image", "8"], "error: --image 8: 8 is out of range 0..7"),
        (["--out-channel", "64"], "error: output channel 64: conv2 has 64"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, message, checkpoint, image_folder, tmp_path, capsys):
    assert _cli(argv, image_folder, checkpoint, tmp_path / "x.png") == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == []
