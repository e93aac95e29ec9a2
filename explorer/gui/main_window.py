"""The main window: wires the panes to the controller, holds the current choices, saves the layout."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QMainWindow
from torch import nn

from explorer.core.device import describe_device
from explorer.core.images import ImageSet
from explorer.core.model import CLASSES
from explorer.gui import dialogs
from explorer.gui.actions import build_actions
from explorer.gui.backprop_wiring import BackpropWiring
from explorer.gui.controller import Controller
from explorer.gui.experiments_wiring import TITLES as EXPERIMENTS
from explorer.gui.experiments_wiring import experiment_wirings
from explorer.gui.export_wiring import ExportWiring
from explorer.gui.help_dialogs import copy_view, show_about, show_shortcuts
from explorer.gui.input_wiring import InputImageWiring
from explorer.gui.messages import (
    DataLoaded,
    ExportRequest,
    Failure,
    LoadRequest,
    ModelRequest,
    PageRequest,
    PageResult,
    PredictRequest,
    ViewRequest,
    ViewResult,
    next_request_id,
)
from explorer.gui.model_wiring import ModelWiring
from explorer.gui.notice import NoticeBar
from explorer.gui.panes.across_images import AcrossImagesPane
from explorer.gui.panes.activations import ActivationsPane
from explorer.gui.panes.browser import BrowserPane
from explorer.gui.panes.input_image import InputImagePane
from explorer.gui.panes.layer_select import LayerSelectPane
from explorer.gui.panes.prediction import PredictionPane
from explorer.gui.panes.projection import ProjectionPane
from explorer.gui.panes.top_images import TopImagesPane
from explorer.gui.predictions_wiring import PredictionsWiring
from explorer.gui.settings import read_state, write_state
from explorer.gui.shortcut_guard import ShortcutGuard
from explorer.gui.status import ExplorerStatusBar
from explorer.gui.synthesis_wiring import SynthesisWiring
from explorer.gui.top_images_wiring import TopImagesWiring
from explorer.gui.window_layout import WindowLayoutMixin
from explorer.gui.window_sources import ImageSourcesMixin, source_name
from explorer.gui.window_state import OpenModel, WindowState, figure_label

STALE_KINDS = ("ViewRequest", "PageRequest", "PredictRequest", "TopPatchesRequest", "BackpropViewRequest")
PAGE_DELAY_MS = 100  # the page of Feature across images is asked for once scrubbing pauses this long


class MainWindow(ImageSourcesMixin, WindowLayoutMixin, QMainWindow):
    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        settings: QSettings,
        *,
        model_name: str = "bundled",
        checkpoint: str | None = None,
        source: str | None = None,
        split: str | None = None,
        images: ImageSet | None = None,
        device_notice: str = "",
    ) -> None:
        super().__init__()
        self.setWindowTitle("CNN Feature Explorer")
        self.setAcceptDrops(True)
        self._device_text = device_notice  # the device notice, shown unless a model's input size needs the bar
        self.settings = settings
        self.checkpoint = checkpoint  # the model's file (None: the bundled one), for figure titles
        # The open model, images, selection and scan, with change signals that the wiring modules observe.
        self.window_state = WindowState(OpenModel.of(model, figure_label(model, checkpoint)), self)
        self.state = self._fitted(read_state(settings, self.window_state.opened.channels))
        self._model_boundary = 0  # requests with a smaller id were asked under an earlier model
        self.source: str | tuple[str, ...] = source or self.state.source
        self.split = split or self.state.split
        self.images: ImageSet | None = None
        self.shown_id = 0  # the newest view result on screen; older ones are dropped
        self.shown: ViewResult | None = None
        self.shown_page_id = 0  # the same, for the page of Feature across images
        self.shown_page: PageResult | None = None
        self._drawn: dict[str, object] = {}  # what the maps and bars show: redraw only on change
        self._page_timer = QTimer(self, singleShot=True, interval=PAGE_DELAY_MS)
        self._page_timer.timeout.connect(self._request_page)
        self.controller = Controller(model, device, self)
        self.predictions = PredictionsWiring(self)

        self.browser = BrowserPane(CLASSES)
        self.layer_select = LayerSelectPane()
        self.activations = ActivationsPane()
        self.projection = ProjectionPane()
        self.across = AcrossImagesPane()
        self.prediction = PredictionPane(self.window_state.opened.info.classes)
        self.top_images = TopImagesPane()
        self.input_image = InputImagePane()
        self.notice = NoticeBar()
        self.device_notice = NoticeBar(offers=False)
        self.unreadable_notice = NoticeBar(offers=False)
        self._loads: dict[int, LoadRequest] = {}  # sources asked for and not yet answered
        self._build_layout()
        self.status = ExplorerStatusBar()
        self.setStatusBar(self.status)
        self.status.show_device(describe_device(device))
        self.status.show_model(model_name)
        self.export_wiring = ExportWiring(self)
        self.menu_actions, menus = build_actions(self, {
            **self.export_wiring.handlers(),
            "open_model": lambda: self.model_wiring.open_dialog(),
            "open_folder": self._on_open_folder_triggered, "open_files": self._on_open_files_triggered,
            "download_cifar10": self.download_cifar10, "open_probes": lambda: self.open_source("probes"),
            "quit": self.close, "reset_layout": self._on_reset_layout_triggered,
            "next_feature": lambda: self.set_feature(self.state.feature + 1),
            "previous_feature": lambda: self.set_feature(self.state.feature - 1),
            "next_layer": lambda: self._step_layer(1), "previous_layer": lambda: self._step_layer(-1),
            "next_image": lambda: self._step_image(1), "previous_image": lambda: self._step_image(-1),
            "find_top_images": lambda: self.top_wiring.start_scan(), "cancel_scan": lambda: self.top_wiring.cancel_scan(),
            "open_scan": lambda: self.top_wiring.open_scan_file(),
            "open_backprop": lambda: self.backprop_wiring.open(),
            "copy_view": lambda: self.status.showMessage(copy_view(self)), "shortcuts": lambda: show_shortcuts(self),
            "about": lambda: show_about(self, *self.status.facts()),
            "open_synthesis": lambda: self.synthesis_wiring.open(),
            **{f"open_{kind}": lambda *_, kind=kind: self.experiments[kind].open() for kind in EXPERIMENTS},
        })  # fmt: skip
        for dock in self.docks:
            menus["&View"].addAction(dock.toggleViewAction())
        self._shortcut_guard = ShortcutGuard(self)  # an editor with focus keeps its arrow keys
        QApplication.instance().installEventFilter(self._shortcut_guard)
        self._connect()
        self.top_wiring = TopImagesWiring(self, self.top_images, self.docks[5])
        self.backprop_wiring = BackpropWiring(self)
        self.synthesis_wiring = SynthesisWiring(self)
        self.experiments = experiment_wirings(self)
        self.input_wiring = InputImageWiring(self)
        self.model_wiring = ModelWiring(self, model_name)
        self.layer_select.set_layers(self.window_state.opened.layers)
        self.layer_select.show_state(self.state.layer, self.state.feature)
        self.projection.show_options(self.state.options)
        self.projection.show_layer(self.state.layer, self._pooled(self.state.layer))
        self._restore_layout()
        if device_notice:
            self.status.showMessage(device_notice)
            self.device_notice.show_notice(device_notice)
        self._show_unsupported()
        if images is not None:
            self._show_images(images, self.source, "")
        else:
            self.open_source(self.source, self.split, fallback=True)

    # Wiring --------------------------------------------------------------------------------------

    def _connect(self) -> None:
        c = self.controller
        c.result_ready.connect(self._on_controller_result_ready)
        c.failed.connect(self._on_controller_failed)
        c.busy_changed.connect(self._on_controller_busy_changed)
        c.device_fell_back.connect(self._on_controller_device_fell_back)
        self.browser.image_selected.connect(self.set_image)
        self.browser.split_selected.connect(self._on_browser_split_selected)
        self.browser.page_changed.connect(self.request_view)
        self.across.image_selected.connect(self.set_image)
        self.layer_select.layer_selected.connect(self.set_layer)
        self.layer_select.feature_selected.connect(self.set_feature)
        self.activations.feature_selected.connect(self.set_feature)
        self.projection.options_changed.connect(self._on_projection_options_changed)
        for pane in (self.activations, self.projection, self.across, self.input_image):
            pane.wheel_scrolled.connect(self._on_view_wheel_scrolled)
        self.notice.download_requested.connect(self.download_cifar10)
        self.notice.open_folder_requested.connect(self._on_open_folder_triggered)

    # The current choices -------------------------------------------------------------------------

    def _update(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]
        self.window_state.select(self.state.layer, self.state.feature, self.state.image)

    def _channels(self, layer: str) -> int:
        return self.window_state.opened.channels[layer]

    def _pooled(self, layer: str) -> bool:
        """Whether max-pooling lies below `layer` in the open model (its way down has switches)."""
        return self.window_state.opened.layer(layer).pooled

    def _fitted(self, state):  # type: ignore[no-untyped-def]
        """`state` with its layer and feature made valid for the open model."""
        opened = self.window_state.opened
        layer = state.layer if state.layer in opened.names else opened.layers[0].name
        return replace(state, layer=layer, feature=min(state.feature, opened.channels[layer] - 1))

    def set_image(self, image: int) -> None:
        if self.images is None or not 0 <= image < len(self.images):
            return
        self._update(image=int(image))
        self.browser.show_current(image)
        self.request_view()

    def set_layer(self, layer: str) -> None:
        if layer not in self.window_state.opened.names:
            return
        feature = min(self.state.feature, self._channels(layer) - 1)
        self._update(layer=layer, feature=feature)
        self.layer_select.show_state(layer, feature)
        self.projection.show_layer(layer, self._pooled(layer))
        self.request_view()

    def set_feature(self, feature: int) -> None:
        feature = int(np.clip(feature, 0, self._channels(self.state.layer) - 1))
        if feature == self.state.feature:
            return
        self._update(feature=feature)
        self.layer_select.show_state(self.state.layer, feature)
        # The maps' frame and the enlarged map follow at once (they need no worker); painting them while
        # the worker computes the projection measured 1.5-2 ms faster per step than after it.
        self.activations.select(feature)
        self.request_view()

    def _step_layer(self, delta: int) -> None:
        names = self.window_state.opened.names
        i = names.index(self.state.layer) + delta
        if 0 <= i < len(names):
            self.set_layer(names[i])

    def _step_image(self, delta: int) -> None:
        target = self.browser.step(self.state.image, delta)
        if target is not None:
            self.set_image(target)

    def _on_projection_options_changed(self, options: object) -> None:
        self._update(options=options)
        self.request_view()

    def _on_view_wheel_scrolled(self, steps: int) -> None:
        self.set_feature(self.state.feature + steps)

    def request_view(self) -> None:
        """Ask the worker for everything the views show for the current choices (latest wins)."""
        if self.images is None or self.window_state.opened.unsupported():
            return
        s = self.state
        self.predictions.view_asked()
        self.controller.submit(ViewRequest(self.images, s.image, s.layer, s.feature, s.options))
        # The page is a lower-priority request of its own, asked for when scrubbing pauses: a page
        # computed on the way would hold up the next feature's views on the one worker.
        self._page_timer.start()
        self.top_wiring.follow()
        self.synthesis_wiring.request()  # a new feature stops the running synthesis now (latest wins)

    def _request_page(self) -> None:
        if self.images is not None and not self.window_state.opened.unsupported():
            s = self.state
            page = self.browser.page(s.image)
            self.controller.submit(PageRequest(self.images, s.layer, s.feature, s.options, page))

    # Results -------------------------------------------------------------------------------------

    def _on_controller_result_ready(self, result: object) -> None:
        if isinstance(result, ViewResult):
            self._show_view(result)
        elif isinstance(result, PageResult):
            self._show_page(result)
        elif isinstance(result, DataLoaded):
            self._show_images(result.images, result.source, result.notice)

    def _show_view(self, r: ViewResult) -> None:
        if r.request_id <= self.shown_id:
            return
        self.shown_id = r.request_id
        self.shown = r
        # Only what changed is drawn again: a feature change moves the grid's frame and nothing else there.
        if self._drawn.get("maps") != (r.index, r.layer):
            self._drawn["maps"] = (r.index, r.layer)
            self.activations.show_maps(r.layer, r.activations, r.image)
        self.activations.select(self.state.feature if r.layer == self.state.layer else r.feature)
        title = f"image #{r.index} · {r.layer} feature {r.feature} · projected to pixels"
        self.projection.show_projections(title, r.projections)
        if self._drawn.get("probs") != r.index:
            self._drawn["probs"] = r.index
            truth = self.browser.model.truth
            if r.unreadable:
                self.prediction.show_unreadable(r.unreadable)
            else:
                self.prediction.show_probs(r.probs, int(truth[r.index]) if r.index < len(truth) else -1)
        self.status.show_timing(r.elapsed_ms)

    def _show_page(self, r: PageResult) -> None:
        if r.request_id <= self.shown_page_id:
            return
        self.shown_page_id = r.request_id
        self.shown_page = r
        self.across.show_page(f"{r.layer} feature {r.feature}", r.page, r.page_images, r.page_projections)

    def _on_controller_failed(self, failure: Failure) -> None:
        if failure.kind in STALE_KINDS and failure.request_id < self._model_boundary:
            return  # asked under the previous model (e.g. a layer it alone has): nothing to say
        self.status.show_failure(failure.message)
        load = self._loads.pop(failure.request_id, None)
        if load is not None:
            dialogs.explain_load_failure(self, load.download, source_name(load.source), failure.message)

    def _on_controller_device_fell_back(self, message: str) -> None:
        self.status.show_device(f"cpu ({message.split(':')[0].lower()})")
        self.status.show_failure(message)

    def _on_controller_busy_changed(self, request: object) -> None:
        if isinstance(request, LoadRequest):
            verb = "Downloading" if request.download else "Opening"
            self.status.set_busy(f"{verb} {source_name(request.source)}…")
        elif isinstance(request, ModelRequest):
            self.status.set_busy(f"Opening the model {request.describe()}…")
        elif isinstance(request, ExportRequest):
            self.status.set_busy(f"Exporting {Path(request.path).name}…")
        else:
            self.status.set_busy(None)

    # The model ---------------------------------------------------------------------------------------

    def show_model(self, opened: OpenModel) -> None:
        """Switch the views to a model the worker has loaded (explorer.gui.model_wiring asks for it)."""
        self.checkpoint = opened.info.checkpoint
        for kind in (ViewRequest, PageRequest, PredictRequest):
            self.controller.cancel(kind)
        # Whatever was asked under the previous model is stale: only results asked from now on are shown.
        self.shown_id = self.shown_page_id = self._model_boundary = next_request_id()
        self.shown = self.shown_page = None
        self._drawn.clear()
        self.window_state.set_model(opened)  # the scan and the Top images pane follow it
        self.state = self._fitted(self.state)
        self.layer_select.set_layers(opened.layers)
        self.layer_select.show_state(self.state.layer, self.state.feature)
        self.projection.show_layer(self.state.layer, self._pooled(self.state.layer))
        self.prediction.set_classes(opened.info.classes)
        self.status.show_model(opened.label)
        self.status.showMessage(f"Opened the model {opened.label} ({len(opened.layers)} layers)")
        self._show_unsupported()
        if self.images is not None:
            self.browser.set_images(self.images, self.split)  # the old model's predictions are gone
            self.browser.show_current(self.state.image)
            self.request_view()
            self.predictions.predict_from(0)

    def _show_unsupported(self) -> None:
        """Say above the views why they are off for this model (its input size), or clear that."""
        reason = self.window_state.opened.unsupported()
        self.device_notice.show_notice(reason or self._device_text)
        if reason:
            self.status.showMessage(reason)

    # Closing -------------------------------------------------------------------------------------

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        write_state(self.settings, self.state)
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.browser.model.close()
        self.controller.shutdown()
        super().closeEvent(event)
