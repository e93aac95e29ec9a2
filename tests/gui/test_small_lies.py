"""Small things the window said that were not so: projection titles, the split of a plain folder, wrapped layer
names, negative zero, a forgetful Open model dialog, export entries missing from the menu, keys missing from F1."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from explorer.analyses.backprop import BackpropRequest, check_lines, number
from explorer.core.backprop import conv_layers, explain_delta
from explorer.core.datasets import open_dataset, splits_of
from explorer.core.graph import Layer
from explorer.core.loading import Normalized
from explorer.gui import dialogs
from explorer.gui.actions import ACTIONS, EXPORT_MENU, shortcut_rows
from explorer.gui.messages import ExportDone, ModelRequest, ProjectionOptions
from explorer.gui.views.choices.open_model_dialog import OpenModelDialog
from explorer.gui.views.choices.view import model_key
from explorer.gui.views.projection.titles import computed_projections

# 1. Projection titles ----------------------------------------------------------------------------


def _shown_titles(window, qtbot, layer: str, options: ProjectionOptions) -> list[str]:
    s = window.state
    s.select(layer=layer)
    s.set_options(options)
    qtbot.waitUntil(
        lambda: s.shown is not None and s.shown.layer == layer and window.controller.running is None, timeout=30000
    )
    qtbot.wait(50)
    pane = window.views["projection"].pane
    return [v.title_text() for v in pane.views if not v.isHidden()]


def test_projection_titles_name_what_was_computed(window, qtbot):
    assert not window.state.opened.layer("conv1").pooled and window.state.opened.layer("conv2").pooled
    # No max-pool below conv1: fill was asked for, but there is nothing to unpool.
    assert _shown_titles(window, qtbot, "conv1", ProjectionOptions("deconvnet", "fill")) == [
        "deconvnet, no pooling below"
    ]
    # Switches vs fill where nothing is pooled: the same pixels, shown once.
    assert _shown_titles(window, qtbot, "conv1", ProjectionOptions("deconvnet", "fill", compare="unpooling")) == [
        "deconvnet, no pooling below"
    ]
    # Guided with fill kept: it went through the switches.
    assert _shown_titles(window, qtbot, "conv2", ProjectionOptions("guided", "fill")) == ["guided, switches"]
    # The three methods: the deconvnet's unpooling is named, the others went through the switches.
    assert _shown_titles(window, qtbot, "conv2", ProjectionOptions("guided", "fill", compare="methods")) == [
        "deconvnet, fill",
        "guided, switches",
        "gradient, switches",
    ]


def test_a_layer_above_an_overlapping_pool_is_titled_by_its_switches():
    layer = Layer("conv3", "conv3", 8, (4, 4), 4, 0, 9, pooled=True, fill=False)
    pixels = np.zeros((3, 4, 4), np.float32)
    # The pass for a layer that cannot be filled asks for the switches (ProjectionOptions.for_layer).
    options = ProjectionOptions("deconvnet", "fill", compare="methods")
    asked = (("deconvnet", pixels), ("guided", pixels), ("gradient", pixels))
    titles = [t for t, _ in computed_projections(asked, options, layer)]
    assert titles == ["deconvnet, switches", "guided, switches", "gradient, switches"]


# 2. The split of a folder without splits ------------------------------------------------------------


def _photos(folder, n: int = 3) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_splits_of_each_kind_of_source(tmp_path):
    _photos(tmp_path / "plain")
    _photos(tmp_path / "split" / "test" / "cat")
    _photos(tmp_path / "split" / "train" / "cat")
    _photos(tmp_path / "only" / "test" / "cat")
    assert splits_of(open_dataset(str(tmp_path / "plain"))) == ()
    assert splits_of(open_dataset(str(tmp_path / "split"), "test")) == ("train", "test")
    assert splits_of(open_dataset(str(tmp_path / "only"), "test")) == ("test",)
    assert splits_of(open_dataset("probes")) == ()


def test_a_plain_folder_of_photos_offers_no_split(make_window, qtbot, tmp_path):
    _photos(tmp_path / "photos")
    w = make_window(source=str(tmp_path / "photos"), split="test")
    qtbot.waitUntil(lambda: w.state.images is not None and w.state.source == str(tmp_path / "photos"))
    split = w.views["images"].pane.split
    qtbot.waitUntil(lambda: not split.isEnabled())
    assert split.currentText() != "test"
    assert "no train and test splits" in split.toolTip()


def test_a_folder_with_splits_offers_them(make_window, qtbot, tmp_path):
    _photos(tmp_path / "data" / "test" / "cat")
    _photos(tmp_path / "data" / "train" / "cat")
    w = make_window(source=str(tmp_path / "data"), split="test")
    qtbot.waitUntil(lambda: w.state.images is not None and w.state.source == str(tmp_path / "data"))
    split = w.views["images"].pane.split
    qtbot.waitUntil(split.isEnabled)
    assert split.currentText() == "test"
    assert [split.itemText(i) for i in range(split.count())] == ["train", "test"]


# 3. Layer names inside a normalising wrapper ---------------------------------------------------------


def test_backprop_names_the_layers_of_a_wrapped_model_as_the_window_does(model, images):
    wrapped = Normalized(model, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()
    assert conv_layers(wrapped) == conv_layers(model) == ("conv1", "conv2")
    e = explain_delta(wrapped, images.tensor([0]), int(images.labels[0]), "conv2", 0, 8, 8)
    assert e.layer == "conv2" and e.below is not None
    assert not e.below.relu.startswith("inner.") and not (e.below.pool or "").startswith("inner.")
    figure = BackpropRequest("conv2", 0, 0, 8, 8).compute(wrapped, images)
    assert figure.explanation.layer == "conv2" and "inner." not in figure.title


def test_the_backprop_pane_lists_a_wrapped_models_layers_by_their_names(make_window, images, qtbot, model):
    w = make_window(model=Normalized(model, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval(), images=images)
    pane = w.views["backpropagation"].pane
    assert [pane.layer.itemText(i) for i in range(pane.layer.count())] == ["conv1", "conv2"]
    w.menu_actions["open_backprop"].trigger()
    qtbot.waitUntil(lambda: w.views["backpropagation"].shown is not None)
    assert w.views["backpropagation"].shown.figure.explanation.layer == "conv2"


# 4. Numbers ----------------------------------------------------------------------------------------


def test_numbers_print_zero_as_zero_and_small_ones_readably():
    assert number(-0.0) == number(0.0) == "0"
    assert number(0.25) == "0.250" and number(-3.5) == "-3.500"
    assert number(0.00123) == "0.00123" and number(1.2e-5) == "1.2e-05" and number(12345.0) == "1.23e+04"


def test_a_zero_f_prime_prints_a_zero_total(model, images):
    figure = BackpropRequest("conv2", 0, 0, 8, 8).compute(model, images)
    e = figure.explanation
    below = dataclasses.replace(e.below, f_prime=0.0, delta=-0.0, autograd=0.0)
    zeroed = dataclasses.replace(figure, explanation=dataclasses.replace(e, below=below))
    last = check_lines(zeroed)[-1]
    assert last.startswith("total x f' = 0   autograd dC/du = 0   difference = 0"), last
    assert "e+00" not in last and "-0" not in last


# 5. Open model remembers, and offers random weights ---------------------------------------------------


def test_open_model_opens_again_with_what_was_typed_after_a_failed_load(window, qtbot, monkeypatch, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("from torch import nn\n\nclass Other(nn.Module):\n    pass\n")
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a[2]))

    def type_and_open(dialog: OpenModelDialog) -> bool:
        dialog.architecture.setEditText(f"{broken}:TinyNet")
        dialog.checkpoint.setText(str(tmp_path / "tiny.pt"))
        dialog.num_classes.setValue(10)
        dialog.input_size.setValue(64)
        return True

    monkeypatch.setattr(dialogs, "run_dialog", type_and_open)
    window.menu_actions["open_model"].trigger()
    qtbot.waitUntil(lambda: len(warnings) == 1)
    seen: list[tuple] = []

    def look_and_cancel(dialog: OpenModelDialog) -> bool:
        seen.append(
            (dialog.architecture.currentText(), dialog.checkpoint.text(), dialog.num_classes.value(),
             dialog.input_size.value())
        )  # fmt: skip
        return False

    monkeypatch.setattr(dialogs, "run_dialog", look_and_cancel)
    window.menu_actions["open_model"].trigger()
    assert seen == [(f"{broken}:TinyNet", str(tmp_path / "tiny.pt"), 10, 64)]


def test_the_dialog_offers_random_weights_for_torchvision_builders(qtbot):
    dialog = OpenModelDialog()
    qtbot.addWidget(dialog)
    dialog.architecture.setEditText("seednet")
    assert not dialog.random_weights.isEnabled()
    dialog.architecture.setEditText("torchvision:resnet18")
    assert dialog.random_weights.isEnabled()
    dialog.random_weights.setChecked(True)
    r = dialog.request()
    assert (r.spec, r.weights) == ("torchvision:resnet18", "random")
    dialog.checkpoint.setText("/x/resnet.pt")  # a checkpoint gives the weights
    assert not dialog.random_weights.isEnabled() and dialog.request().weights is None
    # The switcher keeps the architecture's random and trained weights apart.
    assert model_key(r) != model_key(ModelRequest("torchvision:resnet18"))


# 6. File > Export figure holds every analysis view ----------------------------------------------------

ANALYSIS_VIEWS = ("backpropagation", "synthesized", "occlusion", "evolution", "invariance", "attribution", "sanity")


def test_every_analysis_view_has_an_export_figure_entry(window):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    export_menu = next(a.menu() for a in menu.actions() if a.menu() is not None and a.text() == "&Export figure")
    entries = export_menu.actions()
    assert EXPORT_MENU.endswith("&Export figure")
    for name in ANALYSIS_VIEWS:
        action = window.menu_actions[f"export_{name}"]
        assert action in entries, name
        window.statusBar().clearMessage()
        action.trigger()  # nothing computed yet: it says so, and asks for no file
        message = window.statusBar().currentMessage()
        assert "nothing" in message and ("computed" in message or "counted" in message), (name, message)


def test_the_export_entry_writes_the_shown_figure(window, qtbot, monkeypatch, tmp_path):
    window.menu_actions["open_backprop"].trigger()
    qtbot.waitUntil(lambda: window.views["backpropagation"].shown is not None)
    path = tmp_path / "backprop.png"
    monkeypatch.setattr(dialogs, "get_save_file_name", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=lambda r: isinstance(r, ExportDone)):
        window.menu_actions["export_backpropagation"].trigger()
    assert path.stat().st_size > 0


# 7. F1 lists [ and ] -------------------------------------------------------------------------------


def test_the_shortcuts_list_the_bracket_keys(window):
    rows = shortcut_rows(window._action_infos)
    assert any("[" in keys and "]" in keys and "output channel" in what for keys, what in rows)
    assert any("[" in keys for keys, _ in shortcut_rows(ACTIONS))
