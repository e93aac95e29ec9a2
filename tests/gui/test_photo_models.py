"""The window for the models people have: a 1,000-class model at 64 px, shown at its own size with its own classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.core.images import ImageSet
from explorer.core.loading import load_model
from explorer.core.model import CLASSES
from explorer.core.preprocessing import preprocessing_of
from explorer.gui.views.prediction.pane import TOP, PredictionPane


@pytest.fixture
def imagenet_model():
    torch.manual_seed(0)
    return load_model("torchvision:resnet18", weights="random", input_size=64, device=torch.device("cpu"))


@pytest.fixture
def photo_window(make_window, imagenet_model, qtbot):
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8)
    images = ImageSet("random", CLASSES, rng.integers(0, 10, size=24), pixels=pixels)
    w = make_window(images=images, model=imagenet_model)
    qtbot.waitUntil(lambda: w.state.shown is not None, timeout=60000)
    return w


def test_the_views_show_the_images_at_the_models_size(photo_window, imagenet_model):
    w = photo_window
    r = w.state.shown
    assert r.image.shape == (64, 64, 3)  # prepared as the weights expect: resized to 73, centre 64
    expected = w.state.source_images.for_model(preprocessing_of(imagenet_model)).image(r.index)
    assert np.array_equal(r.image, expected)
    assert r.projections[0][1].shape == (3, 64, 64)
    assert w.views["input_image"].pane.caption.text() != "Waiting for the image…"
    assert not w.device_notice.isVisible()  # no view is off for this model


def test_a_thousand_classes_in_the_browser_and_the_prediction(photo_window, qtbot):
    w = photo_window
    browser = w.views["images"].pane
    qtbot.waitUntil(lambda: bool((browser.model.predicted >= 0).all()), timeout=120000)
    assert browser.predicted_class.count() == 1 + 1000  # "any" and the model's own classes
    for row in range(browser.model.rowCount()):  # every caption and tooltip reads (no IndexError)
        index = browser.model.index(row)
        assert browser.model.data(index) and browser.model.data(index, 3)
    assert "% right" not in browser.count.text()  # CIFAR's names are not ImageNet's: no accuracy claimed
    prediction = w.views["prediction"].pane
    probs = w.state.shown.probs
    assert list(prediction.shown[:TOP]) == list(np.argsort(-probs, kind="stable")[:TOP])
    assert "most probable of 1,000" in prediction.summary.text()


def test_many_classes_show_the_top_five_with_probabilities_and_the_true_class_added(qtbot):
    classes = [f"class number {i} with a long name" for i in range(100)]
    pane = PredictionPane(classes)
    qtbot.addWidget(pane)
    probs = np.linspace(1.0, 2.0, 100)[::-1].copy()
    probs /= probs.sum()
    pane.show_probs(probs, true_class=42)  # rank 43
    assert list(pane.shown) == [0, 1, 2, 3, 4, 42]
    ticks = pane.plot.getAxis("left")._tickLevels[0]
    assert [i for i, _ in ticks] == list(range(6))
    assert ticks[0][1].endswith(f"{100 * probs[0]:.1f}%") and ticks[5][1].endswith(f"{100 * probs[42]:.1f}%")
    assert "…" in ticks[0][1]  # long names are shortened on the bars
    assert "rank 43" in pane.summary.text() and "true class number 42" in pane.summary.text()
    np.testing.assert_allclose(pane.bars.opts["width"], probs[[0, 1, 2, 3, 4, 42]])
    pane.show_probs(probs, true_class=3)  # among the five: no sixth bar
    assert list(pane.shown) == [0, 1, 2, 3, 4]
    pane.show_probs(probs, true_class=-1)  # no label
    assert list(pane.shown) == [0, 1, 2, 3, 4] and "true" not in pane.summary.text().split("<br>")[0]
    # Up to twenty classes, a bar for each, named.
    pane.set_classes(classes[:20])
    pane.show_probs(np.full(20, 0.05), true_class=7)
    assert list(pane.shown) == list(range(20))
    assert len(pane.plot.getAxis("left")._tickLevels[0]) == 20


def test_fill_falls_back_to_switches_where_the_pooling_overlaps(photo_window, qtbot):
    w = photo_window
    options = w.state.options
    w.state.set_options(type(options)(options.method, "fill", options.keep, "unpooling"))
    w.state.select(layer="layer1.0.relu")  # below ResNet's 3x3 stride-2 max-pool
    qtbot.waitUntil(lambda: w.state.shown.layer == "layer1.0.relu", timeout=60000)
    assert [title for title, _ in w.state.shown.projections] == ["deconvnet, switches"]
    pane = w.views["projection"].pane
    assert not pane.unpool.isEnabled() and "overlapping" in pane.unpool.toolTip()
    assert w.state.options.unpool == "fill"  # the choice is kept for a layer where fill applies


def test_verdicts_only_for_labels_that_are_the_models_classes(imagenet_model):
    from explorer.core.model_meta import default_classes, model_info
    from explorer.gui.views.browser.thumbnails import ThumbnailModel

    imagenet = model_info(imagenet_model).classes
    pixels = np.zeros((3, 32, 32, 3), np.uint8)
    # By name, loosely as explorer.core.labels matches (case, "_" and "-"): a folder "Golden_Retriever" is ImageNet's
    images = ImageSet("folders", ("cat", "Golden_Retriever"), np.array([0, 1, -1]), pixels=pixels)
    m = ThumbnailModel(imagenet)
    m.set_images(images)
    assert m.truth.tolist() == [-1, imagenet.index("golden retriever"), -1]
    m.set_predictions(0, np.array([5, 7, 5]))
    captions = [m.data(m.index(row)) for row in range(3)]
    assert "✗" not in captions[0] and "✓" not in captions[0]  # "cat" is no ImageNet class: no verdict
    assert captions[1].endswith("✗")
    assert "✗" not in captions[2]  # no label
    m.close()
    # By position where the model's classes are unnamed and as many as the data set's
    m = ThumbnailModel(default_classes(2))
    m.set_images(images)
    assert m.truth.tolist() == [0, 1, -1]
    m.close()
    # A named 10-class model takes CIFAR-named folders by name, whatever their order
    m = ThumbnailModel(CLASSES)
    m.set_images(ImageSet("folders", ("ship", "cat"), np.array([0, 1, 1]), pixels=pixels))
    assert m.truth.tolist() == [8, 3, 3]
    m.close()
