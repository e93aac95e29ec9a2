"""The window for the models people have: a 1,000-class ResNet-18 (random weights) at its own 224 pixels on a folder
of ordinary photos of mixed sizes and modes, through every view (the sanity checks at 128 pixels: at 224 they alone
take 20 to 35 s of this CPU); marks and accuracy only where the labels are the model's classes; a model switch
while the browser predicts.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from torchvision.models.feature_extraction import create_feature_extractor

from explorer.core.images import ImageSet
from explorer.core.loading import load_model
from explorer.core.model import CLASSES
from explorer.gui.messages import ModelRequest, PredictionsReady, PredictRequest
from explorer.gui.views.browser import view as browser_view
from explorer.gui.views.browser.thumbnails import ICON
from explorer.gui.views.input_image.view import strongest_field
from explorer.gui.views.prediction.pane import TOP

SIZE = 224
# name: (width, height, mode); a grey JPEG and a transparent PNG among them
PHOTOS = {
    "beach.jpg": (300, 200, "RGB"),
    "tower.jpg": (512, 600, "RGB"),
    "street.png": (640, 480, "RGB"),
    "old.jpg": (400, 300, "L"),
    "logo.png": (256, 256, "RGBA"),
    "portrait.jpg": (240, 360, "RGB"),
}


def write_photo(path, width: int, height: int, mode: str, seed: int) -> None:
    """A smooth picture (gradients and a disc, as photos are smooth) with some noise, in `mode`."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    disc = ((x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (min(width, height) / 4) ** 2) * 120
    rgb = np.stack([x / width * 255, y / height * 255, disc + 60], axis=-1) + rng.normal(0, 12, (height, width, 3))
    picture = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    if mode == "RGBA":
        alpha = np.where(disc > 0, 255, 0).astype(np.uint8)
        picture = picture.convert("RGBA")
        picture.putalpha(Image.fromarray(alpha))
    elif mode == "L":
        picture = picture.convert("L")
    picture.save(path)


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "holiday"
    folder.mkdir()
    for seed, (name, (width, height, mode)) in enumerate(PHOTOS.items()):
        write_photo(folder / name, width, height, mode, seed)
    return folder


def resnet_at(size: int):
    torch.manual_seed(0)
    return load_model("torchvision:resnet18", weights="random", input_size=size, device=torch.device("cpu"))


def tiny_start() -> ImageSet:
    """Two 32-pixel pictures for the window to open with, before the folder opens."""
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    return ImageSet("start", CLASSES, np.array([0, 1]), pixels=pixels)


def every_image_predicted(window) -> bool:
    predicted = window.views["images"].pane.model.predicted
    return len(predicted) == len(window.state.images) and bool((predicted >= 0).all())


def open_folder_window(make_window, qtbot, model, folder):
    """The window on `model` with `folder` opened as a person opens it (File > Open folder), its first pass shown."""
    w = make_window(model=model, images=tiny_start())
    w.sources.open_source(str(folder))
    qtbot.waitUntil(lambda: w.state.images is not None and w.state.images.name == folder.name, timeout=60000)
    qtbot.waitUntil(lambda: w.state.shown is not None, timeout=60000)
    return w


@pytest.fixture
def photo_window(make_window, photo_folder, qtbot):
    """The window on ResNet-18 at 224 pixels with the photo folder open."""
    return open_folder_window(make_window, qtbot, resnet_at(SIZE), photo_folder)


def thumbnail(window, qtbot, image: int):
    """The browser's decoded thumbnail of `image` (a QPixmap)."""
    model = window.views["images"].pane.model
    index = model.index(model.row_of(image))
    model.data(index, Qt.ItemDataRole.DecorationRole)  # asks for it to be decoded in the background
    qtbot.waitUntil(lambda: image in model._cache, timeout=30000)
    return model.data(index, Qt.ItemDataRole.DecorationRole)


