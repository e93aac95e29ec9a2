"""Trust, round three: model cards and the files they name, user modules, non-finite numbers, labels
matched by name, the scan cache key, torchrun ranks that disagree, long names, odd model outputs.
Each class has several members; every failure is one `error:` line (exit 2) and loses no file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from trust_helpers import TINY, one_error_line, png, run_cli

from explorer.cli import main
from explorer.core import load_model, model_info
from explorer.core.errors import CheckpointError, ModelError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cards(tmp_path) -> Path:
    """A folder with a model file, its trained weights and a card naming both."""
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "tiny.py").write_text(TINY)
    torch.manual_seed(0)
    namespace: dict = {}
    exec(TINY, namespace)
    torch.save(namespace["Tiny"]().state_dict(), folder / "tiny.pt")
    (folder / "good.toml").write_text('model = "tiny.py:Tiny"\ncheckpoint = "tiny.pt"\ninput_size = 32\n')
    return folder


@pytest.fixture
def data(tmp_path) -> Path:
    folder = tmp_path / "data"
    for i in range(3):
        png(folder / f"img{i}.png")
    return folder


# --- every file a command reads is an input, the card's own included --------------------------------


@pytest.mark.parametrize("target", ["tiny.pt", "tiny.py", "good.toml", "names.txt"])
def test_output_onto_a_file_the_card_names_is_refused(cards, data, capsys, target):
    (cards / "names.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    (cards / "good.toml").write_text(
        'model = "tiny.py:Tiny"\ncheckpoint = "tiny.pt"\ninput_size = 32\nclasses_file = "names.txt"\n'
    )
    before = (cards / target).read_bytes()
    code, _, err = run_cli(capsys, "scan", "--model", cards / "good.toml", "--data", data, "--out", cards / target)
    assert code == 2
    one_error_line(err, target, "refusing to overwrite")
    assert (cards / target).read_bytes() == before


@pytest.mark.parametrize("kind", ["maps", "maximize", "occlusion", "backprop"])
def test_every_export_checks_its_inputs(cards, data, capsys, kind):
    out = cards / "tiny.png"
    shutil.copy(cards / "tiny.pt", out)
    (cards / "png.toml").write_text('model = "tiny.py:Tiny"\ncheckpoint = "tiny.png"\ninput_size = 32\n')
    before = out.read_bytes()
    extra = {"backprop": ["--layer", "conv"], "occlusion": ["--layer", "relu"], "maximize": ["--layer", "relu"]}.get(
        kind, []
    )
    code, _, err = run_cli(capsys, "export", kind, "--model", cards / "png.toml", "--data", data, *extra, "--out", out)
    assert code == 2
    one_error_line(err, "tiny.png", "refusing to overwrite")
    assert out.read_bytes() == before


# --- cards with the wrong types ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('mean = ["a", "b", "c"]', "mean = ['a', 'b', 'c'] must be a list of three numbers"),
        ("mean = [0.5, 0.5]", "must be a list of three numbers"),
        ('std = "0.2"', "must be a list of three numbers"),
        ("mean = [0.5, nan, 0.5]\nstd = [1, 1, 1]", "nan is not a finite number"),
        ("mean = [0.5, 0.5, 0.5]\nstd = [1, inf, 1]", "inf is not a finite number"),
        ("input_size = 32.5", "input_size = 32.5 must be a whole number"),
        ("input_size = true", "must be a whole number"),
        ("resize = 4", "resize = 4 must be between 8 and 1024"),
        ("num_classes = 0", "num_classes = 0 must be between 1 and 100000"),
        ('classes = "abc"', "classes = 'abc' must be a list of names"),
        ("classes = [1, 2]", "must be a list of names"),
        ("checkpoint = 3", "checkpoint = 3 must be a string"),
        ('interpolation = "lanczos"', "bad.toml: interpolation = 'lanczos' must be one of nearest, bilinear"),
    ],
)
def test_card_fields_of_the_wrong_type_are_one_line(tmp_path, capsys, line, says):
    card = tmp_path / "bad.toml"
    card.write_text(f'model = "seednet"\n{line}\n')
    with pytest.raises(ModelError, match=r"bad\.toml|interpolation") as err:
        load_model(card)
    assert says in str(err.value) and "\n" not in str(err.value)
    code, _, err_text = run_cli(capsys, "layers", "--model", card)
    assert code == 2
    one_error_line(err_text, says)
    assert "warning" not in err_text


# --- non-finite numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--mean", "--std"])
@pytest.mark.parametrize("value", ["nan,0.5,0.5", "0.5,inf,0.5", "-inf,1,1"])
def test_non_finite_flags_are_refused(capsys, flag, value):
    other = "--std" if flag == "--mean" else "--mean"
    code, _, err = run_cli(capsys, "layers", f"{flag}={value}", other, "0.5,0.5,0.5")
    assert code == 2
    one_error_line(err, "not a finite number")


@pytest.mark.parametrize(
    ("mean", "std", "says"),
    [
        ("1e308,0.5,0.5", "1,1,1", "mean (1e+308, 0.5, 0.5): every value must be between -100 and 100"),
        ("0.5,0.5,0.5", "1e-320,1,1", "std (1e-320, 1.0, 1.0): every value must be between 0.0001 and 10000"),
        ("0.5,0.5,0.5", "1,1e300,1", "must be between 0.0001 and 10000"),
    ],
)
def test_finite_numbers_that_overflow_the_first_layer_are_refused(capsys, tmp_path, mean, std, says):
    """Finite is not enough: a mean of 1e308 made every logit NaN and "10.00%" of accuracy."""
    code, _, err = run_cli(capsys, "layers", f"--mean={mean}", f"--std={std}")
    assert code == 2
    one_error_line(err, says)
    card = tmp_path / "c.toml"
    card.write_text(f'model = "seednet"\nmean = [{mean}]\nstd = [{std}]\n')
    with pytest.raises(ModelError, match="must be between"):
        load_model(card)


def test_non_finite_weights_are_refused_by_name(tmp_path):
    state = load_model().state_dict()
    state["conv2.bias"] = state["conv2.bias"].clone()
    state["conv2.bias"][3] = float("nan")
    path = tmp_path / "nan.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"nan.pt: tensor conv2.bias holds values that are not finite"):
        load_model(path)


def test_non_finite_experiment_values_are_refused(capsys, data):
    code, _, err = run_cli(
        capsys, "export", "invariance", "--data", data, "--layers", "conv1", "--transform", "rotate",
        "--values=0,nan", "--out", data / "x.png",
    )  # fmt: skip
    assert code == 2
    one_error_line(err, "nan is not a finite number")


# --- user modules: our process, our argv ----------------------------------------------------------


@pytest.mark.parametrize(
    "code_line", ["import sys; sys.exit(0)", "raise SystemExit(3)", "import sys; sys.exit('no display')"]
)
def test_a_module_that_exits_cannot_end_the_command(tmp_path, capsys, code_line):
    path = tmp_path / "quits.py"
    path.write_text(TINY + "\n" + code_line + "\n")
    code, out, err = run_cli(capsys, "layers", "--model", f"{path}:Tiny")
    assert code == 2
    one_error_line(err, "quits.py", "sys.exit")
    assert out == ""


@pytest.mark.parametrize("where", ["import", "build"])
def test_a_module_that_raises_a_base_exception_of_its_own_is_one_line(tmp_path, capsys, where):
    path = tmp_path / "odd.py"
    raise_it = f"raise Odd('at {where}')"
    body = TINY + "\nclass Odd(BaseException):\n    pass\n"
    body += (
        (raise_it + "\n")
        if where == "import"
        else f"class Builds(Tiny):\n    def __init__(self):\n        {raise_it}\n"
    )
    path.write_text(body)
    code, out, err = run_cli(capsys, "layers", "--model", f"{path}:{'Tiny' if where == 'import' else 'Builds'}")
    assert code == 2
    one_error_line(err, "odd.py", "Odd", f"at {where}")
    assert out == ""


@pytest.mark.parametrize("command", ["evaluate", "scan", "projections"])
def test_a_forward_that_exits_cannot_end_the_command(command, data, tmp_path, capsys):
    """sys.exit() in a model's forward (not at import): one line, exit 2, nothing written."""
    path = tmp_path / "exits.py"
    path.write_text(TINY + "\nclass Exits(Tiny):\n    def forward(self, x):\n        import sys\n        sys.exit(0)\n")
    out = tmp_path / ("s.npz" if command == "scan" else "p.png")
    argv = {"evaluate": ["evaluate"], "scan": ["scan", "--out", out],
            "projections": ["export", "projections", "--image", "0", "--out", out]}[command]  # fmt: skip
    code, _out, err = run_cli(capsys, *argv, "--model", f"{path}:Exits", "--input-size", "32", "--data", data)
    assert code == 2
    one_error_line(err, "sys.exit(0)", "wrote nothing")
    assert not out.exists()


