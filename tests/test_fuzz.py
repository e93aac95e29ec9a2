"""A small fuzz of the promise (issue #16): whatever numbers the command line gets and whatever bytes an
image file holds, the explorer exits 0 or prints one `error:` line with status 2, within a time and
memory bound, and loses no file. Few examples, so it runs in seconds; `--hypothesis-seed` replays one.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from explorer.cli import main
from explorer.core.errors import DataError
from explorer.core.images import read_image

pytestmark = pytest.mark.fuzz
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SECONDS = 30  # per example
GROWTH_MB = 1500  # peak resident memory the whole fuzz may add


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


NUMBERS = st.one_of(
    st.integers(-3, 40).map(str),  # mostly valid: the command then really runs
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(
        ["0", "-1", "1", "-5", "65536", "65537", "2400", "2401", "9" * 30, "1e3", "0x10", " 3", "", "nan", "٣"]
    ),
    st.text(max_size=6),
)
# (argv before the number, the flag). Commands that would run long (train, bench) get a --data that
# does not exist: a number that passes its check then meets that one-line error instead of hours of work.
FLAGS = [
    (["scan", "--data", "probes", "--device", "cpu"], "--batch-size"),
    (["scan", "--data", "probes", "--device", "cpu"], "-k"),
    (["export", "maps", "--data", "probes", "--device", "cpu"], "--columns"),
    (["export", "maps", "--data", "probes", "--device", "cpu"], "--dpi"),
    (["export", "topk", "--data", "probes", "--device", "cpu", "--features", "0:2"], "-k"),
    (["export", "feature", "--data", "probes", "--device", "cpu", "--feature", "1"], "--images"),
    (["export", "cam", "--data", "probes", "--device", "cpu"], "--image"),
    (["export", "cam", "--data", "probes", "--device", "cpu"], "--target"),
    (["export", "cam", "--data", "probes", "--device", "cpu"], "--dpi"),
    (["export", "sanity", "--data", "probes", "--device", "cpu", "--methods", "gradient", "--depth", "1"], "--seed"),
    (["export", "sanity", "--data", "probes", "--device", "cpu", "--methods", "gradient", "--depth", "1"], "--image"),
    (["export", "sanity", "--data", "probes", "--device", "cpu", "--methods", "gradient"], "--depth"),
    (["bench", "--data", "/nonexistent/fuzz"], "--repeats"),
    (["bench", "--data", "/nonexistent/fuzz"], "--changes"),
    (["train", "--data", "/nonexistent/fuzz"], "--epochs"),
    (["train", "--data", "/nonexistent/fuzz"], "--seed"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, ckpt_bytes) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def ckpt_bytes() -> bytes:
    return (Path(__file__).resolve().parents[1] / "explorer" / "weights" / "seednet.pt").read_bytes()


@FAST
@given(choice=st.sampled_from(FLAGS), value=NUMBERS)
def test_numeric_arguments_exit_0_or_one_error_line(choice, value, workspace, ckpt_bytes, capsys, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(workspace / "cache"))
    prefix, flag = choice
    keep = workspace / "keep.txt"
    keep.write_text("a file that must survive\n")
    ckpt = workspace / "model.pt"
    if not ckpt.exists():
        ckpt.write_bytes(ckpt_bytes)
    suffix = {"scan": ".npz", "export": ".png", "train": ".pt"}.get(prefix[0], "")
    out = ["--out", str(workspace / f"out{suffix}")] if suffix else []
    extra = ["--checkpoint", str(ckpt)] if prefix[0] in ("scan", "export") else []
    # "--flag=VALUE" (or "-kVALUE") so that a value such as "-5" is taken as the flag's value, not an option
    number = f"{flag}={value}" if flag.startswith("--") else f"{flag}{value}"
    argv = [*prefix, *extra, *out, number]
    peak = _peak_mb()
    started = time.perf_counter()

    def expired(_signum, _frame):
        raise TimeoutError(f"{argv}: still running after {SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    took = time.perf_counter() - started
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code == 0:
        assert (workspace / f"out{suffix}").is_file()
    else:
        assert code == 2, (argv, code, captured.err)
        lines = captured.err.rstrip("\n").split("\n")
        assert lines[-1].startswith("error: ") and len([x for x in lines if x.startswith("error")]) == 1, captured.err
    assert took < SECONDS, (argv, took)
    assert _peak_mb() - peak < GROWTH_MB
    assert keep.read_text() == "a file that must survive\n" and ckpt.read_bytes() == ckpt_bytes
    assert not [p for p in os.listdir(workspace) if p.endswith(".tmp")]


def _png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 120).save(buf, "PNG")
    return buf.getvalue()


GOOD = _png((40, 30))
FILES = st.one_of(
    st.binary(max_size=2048),
    st.integers(0, len(GOOD)).map(lambda n: GOOD[:n]),  # truncations
    st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)).map(  # one byte changed
        lambda t: GOOD[: t[0]] + bytes([t[1]]) + GOOD[t[0] + 1 :]
    ),
    st.tuples(
        st.integers(1, 400_000), st.integers(1, 3), st.booleans(), st.sampled_from(["RGB", "L", "RGBA", "I;16"])
    ).map(
        lambda t: _png((t[0], t[1]) if t[2] else (t[1], t[0]), t[3])  # extreme sizes and aspect ratios
    ),
)


@FAST
@given(content=FILES, suffix=st.sampled_from([".png", ".jpg", ".gif", ".bmp", ".tif"]))
def test_any_file_decodes_to_32x32_or_is_named(content, suffix, tmp_path_factory):
    folder = tmp_path_factory.mktemp("img")
    path = folder / f"fuzz{suffix}"
    path.write_bytes(content)
    peak = _peak_mb()
    started = time.perf_counter()
    try:
        pixels = read_image(path)
    except DataError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    else:
        assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8
    assert time.perf_counter() - started < 5
    assert _peak_mb() - peak < 500
    assert path.read_bytes() == content  # reading never changes the file