def gradient_support(model, x, node: str, feature: int, row: int, col: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), ends exclusive: the input pixels with a gradient from one activation of `node`."""
    x = x.clone().requires_grad_(True)
    # A copy: tracing switches the model to train mode and back, and the window's worker runs the model meanwhile.
    with warnings.catch_warnings():  # torchvision notes that train and eval graphs differ: only eval runs here
        warnings.simplefilter("ignore", UserWarning)
        extractor = create_feature_extractor(copy.deepcopy(model).eval(), [node])
    extractor(x)[node][0, feature, row, col].backward()
    ys, xs = np.nonzero(x.grad[0].abs().sum(0).numpy())
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def test_the_selection_the_browser_and_the_page_at_224(photo_window, qtbot):
    w, s = photo_window, photo_window.state
    assert len(s.images) == len(PHOTOS) and s.images.size == SIZE
    assert [p.rsplit("/", 1)[-1] for p in s.images.paths] == sorted(PHOTOS)
    r = s.shown  # the selection's pass: maps, projection and the prediction's bars, at 224 pixels
    assert r.image.shape == (SIZE, SIZE, 3) and r.probs.shape == (1000,)
    assert r.projections and all(p.shape == (3, SIZE, SIZE) for _title, p in r.projections)
    maps = w.views["maps"].pane
    assert maps._maps.shape[0] == s.channels() and maps._image.shape == (SIZE, SIZE, 3)
    prediction = w.views["prediction"].pane
    assert len(prediction.shown) in (TOP, TOP + 1) and "most probable of 1,000" in prediction.summary.text()

    qtbot.waitUntil(lambda: every_image_predicted(w), timeout=60000)
    assert not s.images.failures  # the grey JPEG and the transparent PNG read like the others
    assert "% right" not in w.views["images"].pane.count.text()  # a flat folder has no labels: no accuracy

    across = w.views["feature_across_images"]
    qtbot.waitUntil(lambda: across.shown is not None, timeout=60000)
    assert across.shown.page == tuple(range(len(PHOTOS)))
    assert across.shown.page_images.shape == (len(PHOTOS), SIZE, SIZE, 3)
    assert across.shown.page_projections.shape[1:] == (3, SIZE, SIZE)


def test_thumbnails_show_each_photo_whole_and_the_input_image_the_models_crop(photo_window, qtbot):
    w, s = photo_window, photo_window.state
    for image, name in enumerate(sorted(PHOTOS)):
        width, height, _mode = PHOTOS[name]
        pix = thumbnail(w, qtbot, image)
        assert max(pix.width(), pix.height()) == ICON
        assert abs(pix.width() / pix.height() - width / height) < 0.05, name  # the whole photo, not a square
    beach = thumbnail(w, qtbot, sorted(PHOTOS).index("beach.jpg")).toImage()
    # The photo's red rises from 0 at its left edge; the model's centre crop starts a sixth of the way in (red 42).
    assert beach.pixelColor(0, beach.height() // 2).red() < 25
    old = thumbnail(w, qtbot, sorted(PHOTOS).index("old.jpg")).toImage().pixelColor(30, 20)
    assert old.red() == old.green() == old.blue()  # the grey photo stays grey
    logo = thumbnail(w, qtbot, sorted(PHOTOS).index("logo.png")).toImage().pixelColor(1, 1)
    assert (logo.red(), logo.green(), logo.blue()) == (0, 0, 0)  # transparent pixels are black, by the rule

    # The Input image shows the crop the model sees, the receptive field boxed in that crop's pixels
    s.select(image=1, layer="layer2.0.relu")
    qtbot.waitUntil(lambda: s.shown is not None and (s.shown.index, s.shown.layer) == (1, "layer2.0.relu"))
    strongest = int(s.shown.activations.max(axis=(1, 2)).argmax())  # a feature that responds to this photo
    s.select(feature=strongest)
    qtbot.waitUntil(lambda: s.shown.feature == strongest)
    r = s.shown
    pane = w.views["input_image"].pane
    np.testing.assert_array_equal(pane.view.image_item.image, r.image / np.float32(255))
    np.testing.assert_array_equal(r.image, s.images.image(1))
    amap = r.activations[r.feature]
    assert amap.shape == (28, 28) and amap.max() > 0  # 224 / 8
    row, col, box = strongest_field(s.opened.layer(r.layer), amap, (SIZE, SIZE))
    assert pane.box_shown() == box
    top, left, bottom, right = box
    assert f"rows {top}–{bottom - 1}, cols {left}–{right - 1}" in pane.caption.text()
    # Independently: the input pixels the strongest activation depends on (its gradient's support) fill the box
    support = gradient_support(s.model, s.images.tensor([1]), "inner.layer2.0.relu", r.feature, row, col)
    assert top <= support[0] and left <= support[1] and support[2] <= bottom and support[3] <= right
    assert support[2] - support[0] >= bottom - top - 16 and support[3] - support[1] >= right - left - 16


def test_a_scan_of_the_photos_finds_top_images_on_every_layer(photo_window, qtbot):
    w, s = photo_window, photo_window.state
    s.select(layer="layer2.0.relu", feature=3)
    top = w.views["top_images"]
    top.batch_size = 2
    top.start_scan()
    qtbot.waitUntil(lambda: top.scan is not None and top.shown is not None, timeout=120000)
    assert top.scan.count == len(PHOTOS) and set(top.scan.results) == set(s.opened.names)
    assert (top.shown.layer, top.shown.feature) == ("layer2.0.relu", 3)
    assert sorted(top.shown.indices) == list(range(len(PHOTOS)))
    assert top.shown.patches.shape == top.shown.projections.shape == (len(PHOTOS), 51, 51, 3)  # the layer's field
    assert top.pane.feature_view.image_item.image is not None and top.pane.overview.image_item.image is not None
    # The deepest layer's 435-pixel field is larger than the picture: its overview of 512 features stays small
    deepest = top.scan.overview["layer4.1.relu_1"]
    assert deepest.shape[:2] == (512, 3) and deepest.shape[2] <= 64 and deepest.nbytes < 100e6


def open_analysis(window, qtbot, key: str, name: str):
    view = window.views[name]
    window.menu_actions[key].trigger()
    assert view.dock.isVisible()
    qtbot.waitUntil(lambda: view.shown is not None, timeout=120000)
    view.dock.hide()  # a hidden view stops following the selection: the next one runs alone
    return view.shown.figure


def test_each_analysis_from_its_menu_at_224(photo_window, qtbot):
    w, s = photo_window, photo_window.state
    s.select(image=2, layer="layer1.0.relu", feature=0)
    f = open_analysis(w, qtbot, "open_occlusion", "occlusion")
    assert f.index == 2 and f.image.shape == (SIZE, SIZE, 3)
    assert (f.request.size, f.request.stride) == (SIZE // 4, SIZE // 16)  # a 56-pixel square every 14 pixels
    assert f.target_probs.shape == f.activation.shape == f.top_class.shape and f.target_probs.shape[0] > 4

    f = open_analysis(w, qtbot, "open_invariance", "invariance")
    assert f.thumbs.shape[1:] == (SIZE, SIZE, 3) and f.probs.shape[1] == 1000 and len(f.classes) == 1000
    assert f.distance.shape[0] == len(s.opened.names)

    f = open_analysis(w, qtbot, "open_backprop", "backpropagation")
    assert f.image.shape == (SIZE, SIZE, 3) and f.index == 2

    f = open_analysis(w, qtbot, "open_attribution", "attribution")
    assert f.pictures and all(p.shape == (3, SIZE, SIZE) for _method, p in f.pictures)

    synthesis = w.views["synthesized"]
    synthesis.pane.steps.setValue(4)
    w.menu_actions["open_synthesis"].trigger()
    qtbot.waitUntil(lambda: synthesis.shown is not None, timeout=120000)
    assert synthesis.shown.images.shape == (1, SIZE, SIZE, 3)
    synthesis.dock.hide()

    # Feature evolution: this model has no training snapshots, said in one line that names no file
    evolution = w.views["evolution"]
    w.menu_actions["open_evolution"].trigger()
    said = evolution.controls.message
    qtbot.waitUntil(lambda: "snapshots" in said.text(), timeout=60000)
    assert "has no training snapshots" in said.text() and "\n" not in said.text()
    assert ".pt" not in said.text() and "weights/" not in said.text()
    assert evolution.shown is None


def test_sanity_checks_at_128(make_window, photo_folder, qtbot):
    """At 128 pixels: the cascade and the RISE curves take 20 to 35 s of one CPU thread at 224."""
    w = open_folder_window(make_window, qtbot, resnet_at(128), photo_folder)
    f = open_analysis(w, qtbot, "open_sanity", "sanity")
    assert f.sanity.images.shape == (1, 128, 128, 3)
    assert f.curves and all(len(c.deletion) == len(c.insertion) for c in f.curves.values())


# Verdicts only where the labels are the model's classes ------------------------------------------


@pytest.fixture
def cifar_folder(tmp_path):
    """Class folders named as CIFAR-10's classes, two photos (of mixed sizes) in each of six."""
    root = tmp_path / "pets"
    for c, name in enumerate(("airplane", "bird", "cat", "dog", "ship", "truck")):
        (root / name).mkdir(parents=True)
        for k in range(2):
            write_photo(root / name / f"{k}.jpg", 60 + 20 * k, 48 + 10 * c, "RGB", seed=10 * c + k)
    return root