def test_help_still_ends_the_command_as_argparse_does(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["scan", "--help"])
    assert exit_.value.code == 0 and "usage" in capsys.readouterr().out


def test_a_module_that_parses_argv_sees_only_its_own_name(tmp_path, capsys):
    path = tmp_path / "parses.py"
    path.write_text(
        TINY + "\nimport argparse, sys\nSEEN = list(sys.argv)\nargparse.ArgumentParser(prog='theirs').parse_args()\n"
    )
    code, _out, err = run_cli(capsys, "layers", "--model", f"{path}:Tiny", "--device", "cpu")
    assert code == 0, err
    assert "theirs" not in err and "usage" not in err
    assert sys.modules[next(m for m in sys.modules if m.startswith("explorer_user_model_"))]


def test_a_class_that_exits_when_built(tmp_path):
    path = tmp_path / "builds.py"
    path.write_text(TINY + "\nclass Quits(Tiny):\n    def __init__(self):\n        raise SystemExit(0)\n")
    with pytest.raises(ModelError, match=r"Quits\(\) calls sys.exit"):
        load_model(f"{path}:Quits")


# --- odd models -------------------------------------------------------------------------------------------


class _Tuple(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        y = self.fc(torch.relu(self.conv(x)).mean((2, 3)))
        return y, y


class _Dict(_Tuple):
    def forward(self, x):
        return {"logits": self.fc(torch.relu(self.conv(x)).mean((2, 3)))}


class _Int(_Tuple):
    def forward(self, x):
        return 3


class _NoParams(nn.Module):
    def forward(self, x):
        return torch.relu(x).mean((2, 3))


class _Grey(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class _Four(_Grey):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3)


@pytest.mark.parametrize(
    ("cls", "says"),
    [
        ("_Tuple", "forward() returns a tuple"),
        ("_Dict", "forward() returns a dict"),
        ("_Int", "forward() returns an int"),
        ("_NoParams", "has no parameters"),
        ("_Grey", "takes 1-channel input"),
        ("_Four", "takes 4-channel input"),
    ],
)
def test_models_the_explorer_cannot_show_get_one_line(cls, says, capsys):
    spec = f"{__name__}:{cls}"
    with pytest.raises(ModelError, match=says.replace("(", r"\(").replace(")", r"\)")):
        load_model(spec, input_size=16)
    code, _, err = run_cli(capsys, "layers", "--model", spec, "--input-size", "16")
    assert code == 2
    one_error_line(err, says)


# --- labels by name -----------------------------------------------------------------------------------


def test_folder_labels_are_matched_to_the_model_classes_by_name(tmp_path, capsys):
    from explorer.core.datasets import open_dataset
    from explorer.core.labels import model_labels

    for name in ("cat", "dog", "ship"):
        png(tmp_path / "d" / name / "a.png")
    ds = open_dataset(str(tmp_path / "d"))
    model = load_model()
    assert ds.classes == ("cat", "dog", "ship")
    assert model_labels(model, ds).tolist() == [3, 5, 8]
    code, out, err = run_cli(capsys, "evaluate", "--data", tmp_path / "d", "--device", "cpu")
    assert code == 0, err
    assert "of 3 images" in out


def test_folder_classes_the_model_lacks_give_no_accuracy(tmp_path, capsys):
    for name in ("cat", "teapot"):
        png(tmp_path / "d" / name / "a.png")
    code, out, err = run_cli(capsys, "evaluate", "--data", tmp_path / "d", "--device", "cpu")
    assert code == 2 and "accuracy on" not in out
    one_error_line(err, "teapot", "not classes of")


def test_names_match_loosely_and_unnamed_models_take_folder_names(tmp_path):
    from explorer.core.labels import class_map

    assert class_map(("great white shark", "tiger_cat"), ("Great_White_Shark", "tiger cat", "x")).tolist() == [0, 1, -1]
    assert class_map(("class 0", "class 1"), ("b", "a"), named=False).tolist() == [0, 1]


def test_occlusion_figure_targets_the_true_class_by_name(tmp_path):
    from explorer.analyses.occlusion import OcclusionRequest
    from explorer.core.datasets import open_dataset

    png(tmp_path / "d" / "ship" / "a.png", size=(32, 32))
    png(tmp_path / "d" / "airplane" / "b.png", size=(32, 32))
    ds = open_dataset(str(tmp_path / "d"))
    model = load_model()
    fig = OcclusionRequest(image=1, layer="conv2", feature=0, size=16, stride=16).compute(model, ds, model_name="m")
    assert fig.target == 8  # ship in CIFAR-10's order, not the folder's index 1


# --- the scan cache key ---------------------------------------------------------------------------------


def test_scan_cache_key_holds_normalisation_preprocessing_and_source(tmp_path, cards):
    from explorer.core.datasets import open_dataset
    from explorer.core.scan import cache_key

    png(tmp_path / "d" / "a.png")
    ds = open_dataset(str(tmp_path / "d"))
    plain = load_model("zfnet-cifar")
    keys = {
        cache_key(plain, ds, ["conv1"], 3),
        cache_key(load_model("zfnet-cifar", mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2)), ds, ["conv1"], 3),
        cache_key(load_model("zfnet-cifar", mean=(0.5, 0.5, 0.5), std=(0.3, 0.2, 0.2)), ds, ["conv1"], 3),
        cache_key(load_model("zfnet-cifar", resize=40), ds, ["conv1"], 3),
    }
    assert len(keys) == 4
    # The same weights under an edited forward() are another model.
    edited = cards / "edited.py"
    edited.write_text(TINY.replace("torch.flatten(self.pool(", "torch.flatten(2 * self.pool("))
    a = load_model(f"{cards / 'tiny.py'}:Tiny", cards / "tiny.pt", input_size=32)
    b = load_model(f"{edited}:Tiny", cards / "tiny.pt", input_size=32)
    assert cache_key(a, ds, ["relu"], 3) != cache_key(b, ds, ["relu"], 3)


