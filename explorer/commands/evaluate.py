"""`cnn-explorer evaluate`: the model's top-1 accuracy on a split."""

from __future__ import annotations

from collections.abc import Sequence

from explorer.cli import Parser, add_common, load_from_args, open_from_args, progress_line, readable
from explorer.core.errors import ExplorerError


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="cnn-explorer evaluate", description="Print the model's accuracy on a split.")
    add_common(p)
    args = p.parse_args(argv)
    from explorer.core.labels import model_labels, unknown_classes
    from explorer.core.model_meta import model_info
    from explorer.core.training import evaluate

    model, device = load_from_args(args)
    ds = open_from_args(args.data, args.split, args.download, model)
    if (ds.labels < 0).any():
        raise ExplorerError(f"{args.data}: some images have no class label, so accuracy cannot be measured")
    unknown = unknown_classes(model, ds)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ExplorerError(
            f"{args.data}: its classes {shown} are not classes of {model_info(model).name}, "
            "so accuracy cannot be measured (labels are matched to the model's classes by name)"
        )
    pixels, labels = readable(ds, ds.all_pixels(progress_line("decoding")), args.data, model_labels(model, ds))
    acc = evaluate(model, pixels, labels, device)
    print(f"accuracy on {ds.name}: {100 * acc:.2f}% of {len(labels)} images")
    return 0
