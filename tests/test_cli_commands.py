"""The command line: train and evaluate end to end on tiny data, and one-line errors with exit 2."""

import numpy as np
import pytest
from PIL import Image

from explorer.cli import main
from explorer.core.checkpoint import load_snapshots
from explorer.core.loading import load_model


@pytest.fixture
def tiny_data(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 4)):
        for cls in ("cat", "dog"):
            d = tmp_path / "data" / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(d / f"{i:03d}.png")
    return tmp_path / "data"


def test_train_then_evaluate(tiny_data, tmp_path, capsys):
    out = tmp_path / "model.pt"
    argv = ["train", "--data", str(tiny_data), "--epochs", "2", "--out", str(out), "--snapshots", "1"]
    assert main([*argv, "--device", "cpu"]) == 0
    text = capsys.readouterr()
    assert "test accuracy" in text.out and "epoch 2/2" in text.err
    load_model(out)
    snaps = load_snapshots(tmp_path / "model.snapshots.pt")
    assert sorted(snaps) == [1, 2] and sorted(snaps[1]) == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight"]
    argv = ["evaluate", "--data", str(tiny_data), "--split", "test", "--checkpoint", str(out)]
    assert main([*argv, "--device", "cpu"]) == 0
    assert "accuracy on" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["evaluate", "--data", "/no/such/folder"], "/no/such/folder"),
        (["evaluate", "--data", "probes", "--checkpoint", "/no/such.pt"], "/no/such.pt"),
        (["train", "--data", "probes", "--epochs", "0", "--out", "x.pt"], "--epochs: 0 is out of range"),
        (["evaluate", "--split", "valid"], "valid"),
        (["evaluate", "--device", "cuda", "--data", "probes"], "cuda"),
    ],
)
def test_errors_are_one_line_with_exit_2(argv, needle, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors exit through Parser.error
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert "Traceback" not in err
