"""Data folders and counts (round 3): a split that is not there, folders that cannot be read, links out
of the data folder, and counts in `export maximize` that would run for hours or fill the memory.
"""

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from trust_helpers import BLUE, GREEN, one_error_line, png, time_limit

from explorer.cli import main
from explorer.commands import export_maximize
from explorer.core import datasets, synthesis
from explorer.core.datasets import open_dataset, open_folder
from explorer.core.errors import DataError
from explorer.core.synthesis import MAX_STEPS, MaximizeSettings, maximize

pytestmark = pytest.mark.usefixtures("private_cache")
REPO = Path(__file__).resolve().parents[2]


def _cli(tmp_path: Path, command: str, data: Path, *extra: str) -> int:
    """evaluate or scan on `data` with the bundled model; scan writes tmp_path/x.npz."""
    out = ["--out", str(tmp_path / "x.npz")] if command == "scan" else []
    return main([command, "--data", str(data), "--device", "cpu", *out, *extra])


def _split_folder(root: Path, *splits: str) -> Path:
    for split in splits:
        png(root / split / "cat" / "0.png", GREEN)
        png(root / split / "dog" / "0.png", BLUE)
    return root


# --- a split that is not there -----------------------------------------------------------------------


@pytest.mark.parametrize(("present", "asked"), [("test", "train"), ("train", "test")])
def test_a_missing_split_is_named_with_the_splits_there(present, asked, tmp_path, capsys):
    root = _split_folder(tmp_path / "D", present)
    with pytest.raises(DataError, match=f"has no {asked}/ split folder \\(it has: {present}\\)"):
        open_dataset(str(root), asked)
    for command in ("evaluate", "scan"):
        assert _cli(tmp_path, command, root, "--split", asked) == 2
        one_error_line(capsys.readouterr().err, str(root), f"no {asked}/ split folder", f"it has: {present}")
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("stand_in", ["file", "dangling_link", "link_to_a_file"])
def test_a_split_name_that_is_not_a_folder_is_no_split(stand_in, tmp_path):
    root = _split_folder(tmp_path / "D", "test")
    if stand_in == "file":
        (root / "train").write_text("not a folder")
    elif stand_in == "dangling_link":
        (root / "train").symlink_to(tmp_path / "nowhere")
    else:
        (root / "train").symlink_to(root / "test" / "cat" / "0.png")
    with pytest.raises(DataError, match="has no train/ split folder"):
        open_dataset(str(root), "train")


def test_each_split_opens_its_own_folder(tmp_path):
    root = _split_folder(tmp_path / "D", "train")
    png(root / "test" / "cat" / "1.png", GREEN)
    assert len(open_dataset(str(root), "train")) == 2
    assert [Path(p).name for p in open_dataset(str(root), "test").paths] == ["1.png"]


@pytest.mark.parametrize("split", ["train", "test"])
def test_a_folder_of_class_folders_opens_for_either_split(split, tmp_path):
    root = _split_folder(tmp_path, "D")
    ds = open_dataset(str(root / "D"), split)
    assert ds.classes == ("cat", "dog") and len(ds) == 2


# --- folders that cannot be read -------------------------------------------------------------------


def _mode_000(blocked: Path, monkeypatch) -> None:
    """What mode 000 does for a user without root's override: the folder cannot be listed, and nothing in
    it can be looked at (stat, lstat), though the folder itself can."""
    top = os.path.abspath(blocked)

    def inside(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and os.path.abspath(os.fspath(path)).startswith(top + os.sep)

    def refuse(real, also_the_folder: bool):
        def call(path=".", *args, **kwargs):
            if inside(path) or (also_the_folder and os.path.abspath(os.fspath(path)) == top):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "stat", refuse(os.stat, False))
    monkeypatch.setattr(os, "lstat", refuse(os.lstat, False))
    monkeypatch.setattr(os, "scandir", refuse(os.scandir, True))
    monkeypatch.setattr(os, "listdir", refuse(os.listdir, True))


@pytest.mark.parametrize("layout", ["class_folders", "split_folders", "flat"])
def test_a_mode_000_data_folder_is_one_line_naming_it(layout, tmp_path, monkeypatch, capsys):
    root = tmp_path / "D"
    if layout == "class_folders":
        png(root / "cat" / "0.png", GREEN)
    elif layout == "split_folders":
        _split_folder(root, "train", "test")
    else:
        png(root / "0.png", GREEN)
    _mode_000(root, monkeypatch)
    with pytest.raises(DataError, match="cannot be read"):
        open_dataset(str(root))
    for command in ("evaluate", "scan"):
        assert _cli(tmp_path, command, root) == 2
        one_error_line(capsys.readouterr().err, str(root), "cannot be read", "Permission denied")
    assert not (tmp_path / "x.npz").exists()