def verdicts(window) -> list[str]:
    """The ✓ and ✗ marks of every thumbnail's caption ("" where it has none)."""
    m = window.views["images"].pane.model
    texts = [m.data(m.index(row)) for row in range(m.rowCount())]
    return ["✓" if "✓" in t else "✗" if "✗" in t else "" for t in texts]


def test_no_verdict_and_no_accuracy_where_the_labels_are_not_the_models_classes(make_window, cifar_folder, qtbot):
    w = open_folder_window(make_window, qtbot, resnet_at(SIZE), cifar_folder)
    qtbot.waitUntil(lambda: every_image_predicted(w), timeout=60000)
    pane = w.views["images"].pane
    assert (pane.model.truth == -1).all()  # "cat" and "ship" are not among ImageNet's classes
    assert verdicts(w) == [""] * 12
    m = pane.model
    assert all(m.data(m.index(row), Qt.ItemDataRole.ForegroundRole) is None for row in range(12))
    assert "% right" not in pane.count.text() and "showing 12 of 12" in pane.count.text()


def test_verdicts_and_accuracy_where_the_labels_are_the_models_classes(make_window, model, cifar_folder, qtbot):
    w = open_folder_window(make_window, qtbot, model, cifar_folder)  # SeedNet: CIFAR-10's ten classes
    qtbot.waitUntil(lambda: every_image_predicted(w), timeout=60000)
    pane = w.views["images"].pane
    # The folders are numbered 0..5 by the folder; to the model they are its own classes, by name
    assert pane.model.truth.tolist() == [
        CLASSES.index(c) for c in ("airplane", "bird", "cat", "dog", "ship", "truck") for _ in range(2)
    ]
    assert all(v in ("✓", "✗") for v in verdicts(w))
    right = int((pane.model.truth == pane.model.predicted).sum())
    assert f"{100 * right / 12:.1f}% right" in pane.count.text()


