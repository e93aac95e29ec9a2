"""File > Open model…: an architecture plus a checkpoint, or a model card, as a ModelRequest.

The architecture is a bundled name (seednet, zfnet-cifar), torchvision:NAME, FILE.py:CLASS or a
model card .toml, exactly as `--model` takes it; the other fields are `--checkpoint`,
`--num-classes`, `--input-size` and `--weights random`. Files are picked with the safe dialogs of
explorer.gui.dialogs. Nothing is loaded here: the window sends the request to the worker. The dialog
is kept by its window, so it opens again as it was left (what was typed before a load that failed).
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from explorer.gui import dialogs
from explorer.gui.messages import ModelRequest

ARCHITECTURES = (
    "seednet", "zfnet-cifar", "torchvision:alexnet", "torchvision:vgg11", "torchvision:vgg11_bn",
    "torchvision:vgg16_bn", "torchvision:resnet18", "torchvision:resnet34", "torchvision:resnet50",
)  # fmt: skip
HELP = (
    "Architecture: a bundled model, torchvision:NAME, FILE.py:CLASS (your nn.Module class) or a model card .toml.\n"
    "Checkpoint: a state dict for it (empty: the bundled or pretrained weights)."
)
WEIGHT_SETS = ("torchvision:", "timm:")  # the builders that have weight sets, "random" among them
RANDOM_TIP = "Fresh random weights: the architecture alone, nothing downloaded (torchvision and timm models)"


class OpenModelDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open model")
        self.architecture = QComboBox()
        self.architecture.setEditable(True)
        self.architecture.addItems(ARCHITECTURES)
        self.architecture.setMinimumContentsLength(32)
        self.checkpoint = QLineEdit()
        self.checkpoint.setPlaceholderText("model.pt (a state dict)")
        self.num_classes = _optional_spin("the model's own")
        self.input_size = _optional_spin("the model's own")
        self.random_weights = QCheckBox("random weights (look at the architecture)")
        form = QFormLayout(self)
        help_text = QLabel(HELP)
        help_text.setWordWrap(True)
        form.addRow(help_text)
        form.addRow("architecture", _with_button(self.architecture, "File…", self._on_architecture_file_clicked))
        form.addRow("checkpoint", _with_button(self.checkpoint, "File…", self._on_checkpoint_file_clicked))
        form.addRow("classes (torchvision)", self.num_classes)
        form.addRow("input size", self.input_size)
        form.addRow("weights", self.random_weights)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.architecture.currentTextChanged.connect(self._show_weights)
        self.checkpoint.textChanged.connect(self._show_weights)
        self._show_weights()

    def request(self) -> ModelRequest | None:
        """The model the fields name, or None when no architecture is given."""
        spec = self.architecture.currentText().strip()
        if not spec:
            return None
        random = self.random_weights.isEnabled() and self.random_weights.isChecked()
        return ModelRequest(
            spec, self.checkpoint.text().strip() or None, self.num_classes.value() or None,
            self.input_size.value() or None, weights="random" if random else None,
        )  # fmt: skip

    def _show_weights(self, *_args: object) -> None:
        """Random weights are a choice for the builders with weight sets, and only without a checkpoint."""
        spec = self.architecture.currentText().strip()
        if not spec.startswith(WEIGHT_SETS):
            self.random_weights.setEnabled(False)
            self.random_weights.setToolTip(
                f"{spec or 'This architecture'}: its weights are the bundled or a checkpoint's"
            )
        elif self.checkpoint.text().strip():
            self.random_weights.setEnabled(False)
            self.random_weights.setToolTip("The checkpoint gives the weights")
        else:
            self.random_weights.setEnabled(True)
            self.random_weights.setToolTip(RANDOM_TIP)

    def _on_architecture_file_clicked(self) -> None:
        files = dialogs.get_open_file_names(self, "Model file", "Model files (*.py *.toml)")
        if files:
            # A Python file names its class after the colon: the first class is filled in for a single-class file.
            path = files[0]
            self.architecture.setEditText(path if path.endswith(".toml") else f"{path}:{_only_class(path)}")

    def _on_checkpoint_file_clicked(self) -> None:
        files = dialogs.get_open_file_names(self, "Checkpoint", "State dicts (*.pt *.pth *.bin);;All files (*)")
        if files:
            self.checkpoint.setText(files[0])


def _optional_spin(zero_text: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(0, 100000)
    spin.setSpecialValueText(zero_text)
    return spin


def _with_button(field: QWidget, text: str, slot: object) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(field, 1)
    button = QPushButton(text)
    button.clicked.connect(slot)
    layout.addWidget(button)
    return row


def _only_class(path: str) -> str:
    """The one top-level class a Python file defines (read as text, never run), or "" when not exactly one."""
    import ast

    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(1_000_000))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return ""
    names = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    return names[0] if len(names) == 1 else ""


def ask_model(parent: QWidget | None) -> ModelRequest | None:
    """Show the dialog (the window's own, as it was last left); the model to open, or None when cancelled.
    Tests replace this."""
    dialog = parent.findChild(OpenModelDialog) if parent is not None else None
    if dialog is None:
        dialog = OpenModelDialog(parent)
    if not dialogs.run_dialog(dialog):  # type: ignore[arg-type]
        return None
    return dialog.request()