def test_a_data_folder_inside_a_mode_000_folder_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    root = png(tmp_path / "locked" / "D" / "cat" / "0.png", GREEN).parents[1]
    _mode_000(tmp_path / "locked", monkeypatch)
    with pytest.raises(DataError, match="cannot be read"):
        open_dataset(str(root))
    assert _cli(tmp_path, "evaluate", root) == 2
    one_error_line(capsys.readouterr().err, str(root), "cannot be read", "Permission denied")


def test_a_mode_000_split_folder_is_named_and_the_other_split_opens(tmp_path, monkeypatch, capsys):
    root = _split_folder(tmp_path / "D", "train", "test")
    _mode_000(root / "test", monkeypatch)
    assert len(open_dataset(str(root), "train")) == 2
    assert _cli(tmp_path, "scan", root, "--split", "test") == 2
    one_error_line(capsys.readouterr().err, str(root / "test"), "cannot be read", "Permission denied")
    assert not (tmp_path / "x.npz").exists()


def test_a_mode_000_class_folder_in_a_split_is_named_and_the_rest_load(tmp_path, monkeypatch, capsys):
    root = _split_folder(tmp_path / "D", "train", "test")
    _mode_000(root / "test" / "dog", monkeypatch)
    ds = open_dataset(str(root), "test")
    assert len(ds) == 1 and [p for p, _ in ds.skipped] == [str(root / "test" / "dog")]
    assert _cli(tmp_path, "evaluate", root) == 0
    assert f"{root / 'test' / 'dog'}: folder cannot be read (Permission denied)" in capsys.readouterr().err


def test_an_unreadable_cifar_batch_file_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    import builtins

    root = tmp_path / "D" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (root / name).write_bytes(b"x")
    (root / "batches.meta").write_bytes(b"x")
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.dirname(os.path.abspath(file)) == str(root):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    with pytest.raises(DataError, match="data_batch_1: cannot be read"):
        open_dataset(str(root.parent))
    assert _cli(tmp_path, "scan", root.parent) == 2
    one_error_line(capsys.readouterr().err, str(root / "data_batch_1"), "cannot be read", "Permission denied")


def _setpriv_works() -> bool:
    if shutil.which("setpriv") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    probe = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _setpriv_works(), reason="needs root and setpriv to drop the right to read any folder")
def test_a_real_mode_000_data_folder_is_one_line(tmp_path):
    """The simulation above, checked against the kernel: root without CAP_DAC_OVERRIDE meets mode 000 as a user."""
    root = png(tmp_path / "D" / "cat" / "0.png", GREEN).parents[1]
    root.chmod(0)
    try:
        done = subprocess.run(
            ["setpriv", "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m", "explorer.cli",
             "scan", "--data", str(root), "--device", "cpu", "--out", str(tmp_path / "x.npz")],
            capture_output=True, text=True, timeout=120, cwd=REPO,
        )  # fmt: skip
    finally:
        root.chmod(0o755)
    assert done.returncode == 2, done.stderr
    one_error_line(done.stderr, str(root), "cannot be read", "Permission denied")
    assert not (tmp_path / "x.npz").exists()


# --- links out of the data folder ------------------------------------------------------------------


def _elsewhere(tmp_path: Path) -> Path:
    """A folder of three images beside the data folder: a link to it leaves the data folder."""
    for i in range(3):
        png(tmp_path / "elsewhere" / "sub" / f"{i}.png", BLUE)
    return tmp_path / "elsewhere"


def _two_classes(root: Path) -> Path:
    png(root / "cat" / "0.png", GREEN)
    png(root / "dog" / "0.png", BLUE)
    return root