# A model switch while the browser predicts -------------------------------------------------------


def switch_at_the_next_batch(window, *requests: ModelRequest) -> list[int]:
    """Open `requests` (one after the other at once) the moment a batch of the browser's predictions is in while
    the next is on its way; returns, once done, how many images were predicted then."""
    predicted_then: list[int] = []

    def on_result(result: object) -> None:
        predicted = window.views["images"].pane.model.predicted
        on_its_way = isinstance(window.controller.running, PredictRequest)  # the next batch (not waiting for a pause)
        if isinstance(result, PredictionsReady) and not predicted_then and on_its_way:
            predicted_then.append(int((predicted >= 0).sum()))
            for request in requests:
                window.views["layer_and_feature"].open_model(request)

    window.controller.result_ready.connect(on_result)
    return predicted_then


def test_a_model_switch_while_the_browser_predicts_still_predicts_every_image(
    make_window, cifar_folder, qtbot, monkeypatch
):
    monkeypatch.setattr(browser_view, "PREDICT_BATCH", 2)  # six batches: a switch lands between them
    w = open_folder_window(make_window, qtbot, resnet_at(SIZE), cifar_folder)
    s, pane = w.state, w.views["images"].pane
    back = ModelRequest.reopening(s.opened.info)
    to_zfnet = switch_at_the_next_batch(w, ModelRequest("zfnet-cifar"))
    qtbot.waitUntil(lambda: bool(to_zfnet) and s.opened.info.spec == "zfnet-cifar", timeout=60000)
    to_resnet = switch_at_the_next_batch(w, back)  # and back, while ZFNet's predictions run
    qtbot.waitUntil(lambda: bool(to_resnet) and s.opened.info.spec == "torchvision:resnet18", timeout=60000)
    assert 0 < to_zfnet[0] < 12 and 0 < to_resnet[0] < 12
    qtbot.waitUntil(lambda: every_image_predicted(w) and w.controller.running is None, timeout=60000)
    assert s.images.size == SIZE and len(pane.model.predicted) == 12
    assert len(pane.model.classes) == 1000 and (pane.model.truth == -1).all()
    assert "% right" not in pane.count.text() and verdicts(w) == [""] * 12
    # The predictions are the open model's own
    expected = s.model(s.images.tensor(list(range(12)))).argmax(1).numpy()
    np.testing.assert_array_equal(pane.model.predicted, expected)


