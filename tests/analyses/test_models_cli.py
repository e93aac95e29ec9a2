"""Every subcommand opens any model: bundled, torchvision by name, a user's class from a file or a module, a model card."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pypdf
import pytest
import torch
import torchvision

from explorer.cli import main
from explorer.core import layers, load_model
from explorer.core.errors import CheckpointError, ModelError

USER_MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            )
            self.fc = nn.Linear(16, num_classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.features(x), 1))

    class NotAModel:
        pass
    """
)


@pytest.fixture(scope="module")
def user_model(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("user")
    source = folder / "tiny_model.py"
    source.write_text(USER_MODEL)
    sys.path.insert(0, str(folder))
    try:
        from tiny_model import Tiny  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(folder))
    torch.manual_seed(0)
    weights = folder / "tiny.pt"
    torch.save(Tiny().state_dict(), weights)
    return source, weights


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory) -> Path:
    """torchvision's VGG-11-BN with random weights saved to a file (no model hub here)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tv") / "vgg11_bn.pt"
    torch.save(torchvision.models.vgg11_bn(num_classes=10).state_dict(), path)
    return path


def test_user_class_from_a_file_scans_and_exports(user_model, image_folder, tmp_path):
    source, weights = user_model
    spec = f"{source}:Tiny"
    model = load_model(spec, weights, input_size=32)
    assert [lay.name for lay in layers(model)] == ["features.1", "features.5"]
    assert torch.equal(model.state_dict()["fc.weight"], torch.load(weights)["fc.weight"])
    common = ["--model", spec, "--checkpoint", str(weights), "--input-size", "32", "--data", str(image_folder)]
    out = tmp_path / "top.npz"
    assert main(["scan", *common, "-k", "2", "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["features.5.indices"].shape == (16, 2)
    fig = tmp_path / "p.png"
    assert main(["export", "projections", *common, "--layer", "features.5", "--out", str(fig)]) == 0
    assert fig.stat().st_size > 0


def test_torchvision_by_name_with_a_state_dict(vgg_weights, image_folder, tmp_path):
    model = load_model("torchvision:vgg11_bn", vgg_weights, num_classes=10, input_size=32)
    assert model.explorer_info.mean == (0.485, 0.456, 0.406)  # ImageNet normalisation by default
    assert [lay.name for lay in layers(model)][:2] == ["features.2", "features.6"]
    out = tmp_path / "maps.png"
    argv = ["export", "maps", "--model", "torchvision:vgg11_bn", "--checkpoint", str(vgg_weights)]
    argv += ["--num-classes", "10", "--input-size", "32", "--layer", "features.6", "--data", str(image_folder)]
    assert main([*argv, "--out", str(out)]) == 0


def test_a_model_card_holds_the_settings(user_model, image_folder, tmp_path):
    source, weights = user_model
    card = tmp_path / "tiny.toml"
    card.write_text(
        f'model = "{source}:Tiny"\ncheckpoint = "{weights}"\ninput_size = 32\n'
        'mean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\nname = "Tiny, trained"\n'
    )
    model = load_model(str(card))
    info = model.explorer_info
    assert info.name == "Tiny, trained" and info.input_size == 32 and info.std == (0.25, 0.25, 0.25)
    # layer names stay those of the user's model, though the explorer normalises in front of it
    assert [lay.name for lay in layers(model)] == ["features.1", "features.5"]
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(model(x), model.inner((x - 0.5) / 0.25))
    assert main(["scan", "--model", str(card), "--data", str(image_folder), "--out", str(tmp_path / "t.npz")]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "{src}:Nope"], "{src}: defines no 'Nope'"),
        (["--model", "{src}:NotAModel"], "'NotAModel' is not an nn.Module class"),
        (["--model", "{dir}/missing.py:Tiny"], "missing.py: no such Python file"),
        (["--model", "torchvision:vgg11_bn", "--num-classes", "10", "--checkpoint", "{w}"], "missing keys"),
        (["--model", "torchvision:resnet999"], "torchvision:resnet999: no such torchvision classifier"),
        (
            ["--model", "{src}:Tiny", "--layers", "fc"],
            "--layers fc: not a layer of this model (its layers: features.1, features.5)",
        ),
        (
            ["--model", "{src}:Tiny", "--num-classes", "0"],
            "argument --num-classes: 0 is out of range: must be between 1 and 100000",
        ),
        (["--model", "{src}:Tiny", "--mean", "0.5,0.5"], "expected three numbers R,G,B"),
        (["--model", "{src}:Tiny", "--mean", "0.5,0.5,0.5"], "--mean and --std go together"),
    ],
)
def test_bad_models_give_one_line_and_exit_2(argv, message, user_model, image_folder, tmp_path, capsys):
    source, weights = user_model
    fill = {"src": str(source), "dir": str(tmp_path), "w": str(weights)}
    argv = [a.format(**fill) for a in argv]
    out = tmp_path / "x.npz"
    try:
        code = main(["scan", *argv, "--data", str(image_folder), "--out", str(out)])
    except SystemExit as exc:  # argparse's own checks exit from parse_args
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message.format(**fill) in err
    assert not out.exists()


def test_a_model_that_fails_on_its_input_size_is_named(tmp_path):
    torch.save(torchvision.models.alexnet(num_classes=10).state_dict(), tmp_path / "a.pt")
    with pytest.raises(ModelError, match=r"AlexNet: fails on a 3x16x16 input .*--input-size"):
        load_model("torchvision:alexnet", tmp_path / "a.pt", num_classes=10, input_size=16)


def test_a_state_dict_for_another_architecture_names_keys(tmp_path):
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tmp_path / "r.pt")
    with pytest.raises(
        CheckpointError, match=r"r\.pt: not a torchvision:vgg11_bn state dict \(missing keys: .*unexpected keys"
    ):
        load_model("torchvision:vgg11_bn", tmp_path / "r.pt", num_classes=10)


def test_resnet_with_users_weights_at_two_sizes(tmp_path):
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tmp_path / "r.pt")
    model = load_model("torchvision:resnet18", tmp_path / "r.pt", num_classes=10, input_size=64)
    found = {lay.name: lay for lay in layers(model)}
    assert found["layer2.0.relu_1"].size == (8, 8)  # at the model's input size, 64 px
    from explorer.core import project

    for size in (32, 64):
        out = project(model, torch.rand(1, 3, size, size), "layer2.0.relu_1", [0, 1])
        assert out.shape == (1, 2, 3, size, size) and torch.isfinite(out).all()


def test_layers_command_lists_names_sizes_and_fields(user_model, capsys):
    source, weights = user_model
    assert main(["layers", "--model", f"{source}:Tiny", "--checkpoint", str(weights), "--input-size", "32"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Tiny (tiny.pt), input 32x32, 10 classes:"
    assert out[2].split() == ["features.1", "8", "32x32", "3", "no"]
    assert out[3].split() == ["features.5", "16", "16x16", "8", "yes"]


@pytest.mark.parametrize(
    "figure",
    [
        ["projections", "--layer", "features.5", "--image", "0"],
        ["occlusion", "--layer", "features.5", "--image", "0", "--size", "16", "--stride", "8"],
        ["invariance", "--layers", "features.1,features.5", "--image", "0", "--transform", "rotate"],
        ["maximize", "--layer", "features.5", "--features", "0:2", "--steps", "4"],
    ],
    ids=lambda argv: argv[0],
)
def test_every_figure_names_the_model_it_was_made_with(figure, user_model, image_folder, tmp_path, capsys):
    # A figure titled "SeedNet (bundled)" while it shows another model is a wrong picture: every figure
    # names the model the command opened, as the window's figures do.
    source, weights = user_model
    model = ["--model", f"{source}:Tiny", "--checkpoint", str(weights)]
    out = tmp_path / "figure.pdf"
    assert main(["export", *figure, *model, "--data", str(image_folder), "--out", str(out)]) == 0
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(out).pages)
    assert "Tiny (tiny.pt)" in text and "SeedNet" not in text, text