def test_a_cache_entry_copied_in_place_of_another_is_not_trusted(tmp_path):
    from explorer.core.datasets import open_dataset
    from explorer.core.scan import cache_key, cached_scan

    for i in range(4):
        png(tmp_path / "a" / f"{i}.png", colour=(60 * i, 10, 200))
        png(tmp_path / "b" / f"{i}.png", colour=(10, 60 * i, 20))
    model = load_model()
    cache = tmp_path / "cache"
    a, b = open_dataset(str(tmp_path / "a")), open_dataset(str(tmp_path / "b"))
    cached_scan(model, a, ["conv1"], 2, cache)
    second, _ = cached_scan(model, b, ["conv1"], 2, cache)
    shutil.copy(
        cache / f"topk-{cache_key(model, a, ['conv1'], 2)}.npz", cache / f"topk-{cache_key(model, b, ['conv1'], 2)}.npz"
    )
    again, from_cache = cached_scan(model, b, ["conv1"], 2, cache)
    assert not from_cache
    np.testing.assert_array_equal(again["conv1"].values, second["conv1"].values)


def test_a_rewrite_in_place_with_the_old_times_changes_the_key(tmp_path):
    from explorer.core.datasets import open_dataset

    path = png(tmp_path / "d" / "a.png", colour=(1, 2, 3))
    st = os.stat(path)
    key = open_dataset(str(tmp_path / "d")).content_key()
    png(path, colour=(9, 9, 9))  # same size, then the old times put back
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size
    assert open_dataset(str(tmp_path / "d")).content_key() != key