@pytest.mark.parametrize("target", ["machine_root", "sibling", "relative_sibling", "sibling_via_inner_link"])
def test_a_link_to_a_folder_outside_the_data_folder_is_named_and_not_followed(target, tmp_path):
    root = _two_classes(tmp_path / "D")
    link = root / "cat" / "out"
    if target == "machine_root":
        link.symlink_to("/")
    elif target == "sibling":
        link.symlink_to(_elsewhere(tmp_path))
    elif target == "relative_sibling":
        _elsewhere(tmp_path)
        link.symlink_to(Path("..", "..", "elsewhere"))
    else:  # cat/out -> dog/hop (inside) -> elsewhere (outside): where it ends counts
        (root / "dog" / "hop").symlink_to(_elsewhere(tmp_path))
        link.symlink_to(root / "dog" / "hop")
    with time_limit(30):
        ds = open_folder(root)
    assert sorted(Path(p).relative_to(root).as_posix() for p in ds.paths) == ["cat/0.png", "dog/0.png"]
    reasons = dict(ds.skipped)
    assert reasons[str(link)] == f"{link}: link to a folder outside {root}, not followed"


def test_a_class_folder_linked_from_outside_is_named_and_not_followed(tmp_path):
    root = _two_classes(tmp_path / "D")
    (root / "bird").symlink_to(_elsewhere(tmp_path))
    ds = open_folder(root)
    assert ds.classes == ("bird", "cat", "dog") and len(ds) == 2
    assert [p for p, _ in ds.skipped] == [str(root / "bird")]


def test_links_inside_the_data_folder_are_followed_once(tmp_path):
    root = _two_classes(tmp_path / "D")
    png(root / ".shared" / "1.png", GREEN)  # hidden: no class of its own
    (root / "cat" / "more").symlink_to(root / ".shared")
    (root / "cat" / "again").symlink_to(Path("..", ".shared"))
    (root / "cat" / "up").symlink_to("..")  # a loop, inside
    ds = open_folder(root)
    assert not ds.skipped
    assert sorted(os.path.realpath(p) for p in ds.paths) == sorted(
        os.path.realpath(p) for p in (root / "cat" / "0.png", root / ".shared" / "1.png", root / "dog" / "0.png")
    )


@pytest.mark.parametrize("target", ["class", "inside_class", "data_root_from_the_last_class"])
def test_a_link_into_another_class_folder_does_not_relabel_its_images(target, tmp_path):
    """cat/shiplink -> ../ship would walk ship's images as cats (and leave ship empty): not followed."""
    root = _two_classes(tmp_path / "D")
    png(root / "dog" / "inner" / "1.png", BLUE)
    if target == "class":
        link = root / "cat" / "doglink"
        link.symlink_to(Path("..", "dog"))
    elif target == "inside_class":
        link = root / "cat" / "inner"
        link.symlink_to(root / "dog" / "inner")
    else:  # a link up to the data folder, from a class walked after the others
        png(root / "emu" / "0.png", GREEN)
        link = root / "emu" / "up"
        link.symlink_to("..")
    ds = open_folder(root)
    by_class = {c: sorted(Path(p).relative_to(root).as_posix() for p, lbl in zip(ds.paths, ds.labels, strict=True)
                          if ds.classes[lbl] == c) for c in ds.classes}  # fmt: skip
    assert by_class["dog"] == ["dog/0.png", "dog/inner/1.png"]
    assert by_class["cat"] == ["cat/0.png"]
    if target != "data_root_from_the_last_class":  # the data folder was walked already: nothing to say
        assert dict(ds.skipped)[str(link)].endswith(
            "link into the class folder 'dog', not followed (its images are that class's)"
        )


def test_a_split_may_link_within_its_data_folder_and_to_its_own_split_folder(tmp_path):
    root = _split_folder(tmp_path / "D", "test")
    elsewhere = _split_folder(tmp_path / "store", "train") / "train"
    (root / "train").symlink_to(elsewhere)  # the split folder itself may live anywhere
    (elsewhere / "cat" / "shared").symlink_to(root / "test" / "dog")  # inside D: followed
    (elsewhere / "dog" / "out").symlink_to(_elsewhere(tmp_path))  # outside both: not followed
    ds = open_dataset(str(root), "train")
    assert len(ds) == 3
    assert [p for p, _ in ds.skipped] == [str(root / "train" / "dog" / "out")]


def test_the_command_line_warns_of_a_link_it_did_not_follow(tmp_path, capsys):
    root = _two_classes(tmp_path / "D")
    (root / "cat" / "out").symlink_to("/")
    with time_limit(60):
        assert _cli(tmp_path, "scan", root) == 0
    err = capsys.readouterr().err
    assert f"{root / 'cat' / 'out'}: link to a folder outside {root}, not followed" in err
    assert "Traceback" not in err