def test_a_switch_to_a_cifar_model_while_the_browser_predicts_says_how_many_are_right(
    make_window, cifar_folder, qtbot, monkeypatch
):
    monkeypatch.setattr(browser_view, "PREDICT_BATCH", 2)
    w = open_folder_window(make_window, qtbot, resnet_at(SIZE), cifar_folder)
    s, pane = w.state, w.views["images"].pane
    to_zfnet = switch_at_the_next_batch(w, ModelRequest("zfnet-cifar"))
    qtbot.waitUntil(lambda: bool(to_zfnet) and s.opened.info.spec == "zfnet-cifar", timeout=60000)
    assert 0 < to_zfnet[0] < 12
    qtbot.waitUntil(lambda: every_image_predicted(w) and w.controller.running is None, timeout=60000)
    assert s.images.size == 32 and len(pane.model.classes) == 10
    assert all(v in ("✓", "✗") for v in verdicts(w))
    right = int((pane.model.truth == pane.model.predicted).sum())
    assert f"{100 * right / 12:.1f}% right" in pane.count.text()


def test_a_switch_and_straight_back_while_the_browser_predicts(make_window, cifar_folder, qtbot, monkeypatch):
    monkeypatch.setattr(browser_view, "PREDICT_BATCH", 2)
    w = open_folder_window(make_window, qtbot, resnet_at(SIZE), cifar_folder)
    s, pane = w.state, w.views["images"].pane
    first = s.opened.model
    switched = switch_at_the_next_batch(w, ModelRequest("zfnet-cifar"), ModelRequest.reopening(s.opened.info))
    qtbot.waitUntil(lambda: bool(switched) and s.opened.model is not first, timeout=60000)
    qtbot.waitUntil(lambda: every_image_predicted(w) and w.controller.running is None, timeout=60000)
    assert s.opened.info.spec == "torchvision:resnet18" and s.images.size == SIZE
    expected = s.model(s.images.tensor(list(range(12)))).argmax(1).numpy()
    np.testing.assert_array_equal(pane.model.predicted, expected)
    assert "% right" not in pane.count.text()


