"""`cnn-explorer export cam | sanity`: the same bytes as the API, the data it promises, one-line errors."""

import numpy as np
import pytest
import torch

from explorer.analyses import CamRequest, SanityRequest, model_label
from explorer.cli import main
from explorer.core import cam, upsample_cam
from explorer.render import write


def _common(checkpoint, image_folder):
    return ["--data", str(image_folder), "--checkpoint", str(checkpoint), "--device", "cpu", "--dpi", "60"]


@pytest.mark.parametrize(
    ("argv", "request_", "ext"),
    [
        (
            ["cam", "--image", "3", "--layer", "conv1", "--method", "layercam", "--target", "4"],
            CamRequest("conv1", 3, "layercam", 4),
            "svg",
        ),
        (["sanity", "--image", "1,6", "--seed", "3", "--depth", "2"], SanityRequest((1, 6), 3, 2), "png"),
    ],
    ids=["cam", "sanity"],
)
def test_command_line_matches_the_api_byte_for_byte(
    argv, request_, ext, model, dataset, checkpoint, image_folder, tmp_path
):
    out = tmp_path / f"cli.{ext}"
    assert main(["export", *argv, *_common(checkpoint, image_folder), "--out", str(out)]) == 0
    data = request_.compute(model, dataset, model_name=model_label(checkpoint))
    api = write(data, tmp_path / f"api.{ext}", dpi=60)
    again = write(data, tmp_path / f"again.{ext}", dpi=60)
    assert out.read_bytes() == api.read_bytes() == again.read_bytes()
    assert len(out.read_bytes()) > 1000


def test_cam_figure_holds_the_engine_map_and_names_what_it_shows(model, dataset):
    data = CamRequest(None, 2).compute(model, dataset, model_name="my model")
    x = dataset.tensor([2])
    with torch.no_grad():
        probs = model(x).softmax(1)[0]
    predicted = int(probs.argmax())
    expected = cam(model, x, "conv2", method="gradcam")
    assert data.layer == "conv2" and data.target == predicted and data.method == "gradcam"
    np.testing.assert_array_equal(data.cam, expected[0].numpy())
    np.testing.assert_array_equal(data.overlay, upsample_cam(expected, 32)[0].numpy())
    assert data.probability == pytest.approx(float(probs[predicted]))
    for words in ("Grad-CAM", "conv2", f"class {predicted}", data.target_name, "my model"):
        assert words in data.title


def test_sanity_export_is_deterministic_for_a_seed(checkpoint, image_folder, tmp_path, capsys):
    common = _common(checkpoint, image_folder)
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    for path, seed in zip(paths, ("5", "5", "6"), strict=True):
        assert main(["export", "sanity", "--image", "0:3", "--seed", seed, *common, "--out", str(path)]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()
    out = capsys.readouterr().out
    assert "4 steps; rank correlation after fc2: gradient" in out


def test_sanity_figure_has_every_step_of_the_seednet_cascade(model, dataset):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = SanityRequest((0, 4), 1, None, ("guided", "gradcam")).compute(model, dataset, model_name="m")
    assert data.result.layers == ("fc2", "fc1", "conv2", "conv1")
    assert set(data.result.spearman) == {"guided", "gradcam"}
    assert data.images.shape == (2, 32, 32, 3) and data.result.pictures["guided"].shape == (5, 2, 32, 32)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cam", "--method", "gradcam+"], "--method gradcam+: unknown"),
        (["cam", "--layer", "fc9"], "--layer fc9"),
        (["cam", "--target", "10"], "--target 10"),
        (["cam", "--target", "x"], "--target x"),
        (["cam", "--image", "99"], "--image 99"),
        (["sanity", "--image", "0,99"], "--image 0,99"),
        (["sanity", "--depth", "0"], "--depth 0"),
        (["sanity", "--methods", "gradient,smoothgrad"], "--methods gradient,smoothgrad: unknown smoothgrad"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, message, checkpoint, image_folder, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["export", *argv, *_common(checkpoint, image_folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err, err
    assert not out.exists()


def test_bad_output_is_refused_before_any_work(checkpoint, image_folder, tmp_path, capsys):
    out = tmp_path / "x.txt"
    assert main(["export", "cam", *_common(checkpoint, image_folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "unknown figure format" in err
    assert main(["export", "sanity", *_common(checkpoint, image_folder), "--out", str(checkpoint)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
