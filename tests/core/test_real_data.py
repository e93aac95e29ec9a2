"""On the real CIFAR-10 copy (skipped without it): the data reads as CIFAR-10 and the bundled model meets its target."""

import numpy as np
import pytest

from explorer.core import load_model
from explorer.core.datasets import open_dataset
from explorer.core.model import CLASSES
from explorer.core.training import evaluate

pytestmark = pytest.mark.realdata


def test_real_test_split_reads_as_cifar10(cifar_dir):
    ds = open_dataset(str(cifar_dir), "test")
    assert len(ds) == 10_000 and ds.classes == CLASSES
    assert np.bincount(ds.labels).tolist() == [1000] * 10
    assert ds.images([0, 5001, 9999]).shape == (3, 32, 32, 3)
    assert not ds.failures


@pytest.mark.parametrize(("spec", "target"), [("seednet", 0.78), ("zfnet-cifar", 0.85)])
def test_bundled_model_meets_its_accuracy(cifar_dir, bundled_model_path, spec, target):
    ds = open_dataset(str(cifar_dir), "test")
    accuracy = evaluate(load_model(spec), ds.all_pixels(), ds.labels)
    assert accuracy >= target, f"bundled {spec}: {100 * accuracy:.2f}% on the CIFAR-10 test split"
