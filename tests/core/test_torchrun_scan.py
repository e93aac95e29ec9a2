"""`torchrun --nproc-per-node 2 -m explorer scan`, for real: two gloo processes on the CPU, loopback only."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.cli import main as cli_main

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
N = 150  # batches of 16 make 10 blocks: rank 0 scans 80 images, rank 1 scans 70
BATCH = 16


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A flat folder of PNGs with exact ties, one pair on each side of the ranks' boundary (79 | 80)."""
    path = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(N, 32, 32, 3), dtype=np.uint8)
    pixels[80] = pixels[79]
    pixels[120] = pixels[2]
    for i, p in enumerate(pixels):
        Image.fromarray(p).save(path / f"img{i:03d}.png")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Run by torchrun in place of `-m explorer`: on rank FAULTY_RANK the scan fails after its first batch,
# by raising (MODE "raise") or by dying as a crashed process would (MODE "exit": no clean-up, no message).
FAULTY_SCAN = """
import os
import sys

import explorer.core.distributed_scan as distributed_scan
from explorer.cli import main
from explorer.core.errors import ExplorerError

faulty_rank, mode, *argv = sys.argv[1:]
real_scan = distributed_scan.scan_top_k


def scan_that_fails(*args, progress, **kwargs):
    def after_the_first_batch(done, total):
        progress(done, total)
        if mode == "exit":
            os._exit(3)
        raise ExplorerError(f"made to fail after {done} images")

    return real_scan(*args, progress=after_the_first_batch, **kwargs)


if os.environ["RANK"] == faulty_rank:
    distributed_scan.scan_top_k = scan_that_fails
sys.exit(main(argv))
"""


def torchrun(args: list[str], program: list[str] | None = None) -> subprocess.CompletedProcess:
    """`torchrun --nproc-per-node 2` of `program` (default `-m explorer`) with `scan ARGS`."""
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    cmd += ["--master-port", str(_free_port()), *(program or ["-m", "explorer"]), "scan", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _scan_args(folder: Path) -> list[str]:
    return ["--data", str(folder), "--device", "cpu", "--batch-size", str(BATCH), "--rank-timeout", "120"]


def test_two_processes_equal_one(folder, tmp_path, capsys):
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    assert cli_main(["scan", *_scan_args(folder), "--out", str(one)]) == 0
    run = torchrun([*_scan_args(folder), "--out", str(two)])
    assert run.returncode == 0, run.stderr[-3000:]
    a, b = np.load(one), np.load(two)
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:  # indices, values, positions, boxes of each layer, and the record of model and data
        assert a[key].dtype == b[key].dtype, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert "rank 0/2: 80 images in" in run.stderr and "rank 1/2: 70 images in" in run.stderr, run.stderr
    assert f"scanning {N}/{N} (100%)" in run.stderr  # rank 0 shows the whole job's progress
    assert run.stderr.count("scanning") >= 2
    ties = [row.tolist() for key in a.files if key.endswith(".indices") for row in a[key] if {79, 80} <= set(row)]
    assert ties, "the tie across the ranks' boundary never reaches a top 9: the test proves nothing"
    assert all(row.index(80) == row.index(79) + 1 for row in ties)


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("raise", "error: rank 1/2: made to fail after 16 images"),  # a rank whose scan fails
        ("exit", "rank      : 1"),  # a rank that dies: torchrun's report names it
    ],
)
def test_a_failing_rank_fails_the_job_and_keeps_the_old_file(folder, tmp_path, tmp_path_factory, mode, says):
    script = tmp_path_factory.mktemp("faulty") / "faulty_scan.py"  # outside tmp_path, which must stay clean
    script.write_text(FAULTY_SCAN)
    out = tmp_path / "out.npz"
    out.write_bytes(b"the previous scan")
    run = torchrun([*_scan_args(folder), "--out", str(out)], program=[str(script), "1", mode])
    assert run.returncode != 0
    assert says in run.stderr, run.stderr[-3000:]
    assert out.read_bytes() == b"the previous scan"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]  # no temporary file left
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1, errors  # one line from rank 0, not one per rank
    if mode == "raise":
        assert errors == [says]


# Run by torchrun in place of `-m explorer`: on rank 1 one file of the same folder has another size, as on a node
# whose copy of the folder differs (the path and the arguments are the same on both ranks).
OTHER_COPY = """
import os
import sys

from explorer.cli import main

changed, *argv = sys.argv[1:]
real_stat = os.stat


def stat_of_another_copy(path, *args, **kwargs):
    st = real_stat(path, *args, **kwargs)
    if os.fspath(path) == changed:
        return os.stat_result((*st[:6], st.st_size + 1, *st[7:10]))
    return st


if os.environ["RANK"] == "1":
    os.stat = stat_of_another_copy
sys.exit(main(argv))
"""


def test_ranks_whose_copies_of_the_folder_differ_fail_the_job(folder, tmp_path, tmp_path_factory):
    script = tmp_path_factory.mktemp("copy") / "other_copy.py"
    script.write_text(OTHER_COPY)
    out = tmp_path / "out.npz"
    run = torchrun([*_scan_args(folder), "--out", str(out)], program=[str(script), str(folder / "img017.png")])
    assert run.returncode != 0
    assert "error: rank 1/2: its image files differ from rank 0's" in run.stderr, run.stderr[-3000:]
    assert not out.exists()


def test_the_files_fingerprint_ignores_where_the_folder_is_mounted(folder, tmp_path):
    import shutil

    from explorer.commands.scan_ranks import _files_fingerprint
    from explorer.core.datasets import open_folder

    copy = tmp_path / "elsewhere" / "images"
    shutil.copytree(folder, copy)
    assert _files_fingerprint(open_folder(folder)) == _files_fingerprint(open_folder(copy))
    (copy / "img003.png").write_bytes((copy / "img003.png").read_bytes() + b"\0")
    assert _files_fingerprint(open_folder(folder)) != _files_fingerprint(open_folder(copy))