def test_scan_file_with_positions_or_boxes_out_of_range_is_not_shown(tmp_path):
    from explorer.core.datasets import open_dataset
    from explorer.core.scan import scan_top_k
    from explorer.core.scan_file import ScanFileError, describe, open_for, save_scan

    for i in range(3):
        png(tmp_path / "d" / f"{i}.png", colour=(80 * i, 0, 0), size=(32, 32))
    model = load_model()
    ds = open_dataset(str(tmp_path / "d"))
    results = scan_top_k(model, ds, ["conv1"], 2)
    meta = describe(model, ds, ["conv1"], 2)
    for field, value in (("positions", 40), ("boxes", 99)):
        broken = {k: v for k, v in results.items()}
        top = broken["conv1"]
        arr = getattr(top, field).copy()
        arr[0, 0, 0] = value
        broken["conv1"] = type(top)(**{**top.__dict__, field: arr})
        path = tmp_path / f"{field}.npz"
        save_scan(broken, meta, path)
        with pytest.raises(ScanFileError, match=f"conv1.{field}"):
            open_for(path, model, ds)


# --- torchrun ranks that disagree ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize(("flag", "values"), [("--batch-size", ("256", "8")), ("-k", ("9", "4"))])
def test_ranks_started_with_different_arguments_fail_naming_it(tmp_path, flag, values):
    for i in range(6):
        png(tmp_path / "d" / f"{i}.png")
    out = tmp_path / "out.npz"
    port = _free_port()
    procs = []
    for rank, value in enumerate(values):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)}
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo", PYTHONPATH=str(REPO))
        cmd = [sys.executable, "-m", "explorer", "scan", "--data", str(tmp_path / "d"), "--device", "cpu"]
        cmd += [flag, value, "--rank-timeout", "60", "--out", str(out)]
        procs.append(
            subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    results = [p.communicate(timeout=240) for p in procs]
    assert procs[0].returncode == 2, results[0][1]
    one_error_line(results[0][1], f"rank 1/2: started with {flag} {values[1]}, rank 0 with {flag} {values[0]}")
    assert not out.exists()


# --- names too long, evolution without snapshots, fill on overlapping pools -------------------------------


def test_an_output_name_longer_than_the_file_system_allows(tmp_path, capsys):
    code, _, err = run_cli(capsys, "scan", "--data", "probes", "--out", tmp_path / ("x" * 300 + ".npz"))
    assert code == 2
    one_error_line(err, "longer than the 255 bytes")


def test_an_output_name_just_short_enough_is_written(tmp_path, capsys):
    name = "y" * (255 - len(".npz")) + ".npz"
    code, _out, err = run_cli(
        capsys, "scan", "--data", "probes", "--device", "cpu", "-k", "2", "--out", tmp_path / name
    )
    assert code == 0, err
    assert (tmp_path / name).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left


def test_evolution_of_a_model_without_snapshots_says_so(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "export", "evolution", "--model", "torchvision:resnet18", "--weights", "random",
        "--data", "probes", "--layer", "layer1.0.relu", "--out", tmp_path / "e.png",
    )  # fmt: skip
    assert code == 2
    line = one_error_line(err, "has no training snapshots")
    assert "explorer/weights" not in line


@given(
    body=st.dictionaries(
        st.sampled_from(["model", "checkpoint", "input_size", "resize", "crop", "mean", "std", "classes", "num_classes",
                         "interpolation", "weights", "name", "classes_file", "other"]),
        st.one_of(st.integers(-5, 2000), st.floats(allow_nan=True), st.text(max_size=8), st.booleans(),
                  st.lists(st.one_of(st.floats(allow_nan=True), st.text(max_size=3)), max_size=4)),
        max_size=5,
    )
)  # fmt: skip
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.fuzz
def test_fuzzed_cards_load_or_give_one_line(tmp_path, body):
    import json

    lines = []
    for key, value in body.items():
        if isinstance(value, float) and not np.isfinite(value):
            text = "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
        elif isinstance(value, list):
            text = (
                "["
                + ", ".join(
                    json.dumps(v) if not (isinstance(v, float) and not np.isfinite(v)) else "nan" for v in value
                )
                + "]"
            )
        else:
            text = json.dumps(value)
        lines.append(f"{key} = {text}")
    card = tmp_path / "fuzz.toml"
    card.write_text('model = "seednet"\n' * ("model" not in body) + "\n".join(lines) + "\n")
    try:
        model = load_model(card)
    except (ModelError, CheckpointError) as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        info = model_info(model)
        assert 8 <= info.input_size <= info.resize <= 1024


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["projections", "--unpool", "fill", "--layer", "layer2.0.relu"], "needs non-overlapping pooling"),
        (
            ["feature", "--unpool", "fill", "--layer", "layer1.0.relu", "--feature", "3"],
            "needs non-overlapping pooling",
        ),
    ],
)
def test_options_that_do_not_fit_the_model_are_one_line(tmp_path, capsys, argv, says):
    kind, *rest = argv
    code, _, err = run_cli(
        capsys, "export", kind, "--model", "torchvision:resnet18", "--weights", "random", "--data", "probes",
        "--device", "cpu", *rest, "--out", tmp_path / "f.png",
    )  # fmt: skip
    assert code == 2
    one_error_line(err, says)
    assert not (tmp_path / "f.png").exists()