def _photos_and_a_broken_file(tmp_path, n: int):
    """A folder of `n` small random photos and `broken.jpg`, which is no image."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(n)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / f"ok{i}.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    return folder


def test_an_unreadable_file_gets_a_flat_projection_in_feature_across_images(make_window, qtbot, tmp_path):
    """Its picture is black; the projection of nothing is drawn flat (0), not as colours of the black image."""
    w = make_window(source=str(_photos_and_a_broken_file(tmp_path, 3)))
    across = w.views["feature_across_images"]
    qtbot.waitUntil(lambda: across.shown is not None and len(across.shown.page) == 4, timeout=30000)
    broken = next(i for i, path in enumerate(w.state.images.paths) if path.endswith("broken.jpg"))
    r = across.shown
    position = r.page.index(broken)
    assert not r.page_projections[position].any()
    assert all(r.page_projections[i].any() for i in range(len(r.page)) if i != position)


def test_prediction_batches_hold_as_many_pixels_as_64_cifar_images():
    """A view asked for while the browser predicts waits one batch: at 224 px that is one photo's forward pass."""
    assert browser_view.predict_batch(32) == 64
    assert browser_view.predict_batch(64) == 16
    assert browser_view.predict_batch(224) == browser_view.predict_batch(299) == 1


def test_an_unreadable_file_has_no_maps_and_no_projection_only_the_reason(make_window, qtbot, tmp_path):
    """Its black stand-in must not be drawn as though the model had seen a picture."""
    w = make_window(source=str(_photos_and_a_broken_file(tmp_path, 2)))
    s = w.state
    qtbot.waitUntil(lambda: s.images is not None and s.shown is not None, timeout=30000)
    broken = next(i for i, path in enumerate(s.images.paths) if path.endswith("broken.jpg"))
    fine = next(i for i in range(len(s.images)) if i != broken)
    s.select(image=broken)
    qtbot.waitUntil(lambda: s.shown is not None and s.shown.index == broken, timeout=30000)
    maps, projection = w.views["maps"].pane, w.views["projection"].pane
    assert maps.grid.image_item.image is None and maps.large.image_item.image is None
    assert "could not be read" in maps.grid.title_text() and maps.grid.colour_bar is None
    assert projection.views[0].image_item.image is None and "could not be read" in projection.header.text()
    assert not any(v.isVisibleTo(projection) for v in projection.views[1:])
    s.select(image=fine)  # a readable one is drawn again
    qtbot.waitUntil(lambda: s.shown is not None and s.shown.index == fine, timeout=30000)
    assert maps.grid.image_item.image is not None and "could not be read" not in maps.grid.title_text()
    assert projection.views[0].image_item.image is not None and "could not be read" not in projection.header.text()


def test_nothing_of_the_old_model_stays_on_screen_while_the_new_one_computes(window, qtbot):
    """Between a model switch and the new model's first pass, the views say they wait; the page across images
    is marked stale while it is for another feature than the selected one."""
    w, s = window, window.state
    across = w.views["feature_across_images"]
    qtbot.waitUntil(lambda: s.shown is not None and across.shown is not None, timeout=30000)
    assert not across.pane.stale.isVisibleTo(across.pane)
    s.select(feature=s.feature + 1)
    assert across.pane.stale.isVisibleTo(across.pane)  # at once, before the new page is asked for
    qtbot.waitUntil(lambda: across.shown.feature == s.feature, timeout=30000)
    assert not across.pane.stale.isVisibleTo(across.pane)
    s.set_images(s.source_images, s.source)  # new images (or a new model): what was shown goes at once
    maps, projection = w.views["maps"].pane, w.views["projection"].pane
    assert maps.grid.image_item.image is None and "waiting" in maps.grid.title_text()
    assert projection.views[0].image_item.image is None and "waiting" in projection.header.text()
    assert across.pane.view.image_item.image is None and "waiting" in across.pane.view.title_text()
    qtbot.waitUntil(lambda: across.shown is not None and s.shown is not None, timeout=30000)
