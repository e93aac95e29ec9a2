"""The base of the views that run one analysis on the selection (Occlusion, Feature evolution, Invariance, ...).

Each opens from the Analyse menu as a dock, tabbed beside Projection the first time. While it is visible it
follows the selection through the state's signal: each change asks the worker for the analysis request
built from the selection and the pane's options, latest wins (a newer one stops the running one at its
next step). Progress comes while it runs; Cancel stops it. Export (its pane's button, or its entry in
File > Export figure) writes the shown figure's request, the same request the command line builds, so both
write the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from PySide6.QtWidgets import QWidget

from explorer.core.errors import ExplorerError
from explorer.gui.actions import EXPORT_MENU, ActionInfo
from explorer.gui.host import Host, View
from explorer.gui.messages import AnalysisRequest, AnalysisResult, Failure, Progress


class AnalysisView(View):
    """A view of one analysis: subclasses give the pane (with `controls`), `open_action` and `figure_request`."""

    open_action: ClassVar[str]  # the key of the menu action that opens it
    priority: ClassVar[int] = 9  # its jobs' place in the worker's line (after the views that follow scrubbing)
    room: ClassVar[tuple[float, float]] = (0.0, 0.0)  # the shares of the window's width and height it asks for, opened

    def __init_subclass__(cls, **kwargs: object) -> None:
        """Each analysis view's actions end with its entry in File > Export figure, in the Analyse menu's order
        after the main views' entries."""
        super().__init_subclass__(**kwargs)
        if "open_action" in cls.__dict__:
            opener = next((a.order for a in cls.actions if a.key == cls.open_action), 50)
            cls.actions = (*cls.actions, export_action(cls.name, cls.title, 100 + opener))

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.pane = self.make_pane()
        self.controls = getattr(self.pane, "controls", None)
        self.dock = host.add_dock(self, self.pane, area="bottom", hidden=True)
        self.shown: AnalysisResult | None = None
        self._asked: AnalysisRequest | None = None
        # On screen: shown, and in front where it is a tab (a tab behind another is "visible" to Qt, but its dock says
        # when its tab is selected or unselected).
        self.on_screen = False
        self._paused: int | None = None  # the id of the run stopped when the view went behind a tab
        self.state.selection_changed.connect(self.request)
        self.state.model_changed.connect(self._on_state_replaced)
        self.state.images_changed.connect(self._on_state_replaced)
        self.dock.visibilityChanged.connect(self._on_dock_visibility_changed)
        options_changed = getattr(self.pane, "options_changed", None)
        if options_changed is not None:
            options_changed.connect(self.request)
        if self.controls is not None:
            self.controls.run_requested.connect(self.run)
            self.controls.cancel_requested.connect(self.cancel)
            self.controls.export_requested.connect(self.export)

    def make_pane(self) -> QWidget:
        raise NotImplementedError

    def figure_request(self) -> object | None:
        """The analysis request for the selection and the pane's options (None: nothing to ask)."""
        raise NotImplementedError

    def handlers(self) -> dict[str, Callable[[], None]]:
        return {self.open_action: self.open, f"export_{self.name}": self.export}

    def open(self) -> None:
        """Show the dock in front and run the analysis for the selection."""
        self.host.open_dock(self.dock, room=self.room)
        self.on_screen = True
        self.request()

    # Asking ----------------------------------------------------------------------------------------

    def run(self) -> None:
        """Run, always: a figure shown or asked for already is computed again."""
        self._asked = None
        self.request()

    def request(self, *_args: object) -> None:
        """Ask the worker for the selection, unless it is shown or asked for already (latest wins). A hidden view asks
        nothing: it marks what it shows as stale and asks when it is shown again."""
        images = self.state.images
        if images is None:
            return
        try:
            figure = self.figure_request()
        except ExplorerError as exc:
            self.mark_stale(self.shown is not None)
            self.said(str(exc))
            return
        self.mark_stale(self.shown is not None and not self.shows(figure))
        if figure is None or not self.on_screen:
            return
        if self._asked is not None and self._asked.analysis == figure and self._asked.images is images:
            return  # the same analysis is running or shown already
        self._asked = AnalysisRequest(figure, images, self.state.opened.label, priority=self.priority,
                                      one_thread=self.priority < 5)  # fmt: skip
        self.started()
        self.host.submit(self._asked, self)

    def cancel(self) -> None:
        if self._asked is not None and (self.shown is None or self.shown.request_id != self._asked.id):
            self.host.cancel(AnalysisRequest, self)
            self._asked = None
            self.said(f"{self.title}: cancelled")

    def export(self) -> None:
        if self.shown is None or self.state.images is None:
            self.host.say(f"{self.title}: nothing computed yet")
            return
        self.host.export(self.shown.figure.request, self.title.lower())

    # Answers ---------------------------------------------------------------------------------------

    def on_result(self, result: object) -> None:
        if isinstance(result, AnalysisResult):
            self.shown = result
            self.show(result)
            self.mark_now()

    def mark_now(self) -> None:
        """Mark the figure shown stale where the selection moved on since it was asked for."""
        try:
            figure = self.figure_request()
        except ExplorerError:
            figure = None
        self.mark_stale(self.shown is not None and not self.shows(figure))

    def shows(self, figure: object) -> bool:
        """Whether the figure shown is the one `figure` asks for."""
        return self.shown is not None and self.shown.figure.request == figure

    def mark_stale(self, stale: bool) -> None:
        """Say whether the figure shown is for an earlier selection (subclasses without controls mark their pane)."""
        if self.controls is not None:
            self.controls.set_stale(stale)

    def on_failure(self, failure: Failure) -> None:
        if failure.request_id == self._paused:
            return  # stopped because it went behind a tab: the view says so already
        if self._asked is not None and failure.request_id == self._asked.id:
            self._asked = None  # nothing runs or is shown for it: Run asks for it again
        self.said(failure.message)

    def on_progress(self, progress: object) -> None:
        if isinstance(progress, Progress) and self.controls is not None:
            self.controls.progressed(progress.done, progress.total)

    def show(self, result: AnalysisResult) -> None:
        """Draw the result (subclasses add to it)."""
        self.pane.show_figure(result.figure)  # type: ignore[attr-defined]
        if self.controls is not None:
            self.controls.progressed(1, 1)
            self.controls.ended(f"{result.elapsed_ms / 1000:.1f} s")

    def started(self) -> None:
        if self.controls is not None:
            self.controls.started()

    def said(self, message: str) -> None:
        """Say why nothing is (or will be) shown: in the pane's controls."""
        if self.controls is not None:
            self.controls.ended(message)

    def _on_state_replaced(self, _value: object) -> None:
        """A new model or new images: nothing computed before stays shown; an open view computes again (the state's
        selection signal follows this one)."""
        had = self._asked is not None or self.shown is not None
        self.host.cancel(AnalysisRequest, self)
        self._asked = self.shown = None
        self.clear()
        self.mark_stale(False)
        self.said("the model or the images changed: run again for them" if had and not self.on_screen else "")

    def clear(self) -> None:
        self.pane.clear()  # type: ignore[attr-defined]

    def _on_dock_visibility_changed(self, visible: bool) -> None:
        self.on_screen = visible
        if visible:
            self.request()
        elif self._asked is not None and (self.shown is None or self.shown.request_id != self._asked.id):
            # Hidden behind another tab: its unfinished run would hold up the view now in front; it runs again
            # when shown (the figure on screen, if any, is marked stale until then).
            self.host.cancel(AnalysisRequest, self)
            self._paused = self._asked.id
            self._asked = None
            self.said("paused while hidden: it runs again when shown")


def export_action(name: str, title: str, order: int) -> ActionInfo:
    """The File > Export figure entry of the view `name`: the figure it shows, as the command line writes it."""
    return ActionInfo(
        f"export_{name}", f"{title}…", EXPORT_MENU, None, f"The {title} figure shown, as the command line writes it",
        order,
    )  # fmt: skip
