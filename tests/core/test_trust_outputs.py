"""Outputs and arguments (issue #16): no command overwrites its own input, a device, a FIFO, a folder or a
read-only file; SIGTERM during a save leaves no temporary file; every numeric argument is checked;
paths print escaped on one line.
"""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trust_helpers import GREEN, one_error_line, png, time_limit

from explorer.cli import main
from explorer.core.checkpoint import BUNDLED_MODEL
from explorer.core.paths import show

pytestmark = pytest.mark.usefixtures("private_cache")


def run(argv: list[str]) -> int:
    """main(argv), with argparse's own exit turned into its exit status."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def _scan(ckpt: Path, out: Path | str, data: str = "probes") -> list[str]:
    return ["scan", "--data", data, "--checkpoint", str(ckpt), "--device", "cpu", "-k", "2", "--out", str(out)]


def _export(ckpt: Path, out: Path | str, data: str = "probes") -> list[str]:
    return ["export", "maps", "--data", data, "--checkpoint", str(ckpt), "--device", "cpu", "--out", str(out)]


def _train(data: Path, out: Path | str, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--epochs", "1", "--device", "cpu", "--out", str(out), *extra]


@pytest.mark.parametrize("spelling", ["same", "relative", "dotdot", "symlink", "hard_link"])
@pytest.mark.parametrize("command", ["scan", "export"])
def test_out_onto_the_checkpoint_is_refused_however_it_is_spelled(
    command, spelling, ckpt, tmp_path, monkeypatch, capsys
):
    # A figure needs a figure's extension: for export the checkpoint itself is named .png (torch.load does not mind).
    name = "my.pt" if command == "scan" else "my.png"
    my_ckpt = tmp_path / name
    my_ckpt.write_bytes(ckpt.read_bytes())
    before = my_ckpt.read_bytes()
    out: Path | str = my_ckpt
    if spelling == "relative":
        monkeypatch.chdir(tmp_path)
        out = name
    elif spelling == "dotdot":
        (tmp_path / "sub").mkdir()
        out = tmp_path / "sub" / ".." / name
    elif spelling == "symlink":
        out = tmp_path / f"link-{name}"
        out.symlink_to(my_ckpt)
    elif spelling == "hard_link":
        out = tmp_path / f"hard-{name}"
        os.link(my_ckpt, out)
    argv = (_scan if command == "scan" else _export)(my_ckpt, out)
    assert run(argv) == 2
    one_error_line(capsys.readouterr().err, "--checkpoint", "refusing to overwrite")
    assert my_ckpt.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file


def test_out_onto_the_bundled_model_is_refused(monkeypatch, capsys):
    before = BUNDLED_MODEL.stat()
    assert run(["scan", "--data", "probes", "--device", "cpu", "--out", str(BUNDLED_MODEL)]) == 2
    one_error_line(capsys.readouterr().err, "the bundled model", "refusing to overwrite")
    after = BUNDLED_MODEL.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)


@pytest.mark.parametrize("command", ["scan", "export"])
def test_out_onto_an_image_of_the_data_is_refused(command, ckpt, tmp_path, capsys):
    image = png(tmp_path / "data" / "cat" / "0.png", GREEN, size=(32, 32))
    png(tmp_path / "data" / "cat" / "1.png", GREEN, size=(32, 32))
    before = image.read_bytes()
    argv = (_scan if command == "scan" else _export)(ckpt, image, str(tmp_path / "data"))
    assert run(argv) == 2
    one_error_line(capsys.readouterr().err, str(image), "--data", "refusing to overwrite")
    assert image.read_bytes() == before


def test_train_outputs_must_differ_and_not_be_training_images(tmp_path, capsys):
    for split in ("train", "test"):
        png(tmp_path / "data" / split / "cat" / "0.png", GREEN, size=(32, 32))
    image = tmp_path / "data" / "train" / "cat" / "0.png"
    before = image.read_bytes()
    assert run(_train(tmp_path / "data", tmp_path / "m.pt", "--snapshots-out", str(tmp_path / "m.pt"))) == 2
    one_error_line(capsys.readouterr().err, "--snapshots-out", "same file as --out")
    alias = tmp_path / "alias.pt"
    os.link(image, alias)
    assert run(_train(tmp_path / "data", alias)) == 2
    one_error_line(capsys.readouterr().err, str(alias), "refusing to overwrite")
    assert image.read_bytes() == before
    assert not (tmp_path / "m.pt").exists()


# --- an output onto a special or read-only file --------------------------------------------------


def _special(kind: str, path: Path) -> Path:
    if kind == "char_device":
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # a copy of /dev/full
        except PermissionError:
            pytest.skip("mknod needs CAP_MKNOD")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
        (path / "keep.txt").write_text("inside")
    elif kind == "read_only":
        path.write_bytes(b"made read-only on purpose\n")
        path.chmod(0o444)
    return path


@pytest.mark.parametrize("kind", ["char_device", "fifo", "folder", "read_only"])
@pytest.mark.parametrize("command", ["scan", "export", "train"])
def test_out_onto_a_special_or_read_only_file_is_refused_and_left_alone(command, kind, ckpt, tmp_path, capsys):
    name = {"scan": "out.npz", "export": "out.png", "train": "out.pt"}[command]
    target = _special(kind, tmp_path / name)
    before = os.lstat(target)
    if command == "train":
        for split in ("train", "test"):
            png(tmp_path / "data" / split / "cat" / "0.png", GREEN, size=(32, 32))
        argv = _train(tmp_path / "data", target, "--snapshots-out", str(tmp_path / "snaps.pt"))
    else:
        argv = (_scan if command == "scan" else _export)(ckpt, target)
    started = time.perf_counter()
    assert run(argv) == 2
    assert time.perf_counter() - started < 30  # refused before any work (training, scanning)
    word = {"char_device": "character device", "fifo": "FIFO", "folder": "folder", "read_only": "read-only"}[kind]
    one_error_line(capsys.readouterr().err, str(target), word)
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    assert not (tmp_path / "snaps.pt").exists()


def test_the_atomic_writer_itself_refuses_special_and_read_only_targets(tmp_path):
    from explorer.core.atomic import atomic_write

    for kind in ("fifo", "folder", "read_only"):
        target = _special(kind, tmp_path / kind)
        with pytest.raises(PermissionError, match="refusing to replace"):
            atomic_write(target, lambda fh: fh.write(b"new"))
        assert os.lstat(target).st_mode == os.lstat(target).st_mode
    assert (tmp_path / "read_only").read_bytes() == b"made read-only on purpose\n"
    assert sorted(os.listdir(tmp_path)) == ["fifo", "folder", "read_only"]


# --- signals during a save -----------------------------------------------------------------------

_SLOW_SAVE = """
import signal, sys, time
from explorer.core.atomic import atomic_write
# Ctrl+C as in a terminal, even when the test runs in a background job (which starts with SIGINT ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
def write(fh):
    fh.write(b"half of the new file")
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
atomic_write(sys.argv[1], write)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_save_leaves_the_old_file_and_no_temporary_file(sig, tmp_path):
    target = tmp_path / "result.npz"
    target.write_bytes(b"the previous result\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_SAVE, str(target)], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    try:
        assert proc.stdout.readline().strip() == b"writing"
        assert len(os.listdir(tmp_path)) == 2  # the temporary file exists now
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.stdout.close()
    assert proc.returncode != 0
    assert os.listdir(tmp_path) == ["result.npz"]
    assert target.read_bytes() == b"the previous result\n"


# --- numeric arguments ---------------------------------------------------------------------------

NUMERIC = [
    (["scan", "--data", "probes", "--out", "{tmp}/x.npz", "--batch-size", "0"], "--batch-size"),
    (["scan", "--data", "probes", "--out", "{tmp}/x.npz", "--batch-size", "-5"], "--batch-size"),
    (["scan", "--data", "probes", "--out", "{tmp}/x.npz", "-k", "0"], "-k"),
    (["scan", "--data", "probes", "--out", "{tmp}/x.npz", "-k", "1e3"], "-k"),
    (["bench", "--repeats", "0"], "--repeats"),
    (["bench", "--repeats", "-1"], "--repeats"),
    (["bench", "--changes", "0"], "--changes"),
    (["export", "maps", "--data", "probes", "--out", "{tmp}/x.png", "--dpi", "0"], "--dpi"),
    (["export", "maps", "--data", "probes", "--out", "{tmp}/x.png", "--dpi", "99999999"], "--dpi"),
    (["export", "maps", "--data", "probes", "--out", "{tmp}/x.png", "--columns", "0"], "--columns"),
    (["export", "topk", "--data", "probes", "--out", "{tmp}/x.png", "-k", "-3"], "-k"),
    (["train", "--data", "probes", "--out", "{tmp}/x.pt", "--epochs", "-1"], "--epochs"),
    (["train", "--data", "probes", "--out", "{tmp}/x.pt", "--seed", "-1"], "--seed"),
    (["train", "--data", "probes", "--out", "{tmp}/x.pt", "--snapshots", "0,2"], "--snapshots"),
]


@pytest.mark.parametrize(("argv", "flag"), NUMERIC, ids=[" ".join(a[-2:]) + f" ({a[0]})" for a, _ in NUMERIC])
def test_every_numeric_argument_is_checked_before_any_work(argv, flag, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with time_limit(20):  # `scan --batch-size 0` used to loop for ever
        assert run(argv) == 2
    one_error_line(capsys.readouterr().err, flag)
    assert os.listdir(tmp_path) == []


def test_a_figure_of_ten_thousand_images_is_refused_at_once(ckpt, tmp_path, capsys):
    folder = tmp_path / "many"
    for i in range(600):
        png(folder / f"{i:04d}.png", GREEN, size=(8, 8))
    started = time.perf_counter()
    argv = ["export", "feature", "--feature", "0", "--images", "0:600", "--data", str(folder),
            "--checkpoint", str(ckpt), "--device", "cpu", "--out", str(tmp_path / "f.png")]  # fmt: skip
    assert run(argv) == 2
    assert time.perf_counter() - started < 20
    one_error_line(capsys.readouterr().err, "600 cells", "512", "A:B:STEP")
    argv[argv.index("--images") + 1] = "0:600:50"
    assert run(argv) == 0
    assert (tmp_path / "f.png").is_file()


def test_a_page_too_big_for_memory_is_refused(ckpt, tmp_path, capsys):
    argv = [*_export(ckpt, tmp_path / "big.png"), "--dpi", "2400", "--columns", "1"]
    assert run(argv) == 2
    one_error_line(capsys.readouterr().err, "megapixels", "--dpi")
    assert os.listdir(tmp_path) == []


# --- paths printed escaped, on one line -----------------------------------------------------------


def test_a_non_utf8_out_name_is_written_and_printed_escaped(ckpt, tmp_path):
    out = os.fsencode(tmp_path) + b"/fig-\xff\xfe.png"
    env = {**os.environ, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    argv = [sys.executable, "-m", "explorer", *_export(ckpt, "OUT")]
    argv[argv.index("OUT")] = out  # type: ignore[call-overload]
    done = subprocess.run(argv, capture_output=True, env=env, timeout=120, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    assert done.stdout.count(b"\n") == 1 and b"fig-\\xff\\xfe.png" in done.stdout
    assert os.path.exists(out)


@pytest.mark.parametrize("name", ["a\nb", "line\rfeed", "tab\there", "esc\x1b[31mred"])
def test_control_characters_in_a_path_print_as_one_error_line(name, tmp_path, capsys):
    assert run(["evaluate", "--data", str(tmp_path / name), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert show(str(tmp_path / name)) in err and "\x1b" not in err


def test_show_escapes_what_cannot_be_printed():
    assert show("plain/ü.png") == "plain/ü.png"
    assert show(os.fsdecode(b"x\xffy")) == "x\\xffy"
    assert show("a\nb\tc\\d") == "a\\nb\\tc\\\\d"
    assert show("\u202eevil") == "\\u202eevil"  # a right-to-left override cannot reorder the line
