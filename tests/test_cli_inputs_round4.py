"""Trust, round four: what the command line reads is never written, never blocks, and is named when it is wrong.

Every export kind (taken from the parser, so a new kind is covered the day it is added) refuses an --out that is a
file it reads, writes KIND.png when no --out is given but never over an existing file, and refuses an --image it
cannot decode; FIFOs and folders given as a card or a class file are named at once; cards nested thousands deep
and card values that are wrong name the card and the key; folder names too long, seeds too big and sanity runs
too wide are one `error:` line. Each failure is exit status 2, one line, no traceback, and no file touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from trust_helpers import TINY, one_error_line, run_cli, time_limit

from explorer.commands.export import build_parser
from explorer.core.errors import ModelError
from explorer.core.loading import load_model
from explorer.core.model_card import read_card
from explorer.core.paths import OutputError, check_output

# What each kind needs besides --model, --data and --out to get as far as writing (the tiny model's layers).
NEEDS = {
    "backprop": ["--layer", "conv"],
    "occlusion": ["--layer", "relu"],
    "maximize": ["--layer", "relu", "--steps", "1"],
    "evolution": ["--layer", "relu", "--features", "0:2"],
    "invariance": ["--transform", "translate", "--layers", "relu", "--values=-1,0,1"],
    "feature": ["--feature", "0"],
    "topk": ["-k", "2"],
    "sanity": ["--depth", "1", "--methods", "gradient"],
}


def _kinds() -> dict[str, argparse.ArgumentParser]:
    """Every `export` kind, from the parser itself."""
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


KINDS = sorted(_kinds())
IMAGE_KINDS = sorted(k for k, p in _kinds().items() if "--image" in p._option_string_actions)


def test_the_kinds_are_all_there():
    assert {"maps", "projections", "cam", "sanity", "backprop", "occlusion", "maximize", "evolution"} <= set(KINDS)
    assert {"maps", "projections", "cam", "sanity", "backprop", "occlusion", "invariance"} <= set(IMAGE_KINDS)


@pytest.fixture
def cards(tmp_path) -> Path:
    """A folder with a model file, its weights and cards naming them (the weights also as tiny.png)."""
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "tiny.py").write_text(TINY)
    namespace: dict = {}
    exec(TINY, namespace)
    torch.manual_seed(0)
    torch.save(namespace["Tiny"]().state_dict(), folder / "tiny.pt")
    shutil.copy(folder / "tiny.pt", folder / "tiny.png")
    (folder / "names.png").write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    (folder / "good.toml").write_text('model = "tiny.py:Tiny"\ncheckpoint = "tiny.pt"\ninput_size = 32\n')
    (folder / "png.toml").write_text(
        'model = "tiny.py:Tiny"\ncheckpoint = "tiny.png"\ninput_size = 32\nclasses_file = "names.png"\n'
    )
    return folder


def _png(path: Path, value: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (value, 255 - value, 40)).save(path)
    return path


@pytest.fixture
def data(tmp_path) -> Path:
    folder = tmp_path / "data"
    for i in range(4):
        _png(folder / f"img{i}.png", 30 * i)
    return folder


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1. no export writes over a file it reads ------------------------------------------------------------------


@pytest.mark.parametrize("target", ["a data image", "the card's checkpoint", "the card's classes_file"])
@pytest.mark.parametrize("kind", KINDS)
def test_no_export_overwrites_a_file_it_reads(kind, target, cards, data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = {"a data image": data / "img1.png", "the card's checkpoint": cards / "tiny.png"}.get(
        target, cards / "names.png"
    )
    before = {"data": _listing(data), "cards": _listing(cards)}
    argv = ["export", kind, "--model", cards / "png.toml", "--data", data, "--device", "cpu", *NEEDS.get(kind, [])]
    code, stdout, err = run_cli(capsys, *argv, "--out", out)
    assert code == 2, (stdout, err)
    one_error_line(err, out.name, "refusing to overwrite")
    assert {"data": _listing(data), "cards": _listing(cards)} == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".png")]  # nor anything written elsewhere


@pytest.mark.parametrize("kind", ["cam", "sanity", "occlusion", "maximize"])
def test_an_out_spelled_otherwise_onto_a_data_image_is_refused(kind, cards, data, capsys, monkeypatch):
    """A relative path through `..` and a hard link name the same image."""
    monkeypatch.chdir(cards)
    os.link(data / "img2.png", data / "linked.png")  # one more image of the set, the same file as img2.png
    before = _listing(data)
    argv = ["export", kind, "--model", "good.toml", "--data", data, "--device", "cpu", *NEEDS.get(kind, [])]
    for out in (Path("..") / "data" / "img0.png", data / "linked.png"):
        code, _, err = run_cli(capsys, *argv, "--out", out)
        assert code == 2
        one_error_line(err, "refusing to overwrite")
    assert _listing(data) == before


def test_evolution_refuses_to_overwrite_its_snapshots(ckpt_copy, data, tmp_path, capsys):
    snaps = tmp_path / "snaps.png"  # a snapshot file, whatever its name
    shutil.copy(Path(__file__).resolve().parents[1] / "explorer" / "weights" / "seednet.snapshots.pt", snaps)
    before = snaps.read_bytes()
    argv = ["export", "evolution", "--checkpoint", ckpt_copy, "--data", data, "--snapshots", snaps]
    code, _, err = run_cli(capsys, *argv, "--out", snaps)
    assert code == 2
    one_error_line(err, "--snapshots", "refusing to overwrite")
    assert snaps.read_bytes() == before


@pytest.fixture
def ckpt_copy(tmp_path) -> Path:
    path = tmp_path / "seednet.pt"
    shutil.copy(Path(__file__).resolve().parents[1] / "explorer" / "weights" / "seednet.pt", path)
    return path


def test_the_same_kinds_still_write_a_new_file(cards, data, tmp_path, capsys):
    """The guard refuses what it must and no more: the same command with a new name writes it."""
    out = tmp_path / "cam.png"
    code, stdout, err = run_cli(
        capsys, "export", "cam", "--model", cards / "good.toml", "--data", data, "--device", "cpu", "--out", out
    )
    assert code == 0, err
    assert out.stat().st_size > 0 and "wrote" in stdout


# --- 7. --out defaults to KIND.png, never over an existing file --------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_documents_its_default_out(kind):
    text = " ".join(_kinds()[kind].format_help().split())
    assert f"default: {kind}.png in the current folder" in text


def test_projections_without_out_writes_projections_png_and_never_replaces_it(
    cards, data, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    argv = ["export", "projections", "--model", cards / "good.toml", "--data", data, "--device", "cpu"]
    argv += ["--layer", "relu", "--features", "0:2", "--image", "0"]
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    made = tmp_path / "projections.png"
    assert made.stat().st_size > 0 and "wrote projections.png" in stdout
    made.write_bytes(b"a figure the user kept")
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    one_error_line(err, "projections.png", "exists already", "--out")
    assert made.read_bytes() == b"a figure the user kept"
    assert sorted(os.listdir(tmp_path)) == ["cards", "data", "projections.png"]  # no temporary file either
    code, _, err = run_cli(capsys, *argv, "--out", "projections.png")  # named: replaced, as any --out
    assert code == 0, err
    assert made.read_bytes() != b"a figure the user kept"


@pytest.mark.parametrize("kind", KINDS)
def test_an_existing_default_is_refused_for_every_kind_before_any_work(
    kind, cards, data, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"{kind}.png").write_bytes(b"keep")
    argv = ["export", kind, "--model", cards / "good.toml", "--data", data, "--device", "cpu", *NEEDS.get(kind, [])]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    one_error_line(err, f"{kind}.png", "exists already")
    assert (tmp_path / f"{kind}.png").read_bytes() == b"keep"


# --- 8. an --image that cannot be decoded is an error, not a black picture -----------------------------------------


@pytest.mark.parametrize("broken", ["truncated", "not an image"])
@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_an_undecodable_image_named_by_image_is_an_error(kind, broken, cards, data, tmp_path, capsys):
    bad = data / "img1.png"
    bad.write_bytes(bad.read_bytes()[:60] if broken == "truncated" else b"hello, not a picture\n")
    out = tmp_path / "fig.png"
    argv = ["export", kind, "--model", cards / "good.toml", "--data", data, "--device", "cpu", *NEEDS.get(kind, [])]
    code, stdout, err = run_cli(capsys, *argv, "--image", "1", "--out", out)
    assert code == 2, (stdout, err)
    one_error_line(err, "--image 1", "img1.png", "cannot be read")
    assert not out.exists() and "wrote" not in stdout
    if kind == "sanity":  # one bad image in a range is enough
        code, _, err = run_cli(capsys, *argv, "--image", "0:3", "--out", out)
        assert code == 2
        one_error_line(err, "img1.png")
        assert not out.exists()


# --- 2. FIFOs and folders as a card or a class file ------------------------------------------------------------------


@pytest.mark.parametrize("what", ["fifo", "folder"])
@pytest.mark.parametrize("where", ["--model card", "--classes", "the card's classes_file", "the card's model file"])
@pytest.mark.parametrize("command", ["layers", "export"])
def test_a_fifo_or_folder_where_a_file_is_read_is_named_at_once(what, where, command, cards, data, tmp_path, capsys):
    special = tmp_path / {"--model card": "odd.toml", "the card's model file": "odd.py"}.get(where, "odd.txt")
    if what == "fifo":
        os.mkfifo(special)
    else:
        special.mkdir()
    card = cards / "good.toml"
    extra: list = []
    if where == "--model card":
        card = special
    elif where == "--classes":
        extra = ["--classes", special]
    else:
        card = cards / "odd-card.toml"
        line = f'classes_file = "{special}"' if where == "the card's classes_file" else ""
        model = f"{special}:Tiny" if where == "the card's model file" else "tiny.py:Tiny"
        card.write_text(f'model = "{model}"\ncheckpoint = "tiny.pt"\ninput_size = 32\n{line}\n')
    argv = ["layers"] if command == "layers" else ["export", "maps", "--data", data, "--out", tmp_path / "m.png"]
    with time_limit(20):
        code, _, err = run_cli(capsys, *argv, "--model", card, "--device", "cpu", *extra)
    assert code == 2
    kind = "a FIFO (named pipe)" if what == "fifo" else "a folder"
    line = one_error_line(err, special.name, f"is {kind}")
    if where.startswith("the card's"):
        assert line.startswith(f"error: {card}: ")
    assert not (tmp_path / "m.png").exists()


def test_the_reader_opens_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "card.toml"
    os.mkfifo(fifo)
    with time_limit(10), pytest.raises(ModelError, match=r"card\.toml: is a FIFO \(named pipe\), not a model card"):
        read_card(str(fifo))


# --- 3. a card nested thousands deep ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [5000, 100_000])
@pytest.mark.parametrize("command", ["layers", "export"])
def test_a_card_nested_thousands_deep_is_one_line_naming_it(depth, command, data, tmp_path, capsys):
    card = tmp_path / "deep.toml"
    card.write_text('model = "seednet"\nmean = ' + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ModelError, match=r"deep\.toml: .*nested too deep"):
        load_model(card)
    argv = ["layers"] if command == "layers" else ["export", "cam", "--data", data, "--out", tmp_path / "c.png"]
    code, _, err = run_cli(capsys, *argv, "--model", card)
    assert code == 2
    one_error_line(err, f"{card}: ", "nested too deep")
    assert not (tmp_path / "c.png").exists()


# --- 4. a card's errors name the card and the key ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "key", "says"),
    [
        ('interpolation = "lanczos"', "interpolation = 'lanczos'", "must be one of nearest, bilinear, bicubic"),
        ('classes = ["a", "b"]', 'classes = ["a", "b"]', "2 class names"),
        ('classes_file = "two.txt"', 'classes_file = "two.txt"', "2 class names"),
        ('checkpoint = "missing.pt"', 'checkpoint = "missing.pt"', "no such checkpoint file"),
        ('weights = "IMAGENET1K_V1"', 'weights = "IMAGENET1K_V1"', "only torchvision:NAME and timm:NAME"),
        ("std = [0.5, 0, 0.5]\nmean = [0.5, 0.5, 0.5]", "std = [0.5, 0, 0.5]", "must be positive"),
        ("mean = [0.5, 0.5, 0.5]", "mean without std", "both or neither"),
    ],
)
def test_a_card_value_that_is_wrong_is_named_with_its_card_and_key(lines, key, says, cards, capsys):
    (cards / "two.txt").write_text("a\nb\n")
    card = cards / "wrong.toml"
    model = "seednet" if "weights" in lines or "mean" in lines else "tiny.py:Tiny"
    checkpoint = "" if model == "seednet" or "checkpoint" in lines else 'checkpoint = "tiny.pt"\n'
    card.write_text(f'model = "{model}"\n{checkpoint}{lines}\n')
    code, _, err = run_cli(capsys, "layers", "--model", card, "--device", "cpu")
    assert code == 2
    line = one_error_line(err, key, says)
    assert line.startswith(f"error: {card}: "), line
    assert "--weights" not in line and "--classes" not in line  # no flag was given


def test_a_bad_weight_set_in_a_card_names_the_card_not_a_flag(tmp_path, capsys):
    card = tmp_path / "w.toml"
    card.write_text('model = "torchvision:resnet18"\nweights = "IMAGENET1K_V9"\n')
    code, _, err = run_cli(capsys, "layers", "--model", card)
    assert code == 2
    line = one_error_line(err, 'weights = "IMAGENET1K_V9"', "not a weight set of torchvision:resnet18")
    assert line.startswith(f"error: {card}: ") and "--weights" not in line
    # The same value given as the flag is named as the flag: it wins over the card.
    code, _, err = run_cli(capsys, "layers", "--model", card, "--weights", "IMAGENET1K_V8")
    assert code == 2
    assert one_error_line(err, "not a weight set").startswith("error: --weights IMAGENET1K_V8: ")


def test_a_class_file_given_as_a_flag_is_named_as_itself(cards, capsys):
    (cards / "two.txt").write_text("a\nb\n")
    code, _, err = run_cli(capsys, "layers", "--model", cards / "good.toml", "--classes", cards / "two.txt")
    assert code == 2
    assert one_error_line(err, "2 class names").startswith(f"error: {cards / 'two.txt'}: ")


# --- 5. folder names too long for the file system -----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["scan"], ["export", "cam"], ["export", "maps"], ["export", "maximize", "--layer", "conv2"], ["train"]],
)
@pytest.mark.parametrize("shape", ["a folder name of 300 bytes", "a path of 5000 bytes"])
def test_an_out_too_long_for_the_file_system_is_one_line(command, shape, tmp_path, capsys):
    suffix = {"scan": ".npz", "train": ".pt"}.get(command[0], ".png")
    if shape.startswith("a folder"):
        out = tmp_path / ("a" * 300) / f"x{suffix}"
        needle = "255 bytes"
    else:
        out = tmp_path.joinpath(*["b" * 200] * 25, f"x{suffix}")
        needle = "bytes allowed"
    code, _, err = run_cli(capsys, *command, "--data", "probes", "--device", "cpu", "--out", out)
    assert code == 2
    one_error_line(err, "--out", needle)
    assert os.listdir(tmp_path) == []


def test_check_output_names_the_long_folder(tmp_path):
    with pytest.raises(OutputError, match=r"the folder name a{24}\.\.\. is 256 bytes, longer than the 255"):
        check_output(tmp_path / "ok" / ("a" * 256) / "x.png")
    with pytest.raises(OutputError, match="does not exist"):  # a long name that fits is judged as before
        check_output(tmp_path / ("a" * 255) / "x.png")


# --- 6. sanity's seed and image count have bounds -----------------------------------------------------------------


@pytest.mark.parametrize("seed", ["99999999999999999999", str(2**63), "-1"])
def test_a_sanity_seed_out_of_range_is_one_line(seed, tmp_path, capsys):
    out = tmp_path / "s.png"
    code, _, err = run_cli(capsys, "export", "sanity", "--data", "probes", f"--seed={seed}", "--out", out)
    assert code == 2
    one_error_line(err, "--seed", "between 0 and 9223372036854775807")
    assert not out.exists()


def test_the_largest_seed_runs(tmp_path, capsys):
    out = tmp_path / "s.png"
    argv = ["export", "sanity", "--data", "probes", "--device", "cpu", "--methods", "gradient", "--depth", "1"]
    code, _, err = run_cli(capsys, *argv, "--seed", str(2**63 - 1), "--out", out)
    assert code == 0, err
    assert out.stat().st_size > 0


def test_a_sanity_run_of_too_many_images_is_refused_with_its_limit(cards, tmp_path, capsys):
    for i in range(70):
        _png(tmp_path / "many" / f"{i:02d}.png", i)
    out = tmp_path / "s.png"
    argv = ["export", "sanity", "--model", cards / "good.toml", "--data", tmp_path / "many", "--device", "cpu"]
    code, _, err = run_cli(capsys, *argv, "--image", "0:70", "--out", out)
    assert code == 2
    one_error_line(err, "--image 0:70", "70 images", "at most 64")
    assert not out.exists()
    code, _, err = run_cli(capsys, *argv, "--image", "0:70:2", "--methods", "gradient", "--depth", "1", "--out", out)
    assert code == 0, err  # 35 images: within the bound
    # Photo-size images weigh more: at 224x224 pixels the bound is 16 images.
    photo = ["--model", "torchvision:resnet18", "--weights", "random", "--data", tmp_path / "many", "--device", "cpu"]
    code, _, err = run_cli(capsys, "export", "sanity", *photo, "--image", "0:17", "--out", tmp_path / "p.png")
    assert code == 2
    one_error_line(err, "17 images of 224x224 pixels", "at most 16")
    assert not (tmp_path / "p.png").exists()


# --- defaults that fit the model, and models with nothing to show -----------------------------------------


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, size in enumerate(((90, 70), (64, 120))):
        Image.new("RGB", size, (40 + 60 * i, 90, 160)).save(folder / f"p{i}.png")
    return folder


@pytest.mark.parametrize("kind", ["occlusion", "invariance", "backprop"])
def test_experiment_defaults_fit_the_model_not_seednet(kind, photos, tmp_path, capsys):
    """--layer conv2 and an 8-pixel square were SeedNet's: a ResNet's layers and a square for its input size."""
    out = tmp_path / f"{kind}.png"
    extra = ["--transform", "rotate", "--values=-10,0,10"] if kind == "invariance" else []
    code, stdout, err = run_cli(
        capsys, "export", kind, "--model", "torchvision:resnet18", "--weights", "random", "--input-size", "64",
        "--data", photos, "--image", "0", "--out", out, *extra,
    )  # fmt: skip
    assert code == 0, err
    assert out.is_file()
    if kind == "occlusion":
        assert "layer4.1.relu_1 feature 0, 16x16 square" in stdout and "stride 4" in stdout
    elif kind == "invariance":
        assert "relu, layer4.1.relu_1" in stdout
    else:
        assert "layer1.0.conv1 input" in stdout


NO_MAPS = """
import torch
from torch import nn

class Flat(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 32 * 32, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x), 1))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["layers"],
        ["scan", "--out", "{tmp}/s.npz"],
        ["export", "projections", "--image", "0", "--out", "{tmp}/p.png"],
        ["export", "maps", "--image", "0", "--out", "{tmp}/m.png"],
        ["export", "topk", "--out", "{tmp}/t.png"],
        ["export", "occlusion", "--image", "0", "--out", "{tmp}/o.png"],
    ],
)
def test_a_model_with_no_layer_to_show_is_one_line_for_every_command(argv, data, tmp_path, capsys):
    path = tmp_path / "flat.py"
    path.write_text(NO_MAPS)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with_data = [] if argv[0] == "layers" else ["--data", str(data)]
    code, _stdout, err = run_cli(capsys, *argv, "--model", f"{path}:Flat", "--input-size", "32", *with_data)
    assert code == 2
    one_error_line(err, "flat.py:Flat", "no layer the explorer can show")
    assert not list(tmp_path.glob("*.npz")) and not list(tmp_path.glob("*.png"))
