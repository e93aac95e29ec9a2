"""`cnn-explorer bench`: the model flags reach the measuring process; the new keys are listed."""

from __future__ import annotations

import json

from explorer.cli import Parser, add_model_args
from explorer.commands import bench


def _args(argv: list[str]):
    p = Parser(prog="t")
    add_model_args(p)
    return p.parse_args(argv)


def test_the_model_flags_reach_the_measuring_process():
    args = _args(["--model", "zfnet-cifar", "--checkpoint", "w.pt", "--input-size", "40", "--mean", "0.1,0.2,0.3"])
    sent = json.loads(bench._model_json(args))
    assert sent == {"model": "zfnet-cifar", "checkpoint": "w.pt", "input_size": 40, "mean": [0.1, 0.2, 0.3]}
    assert json.loads(bench._model_json(_args([]))) == {}  # the bundled SeedNet
    photo = _args(["--model", "torchvision:resnet50", "--weights", "random", "--resize", "256", "--classes", "c.txt"])
    assert json.loads(bench._model_json(photo)) == {
        "model": "torchvision:resnet50", "weights": "random", "resize": 256, "classes": "c.txt"
    }  # fmt: skip


def test_the_new_keys_have_targets():
    for key in ("scrub_during_scan_p95_ms", "window_visible_s"):
        assert key in bench.KEYS and key in bench.TARGETS


def test_an_unknown_model_is_one_line(capsys):
    from explorer.cli import main

    code = main(["bench", "--model", "no-such-model", "--data", "/nonexistent/bench", "--quick"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "no-such-model" in err and "Traceback" not in err
