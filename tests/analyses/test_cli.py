"""`cnn-explorer export` gives the same bytes as the API (request.compute, render.write) for the same state, and one-line errors."""

import dataclasses
from pathlib import Path

import pytest

from explorer.analyses import FeatureRequest, MapsRequest, MaxActRequest, ProjectionsRequest, TopKRequest, model_label
from explorer.cli import main
from explorer.core.scan import scan_top_k
from explorer.render import write

CASES = [
    (["maps", "--layer", "conv2", "--image", "3"], MapsRequest("conv2", image=3), "png"),
    (
        ["projections", "--layer", "conv2", "--image", "5", "--features", "0:6", "--method", "guided", "--keep", "max"],
        ProjectionsRequest("conv2", image=5, features=tuple(range(6)), method="guided", keep="max"),
        "svg",
    ),
    (
        ["feature", "--layer", "conv1", "--feature", "7", "--images", "0:8:2", "--unpool", "fill", "--columns", "2"],
        FeatureRequest("conv1", feature=7, images=(0, 2, 4, 6), unpool="fill", columns=2),
        "pdf",
    ),
    (
        ["topk", "--layer", "conv2", "--features", "1,4", "-k", "3"],
        TopKRequest("conv2", features=(1, 4), k=3),
        "pdf",
    ),
    (
        ["maxact", "--layer", "conv1", "--images", "1:7"],
        MaxActRequest("conv1", images=tuple(range(1, 7))),
        "png",
    ),
]


@pytest.mark.parametrize(("argv", "request_", "ext"), CASES, ids=[c[0][0] for c in CASES])
def test_command_line_matches_the_api(argv, request_, ext, model, dataset, checkpoint, image_folder, tmp_path, capsys):
    out = tmp_path / f"cli.{ext}"
    common = ["--data", str(image_folder), "--checkpoint", str(checkpoint), "--device", "cpu", "--dpi", "90"]
    assert main(["export", *argv, *common, "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    if request_.kind == "topk":
        request_ = dataclasses.replace(
            request_, top_k=scan_top_k(model, dataset, [request_.layer], request_.k)[request_.layer]
        )
    data = request_.compute(model, dataset, model_name=model_label(checkpoint))
    api = write(data, tmp_path / f"api.{ext}", dpi=90)
    assert out.read_bytes() == api.read_bytes()


def test_probes_work_offline(checkpoint, tmp_path):
    out = tmp_path / "probes.png"
    argv = ["export", "maps", "--data", "probes", "--checkpoint", str(checkpoint), "--device", "cpu", "--out", str(out)]
    assert main(argv) == 0
    assert out.stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["maps", "--layer", "conv3"], "error: --layer conv3: not a layer of this model (its layers: conv1, conv2)"),
        (["feature", "--feature", "32"], "error: --feature 32: 32 is out of range 0..31"),
        (["feature", "--feature", "1", "--images", "0:x"], "error: --images 0:x: 'x' is not a whole number"),
        (["maxact", "--images", "0:256"], "error: --images 0:256: 256 is past the end (valid indices: 0..7)"),
        (["projections", "--method", "guided", "--unpool", "fill"], "error: --unpool fill: belongs to the deconvnet"),
        (["topk", "--features", "3:1"], "error: --features 3:1: selects nothing"),
        (["maps", "--dpi", "5"], "error: argument --dpi: 5 is out of range: must be between 10 and 2400"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, message, checkpoint, image_folder, tmp_path, capsys):
    common = ["--data", str(image_folder), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x.png")]
    try:
        code = main(["export", *argv, *common])
    except SystemExit as exc:  # argparse's own checks (type=) exit from the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == []  # nothing written, no temporary file


def test_bad_output_path(checkpoint, image_folder, tmp_path, capsys):
    common = ["--data", str(image_folder), "--checkpoint", str(checkpoint)]
    assert main(["export", "maps", *common, "--out", str(tmp_path / "fig.jpg")]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {tmp_path / 'fig.jpg'}: unknown figure format ('.jpg'); use .png, .svg or .pdf\n"
    )
    assert main(["export", "maps", *common, "--out", str(Path(tmp_path, "no", "fig.png"))]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_missing_kind_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["export"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")
