"""The faithfulness views: Attribution (a class's CAM beside its gradient, guided and deconvnet pictures) and Sanity
(the cascading randomization and RISE's curves), each checked against the engine's functions called directly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explorer.analyses.colours import cam_rgb8
from explorer.cli import main as cli_main
from explorer.core.checkpoint import save_model
from explorer.core.class_activation import cam, upsample_cam
from explorer.core.rise_curves import deletion_insertion
from explorer.core.saliency import logit_attribution, saliency_maps
from explorer.core.sanity_checks import sanity
from explorer.gui import dialogs
from explorer.gui.messages import AnalysisRequest, ExportDone, Failure
from explorer.gui.views.attribution.pane import cam_over_image


def open_view(window, qtbot, name: str):
    view = window.views[name]
    assert not view.dock.isVisible()
    window.menu_actions[f"open_{name}"].trigger()
    qtbot.waitUntil(lambda: view.shown is not None, timeout=60000)
    assert view.dock.isVisible()
    return view


def test_attribution_shows_the_cam_and_pictures_of_the_predicted_class(window, qtbot, model, images):
    window.state.select(image=5)
    view = open_view(window, qtbot, "attribution")
    f = view.shown.figure
    x = images.tensor([5])
    predicted = int(model(x).argmax(1)[0])
    assert f.cam.image_label.startswith("#5") and f.cam.target == predicted and f.cam.layer == "conv2"
    reference = cam(model, x, "conv2", predicted, method="gradcam")
    np.testing.assert_allclose(f.cam.cam, reference[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(f.cam.overlay, upsample_cam(reference, (32, 32))[0].numpy(), atol=1e-6)
    for method, picture in f.pictures:
        expected = logit_attribution(model, x, predicted, method=method)[0].numpy()
        np.testing.assert_allclose(picture, expected, atol=1e-6)
    shown = view.pane.views[0].image_item.image
    np.testing.assert_allclose(shown, cam_over_image(f.cam.image, f.cam.overlay), atol=1e-6)
    assert [v.title_text() for v in view.pane.views[2:]] == ["gradient", "guided backprop", "deconvnet"]


def test_attribution_follows_the_class_method_and_image_chosen(window, qtbot, model, images):
    view = open_view(window, qtbot, "attribution")
    pane = view.pane
    pane.target.setCurrentIndex(pane.target.findData(3))
    pane.method.setCurrentIndex(pane.method.findData("layercam"))
    pane.layer.setCurrentIndex(pane.layer.findData("conv1"))
    pane.options_changed.emit()
    qtbot.waitUntil(lambda: view.shown.figure.request.target == 3 and view.shown.figure.cam.layer == "conv1")
    f = view.shown.figure
    x = images.tensor([window.state.image])
    np.testing.assert_allclose(f.cam.cam, cam(model, x, "conv1", 3, method="layercam")[0].numpy(), atol=1e-6)
    window.state.select(image=9)
    qtbot.waitUntil(lambda: view.shown.figure.request.image == 9)
    assert view.shown.figure.cam.target == 3  # the class chosen stays chosen for the next image


def test_the_window_draws_a_cam_in_the_figures_colours():
    import matplotlib

    v = np.linspace(0.0, 1.0, 2001)
    expected = matplotlib.colormaps["jet"](v)[:, :3] * 255
    assert np.abs(cam_rgb8(v).astype(float) - expected).max() <= 0.5 + 1e-9  # rounding to whole levels only


def test_sanity_shows_the_cascade_and_the_rise_curves_of_the_image(window, qtbot, model, images):
    window.state.select(image=2)
    view = open_view(window, qtbot, "sanity")
    f = view.shown.figure
    x = images.tensor([2])
    expected = sanity(model, x, seed=0)
    result = f.sanity.result
    assert result.layers == expected.layers and len(result.layers) >= 3
    target = int(result.targets[0])
    for m in f.request.methods:
        np.testing.assert_allclose(result.spearman[m], expected.spearman[m], atol=1e-6)
        curves = deletion_insertion(model, x[0], saliency_maps(model, x, target, method=m)[0], target)
        np.testing.assert_allclose(f.curves[m].deletion, curves.deletion, atol=1e-6)
        assert f.curves[m].insertion_auc == pytest.approx(curves.insertion_auc, abs=1e-6)
    methods, steps = len(f.request.methods), len(result.layers) + 1
    strip = view.pane.pictures.image_item.image
    assert strip.shape[:2] == (methods * 33 - 1, steps * 33 - 1)  # 32 px pictures, 1 px apart
    assert len(view.pane.cascade_plot.listDataItems()) == methods


def test_a_new_image_stops_the_running_cascade_and_shows_only_the_new_one(window, qtbot, monkeypatch):
    asked: list[AnalysisRequest] = []
    failures: list[Failure] = []
    view = window.views["sanity"]
    real_submit = window.controller.submit

    def recorded(job, owner):
        if owner is view:
            asked.append(job)
        real_submit(job, owner)

    monkeypatch.setattr(window.controller, "submit", recorded)
    real_failure = view.on_failure
    monkeypatch.setattr(view, "on_failure", lambda f: (failures.append(f), real_failure(f)))
    window.menu_actions["open_sanity"].trigger()
    qtbot.waitUntil(lambda: bool(asked) and window.controller.running is asked[0])
    window.state.select(image=11)
    qtbot.waitUntil(lambda: view.shown is not None, timeout=60000)
    assert view.shown.figure.request.image == 11 and view.shown.request_id == asked[-1].id
    assert asked[-1].analysis.image == 11
    assert not any(f.request_id == asked[-1].id for f in failures)


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    rng = np.random.default_rng(7)
    for name in ("cat", "ship"):
        (root / "test" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "test" / name / f"{i}.png")
    return root


@pytest.mark.parametrize(
    ("name", "argv"), [("attribution", ["cam", "--image", "1"]), ("sanity", ["sanity", "--image", "1"])]
)
def test_the_views_export_what_the_command_line_writes(
    make_window, model, data_dir, qtbot, monkeypatch, tmp_path, name, argv
):
    checkpoint = tmp_path / "seednet.pt"
    save_model(model, checkpoint)
    w = make_window(checkpoint=str(checkpoint), source="probes")
    w.sources.open_source(str(data_dir), "test")
    qtbot.waitUntil(lambda: w.state.images is not None and len(w.state.images) == 4 and w.state.shown is not None)
    w.state.select(image=1)
    view = open_view(w, qtbot, name)
    qtbot.waitUntil(lambda: view.shown.figure.request.image == 1)
    path = tmp_path / "window.svg"
    monkeypatch.setattr(dialogs, "get_save_file_name", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(w.controller.result_ready, check_params_cb=lambda r: isinstance(r, ExportDone)):
        view.controls.export.click()
    out = tmp_path / "cli.svg"
    common = ["--checkpoint", str(checkpoint), "--data", str(data_dir), "--split", "test", "--device", "cpu"]
    assert cli_main(["export", *argv, *common, "--out", str(out)]) == 0
    assert path.read_bytes() == out.read_bytes()
