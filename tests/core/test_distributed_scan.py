"""The pieces of the torchrun scan in one process: shares, a rank's subset scan, the merge, the scan file."""

import numpy as np
import pytest
import torch

from explorer.core import SeedNet
from explorer.core.distributed_scan import merge_top_k, share_block, shares, torchrun_env
from explorer.core.errors import ExplorerError
from explorer.core.images import ImageSet
from explorer.core.scan import FIELDS, load_top_k, save_top_k, scan_top_k
from explorer.core.scan_file import ScanFileError, describe, load_scan, mismatch, save_scan

MODEL_LAYERS = ("conv1", "conv2")


@pytest.fixture(scope="module")
def model() -> SeedNet:
    torch.manual_seed(3)
    return SeedNet().eval()


@pytest.fixture(scope="module")
def dataset() -> ImageSet:
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, size=(61, 32, 32, 3), dtype=np.uint8)
    # Exact ties that straddle shares: 19/20 and 39/40 are boundaries of the 3-way shares below.
    pixels[20] = pixels[19]
    pixels[40] = pixels[39]
    pixels[50] = pixels[3]
    return ImageSet("random", ("a", "b"), rng.integers(0, 2, 61), pixels=pixels, source_key="random-61")


@pytest.mark.parametrize("block", [1, 2, 3, 7, 32])
def test_shares_cover_every_index_once(block):
    for n in [*range(0, 130), 1000, 1281167]:
        for world in range(1, 10):
            parts = shares(n, world, block)
            assert len(parts) == world
            joined = [i for part in parts for i in part]
            assert joined == list(range(n)), (n, world, block)  # every image once, in order, no padding
            blocks = [-(-len(p) // block) for p in parts]
            assert max(blocks) - min(blocks) <= 1, (n, world, block, blocks)
            # whole blocks, so a rank's batches are batches of the single-process scan
            assert all(p.start % block == 0 for p in parts if len(p)), (n, world, block)


def test_share_block_uses_whole_batches_only_when_every_rank_gets_one():
    assert share_block(1000, 2, 256) == 256
    assert share_block(511, 2, 256) == 1
    assert share_block(512, 2, 256) == 256


def test_shares_refuse_nonsense():
    with pytest.raises(ValueError):
        shares(10, 0)
    with pytest.raises(ValueError):
        shares(10, 2, 0)


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for layer in a:
        for f in FIELDS:
            x, y = getattr(a[layer], f), getattr(b[layer], f)
            assert x.dtype == y.dtype and x.shape == y.shape, (layer, f)
            np.testing.assert_array_equal(x, y, err_msg=f"{layer}.{f}")


@pytest.mark.parametrize(("world", "block"), [(3, 1), (2, 8), (4, 8), (7, 1), (80, 1)])
def test_merged_shares_equal_one_scan(model, dataset, world, block):
    whole = scan_top_k(model, dataset, MODEL_LAYERS, k=9, batch_size=8)
    parts = [
        scan_top_k(model, dataset, MODEL_LAYERS, k=9, batch_size=8, indices=np.asarray(share))
        for share in shares(len(dataset), world, block)
    ]
    _assert_same(merge_top_k(parts, 9), whole)
    # The order the parts arrive in does not matter: ties go by dataset index, not by rank.
    _assert_same(merge_top_k(parts[::-1], 9), whole)


def test_ties_across_shares_go_to_the_lower_index(model, dataset):
    parts = [
        scan_top_k(model, dataset, MODEL_LAYERS, k=9, batch_size=8, indices=np.asarray(s)) for s in shares(61, 3, 1)
    ]
    merged = merge_top_k(parts[::-1], 9)
    ties = 0
    for first, second in ((19, 20), (39, 40)):
        for t in merged.values():
            for row in t.indices.tolist():
                if first in row and second in row:
                    ties += 1
                    assert row.index(second) == row.index(first) + 1, row
    assert ties > 0, "no tie across a share boundary reached a top 9: the test proves nothing"


def test_subset_scan_keeps_dataset_indices(model, dataset):
    res = scan_top_k(model, dataset, ["conv1"], k=3, indices=np.array([5, 17, 30, 44]))
    assert set(res["conv1"].indices.reshape(-1).tolist()) <= {5, 17, 30, 44}
    empty = scan_top_k(model, dataset, ["conv1"], k=3, indices=np.array([], dtype=np.int64))
    assert empty["conv1"].indices.shape == (res["conv1"].indices.shape[0], 0)
    with pytest.raises(ValueError, match="ascending"):
        scan_top_k(model, dataset, ["conv1"], k=3, indices=[4, 2])


def test_torchrun_env():
    assert torchrun_env({}) is None
    assert torchrun_env({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is None  # one process: a plain scan
    env = torchrun_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1"})
    assert env is not None and (env.rank, env.world, env.local_rank, env.label) == (3, 8, 1, "rank 3/8")
    with pytest.raises(ExplorerError, match="not numbers"):
        torchrun_env({"RANK": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    for rank, local in (("2", "0"), ("-1", "0"), ("9", "0"), ("1", "-1")):  # refused at once, not after a timeout
        with pytest.raises(ExplorerError, match="a rank must be 0 to WORLD_SIZE - 1"):
            torchrun_env({"RANK": rank, "WORLD_SIZE": "2", "LOCAL_RANK": local})


def test_scan_file_records_model_and_data(model, dataset, tmp_path):
    results = scan_top_k(model, dataset, MODEL_LAYERS, k=4)
    meta = describe(model, dataset, MODEL_LAYERS, 4, "SeedNet (test)")
    path = tmp_path / "scan.npz"
    save_scan(results, meta, path)
    loaded, back = load_scan(path)
    _assert_same(loaded, results)
    assert back == meta
    _assert_same(load_top_k(path), results)  # the cache reader ignores the record
    assert mismatch(back, model, dataset, MODEL_LAYERS) is None


def test_scan_file_mismatches_say_why(model, dataset, tmp_path):
    meta = describe(model, dataset, MODEL_LAYERS, 4)
    other_images = ImageSet("others", ("a",), np.zeros(61, np.int64), pixels=np.zeros((61, 32, 32, 3), np.uint8))
    assert "other images" in mismatch(meta, model, other_images, MODEL_LAYERS)
    torch.manual_seed(9)
    assert "other model weights" in mismatch(meta, SeedNet().eval(), dataset, MODEL_LAYERS)
    assert "layer conv2 is not one of this model's" in mismatch(meta, model, dataset, ("conv1",))
    assert "no record" in mismatch(None, model, dataset, MODEL_LAYERS)
    old = tmp_path / "old.npz"
    save_top_k(scan_top_k(model, dataset, ["conv1"], k=2), old)
    assert load_scan(old)[1] is None
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ScanFileError, match=r"bad\.npz: not a scan file"):
        load_scan(bad)
    with pytest.raises(ScanFileError, match="no such file"):
        load_scan(tmp_path / "none.npz")


def test_data_key_is_the_same_images_wherever_they_are(tmp_path):
    from PIL import Image

    from explorer.core.datasets import open_folder
    from explorer.core.scan_file import data_key

    for where in ("cluster", "laptop"):
        for cls, name in (("cat", "a.png"), ("cat", "b.png"), ("dog", "c.png")):
            (tmp_path / where / cls).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (len(where), 0, 0)).save(tmp_path / where / cls / name)
    here, there = open_folder(tmp_path / "cluster"), open_folder(tmp_path / "laptop")
    assert here.source_key != there.source_key  # the cache's key names the place
    assert data_key(here) == data_key(there)  # the scan file's names the images
    (tmp_path / "laptop" / "dog" / "c.png").rename(tmp_path / "laptop" / "dog" / "d.png")
    assert data_key(open_folder(tmp_path / "laptop")) != data_key(here)