def test_a_walk_past_the_image_bound_is_one_line_naming_the_folder(tmp_path, monkeypatch, capsys):
    root = _two_classes(tmp_path / "D")
    for i in range(4):
        png(root / "dog" / "deep" / f"{i}.png", BLUE)
    monkeypatch.setattr(datasets, "MAX_IMAGES", 5)
    with pytest.raises(DataError, match="more than 5 image files"):
        open_folder(root)
    assert _cli(tmp_path, "scan", root) == 2
    one_error_line(capsys.readouterr().err, str(root), "more than 5 image files")
    assert not (tmp_path / "x.npz").exists()
    monkeypatch.setattr(datasets, "MAX_IMAGES", 6)
    assert len(open_folder(root)) == 6


# --- counts in export maximize ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "bound"),
    [
        ("--steps", "100000000", f"{MAX_STEPS:,}"),
        ("--steps", str(MAX_STEPS + 1), f"{MAX_STEPS:,}"),
        ("--blur-every", "1000000000", f"{MAX_STEPS:,}"),
        ("--jitter", "1000000000000000000000", "256"),
        ("--columns", "1000000", "1,024"),
        ("--seed", str(2**64), "9,223,372,036,854,775,807"),
    ],
)
def test_every_count_of_export_maximize_has_a_bound(flag, value, bound, ckpt, tmp_path, capsys):
    out = tmp_path / "x.png"
    argv = ["export", "maximize", "--layer", "conv2", flag, value, "--checkpoint", str(ckpt), "--device", "cpu"]
    with time_limit(30):
        assert main([*argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    one_error_line(captured.err, f"{flag} {value}", f"and {bound}")
    assert not out.exists()


@pytest.mark.parametrize("command", [["export", "maximize", "--layer", "conv2"], ["scan"], ["layers"], ["evaluate"]])
@pytest.mark.parametrize(
    ("flag", "value", "bound"),
    [("--input-size", "100000", "8 and 1024"), ("--resize", "10000000", "8 and 1024"), ("--crop", "4", "8 and 1024"),
     ("--num-classes", "1000000000", "1 and 100000")],
)  # fmt: skip
def test_every_model_size_flag_has_a_bound_in_every_command(command, flag, value, bound, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, flag, value, "--out", str(tmp_path / "x.png")])
    assert exit_.value.code == 2
    one_error_line(capsys.readouterr().err, f"{value} is out of range: must be between {bound}")


@pytest.mark.parametrize(("limit", "over"), [("MAX_FEATURES", "--features: 8 features"), ("MAX_PIXELS", "8 images")])
def test_too_many_features_for_one_run_is_one_line(limit, over, ckpt, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(export_maximize, limit, 4 if limit == "MAX_FEATURES" else 4 * 32 * 32)
    out = tmp_path / "x.png"
    argv = ["export", "maximize", "--layer", "conv2", "--steps", "1", "--checkpoint", str(ckpt), "--device", "cpu"]
    assert main([*argv, "--features", "0:8", "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, over, "choose")
    assert not out.exists()
    assert main([*argv, "--features", "0:4", "--out", str(out)]) == 0


def test_maximize_refuses_more_steps_than_its_bound(model):
    with pytest.raises(ValueError, match="steps must be at most"):
        MaximizeSettings(steps=MAX_STEPS + 1)
    with pytest.raises(ValueError, match="steps must be at most"):
        maximize(model, "conv2", [0], steps=10**8)


def _largest_draw(model, steps: int, monkeypatch) -> int:
    """The most numbers torch.randint drew in one call before maximize's first step."""
    drawn: list[int] = []
    real = torch.randint

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        drawn.append(out.numel())
        return out

    monkeypatch.setattr(torch, "randint", spy)
    with pytest.raises(synthesis.MaximizeCancelled):
        maximize(model, "conv2", list(range(8)), steps=steps, should_stop=lambda: True)
    monkeypatch.setattr(torch, "randint", real)
    return max(drawn, default=0)


def test_memory_before_the_first_step_does_not_grow_with_steps(model, monkeypatch):
    assert _largest_draw(model, MAX_STEPS, monkeypatch) == _largest_draw(model, 10, monkeypatch)


def test_jitter_drawn_a_chunk_at_a_time_gives_the_same_images(model, monkeypatch):
    kwargs = {"steps": 20, "jitter": 3, "blur_every": 3}
    whole = maximize(model, "conv2", [1, 7], **kwargs)
    monkeypatch.setattr(synthesis, "_SHIFT_CHUNK", 7)  # 20 steps cross two chunk edges
    assert torch.equal(maximize(model, "conv2", [1, 7], **kwargs), whole)
