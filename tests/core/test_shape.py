"""The promises about the package's shape: a Qt-free core and a small, stable public API."""

import subprocess
import sys

import explorer.core


def test_core_never_imports_qt():
    code = (
        "import sys, explorer.core, explorer.core.backprop, explorer.core.scan, explorer.core.training, "
        "explorer.core.datasets, explorer.core.probes\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6') or m.startswith('explorer.gui')]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_public_api():
    for name in ("SeedNet", "load_model", "project", "activations", "predict"):
        assert callable(getattr(explorer.core, name)), name
    from explorer.core.backprop import manual_gradients

    assert callable(manual_gradients)


def test_seed_network_shape():
    import torch

    m = explorer.core.SeedNet()
    expected = ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Linear", "ReLU", "Dropout", "Linear"]
    assert [type(c).__name__ for c in m.children()] == expected
    assert not any(getattr(c, "inplace", False) for c in m.modules())
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert explorer.core.activations(m, torch.rand(1, 3, 32, 32), "conv2").shape == (1, 64, 16, 16)
