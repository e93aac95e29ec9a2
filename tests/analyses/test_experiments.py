"""`cnn-explorer export occlusion | evolution | invariance`: the same bytes as the API, the data it promises, one-line errors."""

from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.analyses import EvolutionRequest, InvarianceRequest, OcclusionRequest, model_label
from explorer.cli import main
from explorer.core.checkpoint import atomic_save
from explorer.core.model import CLASSES, SeedNet
from explorer.core.training import snapshot_tensors
from explorer.render import write


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory) -> Path:
    torch.manual_seed(8)
    early = snapshot_tensors(SeedNet())
    path = tmp_path_factory.mktemp("snaps") / "snaps.pt"
    atomic_save({f"epoch{e}/{k}": v for e in (2, 9) for k, v in early.items() if k.startswith("conv1")}, path)
    return path


def cases(snapshot_file):
    return [
        (
            ["occlusion", "--image", "3", "--layer", "conv2", "--feature", "7", "--size", "6", "--stride", "4"],
            OcclusionRequest(3, "conv2", 7, 6, 4),
            "svg",
        ),
        (
            [
                "evolution",
                "--layer",
                "conv1",
                "--features",
                "0,5",
                "--images",
                "0:8",
                "--snapshots",
                str(snapshot_file),
            ],
            EvolutionRequest("conv1", (0, 5), tuple(range(8)), str(snapshot_file)),
            "pdf",
        ),
        (
            ["invariance", "--image", "1", "--transform", "rotate", "--layers", "conv1,conv2", "--values=-20,0,20"],
            InvarianceRequest(1, "rotate", ("conv1", "conv2"), (-20.0, 0.0, 20.0)),
            "png",
        ),
    ]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["occlusion", "evolution", "invariance"])
def test_command_line_matches_the_api_byte_for_byte(
    which, model, dataset, checkpoint, image_folder, snapshot_file, tmp_path
):
    argv, request, ext = cases(snapshot_file)[which]
    common = ["--data", str(image_folder), "--checkpoint", str(checkpoint), "--device", "cpu", "--dpi", "80"]
    out = tmp_path / f"cli.{ext}"
    assert main(["export", *argv, *common, "--out", str(out)]) == 0
    data = request.compute(model, dataset, model_name=model_label(checkpoint))
    api = write(data, tmp_path / f"api.{ext}", dpi=80)
    again = write(data, tmp_path / f"again.{ext}", dpi=80)
    assert out.read_bytes() == api.read_bytes() == again.read_bytes()
    assert len(out.read_bytes()) > 1000


def test_occlusion_figure_holds_the_true_class_and_the_feature(model, dataset):
    data = OcclusionRequest(5, "conv1", 2, 8, 8).compute(model, dataset, model_name="m")
    # The folder's ship/ is class 1 of the folder and class 8 of the CIFAR-10 model: labels match by name.
    label = CLASSES.index(dataset.classes[int(dataset.labels[5])])
    assert data.target == label and data.target_name == CLASSES[label]
    assert data.ys == data.xs == (0, 8, 16, 24)
    assert data.target_probs.shape == data.activation.shape == data.top_class.shape == (4, 4)
    from explorer.core.occlusion_sensitivity import occlusion

    r = occlusion(model, dataset.tensor([5]), size=8, stride=8, layer="conv1", feature=2)
    np.testing.assert_allclose(data.target_probs, r.probs[0, label].numpy())
    np.testing.assert_allclose(data.activation, r.activation[0].numpy())


def test_evolution_figure_names_dataset_indices(model, dataset, snapshot_file):
    request = EvolutionRequest("conv1", (1,), (2, 4, 6), str(snapshot_file))
    data = request.compute(model, dataset, model_name="m")
    assert data.request is request and data.epochs == (2, 9)
    assert set(data.indices.ravel().tolist()) <= {2, 4, 6}  # positions in the set mapped back to the dataset
    assert data.tiles.shape == (2, 1, 32, 32, 3) and data.tiles.dtype == np.uint8


def test_invariance_figure_puts_the_true_class_first(model, dataset):
    data = InvarianceRequest(0, "translate", ("conv2",)).compute(model, dataset, model_name="m")
    assert data.values == tuple(float(v) for v in range(-8, 9))
    assert data.shown[0] == CLASSES.index(dataset.classes[int(dataset.labels[0])]) and len(data.shown) == 4
    assert data.distance.shape == (1, 17) and data.distance[0, 8] == 0.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["occlusion", "--layer", "fc9"], "--layer fc9: unknown layer"),
        (["occlusion", "--feature", "32", "--layer", "conv1"], "--feature"),
        (["occlusion", "--size", "40"], "size 40"),
        (["occlusion", "--image", "99"], "--image"),
        (["invariance", "--transform", "translate", "--values", "1.5"], "whole pixels"),
        (["invariance", "--transform", "scale", "--values", "a,b"], "--values a,b"),
        (["invariance", "--transform", "scale", "--fill", "3"], "--fill 3"),
        (["evolution", "--snapshots", "/nonexistent/s.pt"], "no such checkpoint file"),
        (["evolution", "--features", "0:99"], "--features"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, message, checkpoint, image_folder, tmp_path, capsys):
    common = ["--data", str(image_folder), "--checkpoint", str(checkpoint), "--device", "cpu"]
    out = tmp_path / "x.png"
    assert main(["export", *argv, *common, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err, err
    assert not out.exists()