def test_option_errors_are_still_value_errors_to_scripts():
    from explorer.core import project
    from explorer.core.errors import OptionError

    model = load_model()
    with pytest.raises(ValueError, match="unknown layer") as err:
        project(model, torch.rand(1, 3, 32, 32), "conv9")
    assert isinstance(err.value, OptionError)


# --- geometry the engine does not work out: the whole image, never a wrong box -----------------------


class _Upsampled(nn.Module):
    input_size = 32

    def __init__(self, up: nn.Module):
        super().__init__()
        self.c1, self.r1 = nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU()
        self.up = up
        self.c2, self.r2 = nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.r2(self.c2(self.up(self.r1(self.c1(x))))).mean((2, 3)))


@pytest.mark.parametrize(
    "up",
    [nn.Upsample(scale_factor=2), nn.Upsample(scale_factor=2, mode="bilinear"), nn.AdaptiveAvgPool2d(5),
     nn.AdaptiveMaxPool2d(3), nn.Upsample(size=24)],
)  # fmt: skip
def test_layers_below_unknown_geometry_are_listed_with_the_whole_image_as_field(up):
    from explorer.core import layers
    from explorer.core.datasets import open_dataset
    from explorer.core.receptive import receptive_box
    from explorer.core.scan import scan_top_k

    model = _Upsampled(up).eval()
    found = {lay.name: lay for lay in layers(model)}
    assert set(found) == {"r1", "r2"}  # the layer below the resampling is not lost
    h, w = found["r2"].size
    for r, c in ((0, 0), (h - 1, w - 1), (h // 2, w // 3)):
        assert receptive_box(model, "r2", r, c, 32) == (0, 0, 32, 32)
    top = scan_top_k(model, open_dataset("probes"), ["r1", "r2"], 3)
    for t in top.values():
        assert (t.boxes[..., 2] > t.boxes[..., 0]).all() and (t.boxes[..., 3] > t.boxes[..., 1]).all()
        assert t.boxes.min() >= 0 and t.boxes.max() <= 32


class _Moved(nn.Module):
    """conv -> (an operation that keeps the map's shape but may move its positions) -> conv -> ReLU."""

    input_size = 32

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.w = nn.Parameter(torch.randn(4, 4, 5, 5) * 0.2)
        self.t = nn.ConvTranspose2d(4, 4, 3, padding=1)
        self.gn = nn.GroupNorm(2, 4)
        self.c2, self.r2 = nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        y = self.c1(x)
        if self.how == "flip":
            y = torch.flip(y, (3,))
        elif self.how == "flip method":
            y = y.flip(2)
        elif self.how == "roll":
            y = torch.roll(y, 11, 3)
        elif self.how == "rot90":
            y = torch.rot90(y, 1, (2, 3))
        elif self.how == "functional conv":
            y = F.conv2d(y, self.w, padding=2)
        elif self.how == "transposed conv":
            y = self.t(y)
        elif self.how == "softmax over rows":
            y = torch.softmax(y, dim=3)
        elif self.how == "group norm":
            y = self.gn(y)
        elif self.how == "cumsum":
            y = y.cumsum(2)
        return self.fc(self.r2(self.c2(y)).mean((2, 3)))


@pytest.mark.parametrize(
    "how",
    ["flip", "flip method", "roll", "rot90", "functional conv", "transposed conv", "softmax over rows", "group norm",
     "cumsum", "none"],
)  # fmt: skip
def test_receptive_boxes_hold_the_gradients_support_whatever_moves_positions(how):
    """A box is where a position's value can come from: the pixels its gradient reaches lie inside it."""
    from torchvision.models.feature_extraction import create_feature_extractor

    from explorer.core.receptive import receptive_box

    torch.manual_seed(0)
    model = _Moved(how).eval()
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    maps = create_feature_extractor(model, {"r2": "out"})(x)["out"]
    for r, c in ((0, 0), (5, 27), (31, 31), (16, 2)):
        (g,) = torch.autograd.grad(maps[0, :, r, c].sum(), x, retain_graph=True)
        rows, cols = torch.nonzero(g[0].abs().sum(0), as_tuple=True)
        y0, x0, y1, x1 = receptive_box(model, "r2", r, c, 32)  # top, left, bottom, right
        if len(rows):
            assert y0 <= int(rows.min()) and int(rows.max()) < y1 and x0 <= int(cols.min()) and int(cols.max()) < x1, (
                how,
                (r, c),
                (y0, x0, y1, x1),
                (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())),
            )
    if how == "functional conv":  # worked out, not the whole image: two 3x3 convs and a 5x5
        assert receptive_box(model, "r2", 16, 16, 32) == (16 - 4, 16 - 4, 16 + 5, 16 + 5)


# Fragments a user's model file may hold: each alone or together, the file loads or gives one line.
MODULE_FRAGMENTS = [
    "import sys; sys.exit(0)",
    "import sys; sys.exit('stop')",
    "raise SystemExit(5)",
    "raise KeyboardInterrupt" if False else "raise RuntimeError('broken at import')",
    "import sys; sys.argv.append('--bogus')",
    "import argparse; argparse.ArgumentParser().parse_args()",
    "print('hello from the model file')",
    "Tiny = 3",
    "class Tiny:\n    pass",
    "class Tiny(Tiny):\n    def forward(self, x):\n        return (super().forward(x), 1)",
    "class Tiny(Tiny):\n    def __init__(self, num_classes=10):\n        raise ValueError('no')",
    "class Tiny(Tiny):\n    def forward(self, x):\n        return {'out': super().forward(x)}",
    "import torch\nclass Tiny(Tiny):\n    def forward(self, x):\n        return super().forward(x)[:, :0]",
    "def helper():\n    return 1",
    "x = 1 / 1",
]


@given(picks=st.lists(st.sampled_from(MODULE_FRAGMENTS), max_size=3))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.fuzz
def test_fuzzed_model_files_load_or_give_one_line(tmp_path, picks):
    path = tmp_path / "fuzzed.py"
    path.write_text(TINY + "\n" + "\n".join(picks) + "\n")
    argv = list(sys.argv)
    try:
        model = load_model(f"{path}:Tiny", input_size=16)
    except (ModelError, CheckpointError) as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert len(model_info(model).classes) >= 1
    assert sys.argv == argv  # the file never changes our command line


def test_a_name_two_classes_share_maps_to_neither_and_numbered_folders_map_by_index():
    from explorer.core.labels import class_map

    imagenet_like = ["tench", "crane", "goldfish", "crane", "Great white shark"]
    np.testing.assert_array_equal(
        class_map(imagenet_like, ["crane", "goldfish", "great_white_shark", "zebra"]), [-1, 2, 4, -1]
    )
    np.testing.assert_array_equal(class_map(imagenet_like, ["0", "3", "4"]), [0, 3, 4])  # ImageNet-style indices
    np.testing.assert_array_equal(class_map(imagenet_like, ["0", "7"]), [-1, -1])  # 7 is no class: no guessing
    np.testing.assert_array_equal(class_map(imagenet_like, ["0", "tench"]), [-1, 0])  # names first
