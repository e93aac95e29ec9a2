"""The top-k scan against brute force, receptive fields by hand and by experiment, cancel and cache."""

import numpy as np
import pytest
import torch

from explorer.cli import main as cli_main
from explorer.core import SeedNet, activations
from explorer.core.checkpoint import save_model
from explorer.core.images import ImageSet
from explorer.core.receptive import receptive_box
from explorer.core.scan import ScanCancelled, cached_scan, load_top_k, scan_top_k


@pytest.fixture(scope="module")
def model() -> SeedNet:
    torch.manual_seed(3)
    return SeedNet().eval()


@pytest.fixture(scope="module")
def dataset() -> ImageSet:
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, size=(70, 32, 32, 3), dtype=np.uint8)
    pixels[10] = pixels[11]  # an exact tie between two images in one batch
    pixels[14] = pixels[13]  # and one across the boundary of batches of 7 (images 7..13, 14..20)
    return ImageSet("random", ("a", "b"), rng.integers(0, 2, 70), pixels=pixels, source_key="random-70")


def brute_force(model, ds, layer, k):
    a = activations(model, ds.tensor(slice(None)), layer).flatten(2)  # [N, C, h*w]
    vals, pos = a.max(2)
    out = []
    for c in range(a.shape[1]):
        # highest value first; equal values by dataset index
        order = sorted(range(len(ds)), key=lambda i: (-float(vals[i, c]), i))[:k]
        out.append((order, [float(vals[i, c]) for i in order], [int(pos[i, c]) for i in order]))
    return out


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_equals_brute_force(model, dataset, layer):
    res = scan_top_k(model, dataset, [layer], k=5, batch_size=16)[layer]
    size = 32 if layer == "conv1" else 16
    for c, (order, vals, pos) in enumerate(brute_force(model, dataset, layer, 5)):
        assert res.indices[c].tolist() == order
        np.testing.assert_allclose(res.values[c], vals, rtol=1e-6)
        assert [r * size + col for r, col in res.positions[c]] == pos
    assert res.indices.dtype == np.int64 and res.values.dtype == np.float32
    assert res.positions.shape == (res.indices.shape[0], 5, 2) and res.boxes.shape == (res.indices.shape[0], 5, 4)
    assert (np.diff(res.values, axis=1) <= 0).all()


def test_positions_are_the_first_maximum_where_a_map_holds_many(model):
    """Flat images give maps with one value over most of their positions: the position kept is the first maximum
    (the top-left one), as brute force takes it, whichever batch the image came in."""
    rng = np.random.default_rng(5)
    pixels = np.repeat(rng.integers(0, 256, size=(30, 1, 1, 3), dtype=np.uint8), 32, 1).repeat(32, 2)
    pixels[::3, 20:, 20:] = 255  # a corner: maxima at its edge, ties along it
    ds = ImageSet("flat", ("a",), np.zeros(30, dtype=np.int64), pixels=pixels, source_key="flat-30")
    for layer, size in (("conv1", 32), ("conv2", 16)):
        res = scan_top_k(model, ds, [layer], k=6, batch_size=4)[layer]
        for c, (order, _vals, pos) in enumerate(brute_force(model, ds, layer, 6)):
            assert res.indices[c].tolist() == order
            assert [r * size + col for r, col in res.positions[c]] == pos


def test_batch_size_does_not_matter_and_ties_go_to_lower_index(model, dataset):
    a = scan_top_k(model, dataset, ["conv1", "conv2"], k=9, batch_size=7)
    b = scan_top_k(model, dataset, ["conv1", "conv2"], k=9, batch_size=256)
    for layer in a:
        np.testing.assert_array_equal(a[layer].indices, b[layer].indices)
    # Images 10 and 11 are identical and share a batch of 7; 13 and 14 are identical and do not, so
    # there 13 is already among the running best when 14 arrives with the same value (_merge's order).
    for first, second in ((10, 11), (13, 14)):
        ties = 0
        for t in a.values():
            for row, values in zip(t.indices, t.values, strict=True):
                r = row.tolist()
                if first in r and second in r:
                    ties += 1
                    assert r.index(second) == r.index(first) + 1, r
                    assert values[r.index(first)] == values[r.index(second)]
        assert ties > 0, f"images {first} and {second} never tie in a top-9: the test proves nothing"


def test_receptive_boxes_by_hand(model):
    def s1_box(r, c, size):
        return receptive_box(model, "conv1", r, c, size)

    def s2_box(r, c, size):
        return receptive_box(model, "conv2", r, c, size)

    # conv1: 5x5, padding 2: rows r-2..r+2
    assert s1_box(10, 20, 32) == (8, 18, 13, 23)
    assert s1_box(0, 31, 32) == (0, 29, 3, 32)
    # conv2 at (r, c): conv2 reads pool rows r-2..r+2, the pool reads 2(r-2)..2(r+2)+1,
    # conv1 reads 2r-6..2r+7: 14 pixels
    assert s2_box(5, 7, 32) == (4, 8, 18, 22)
    assert s2_box(0, 15, 32) == (0, 24, 8, 32)


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_receptive_box_by_experiment(model, layer):
    torch.manual_seed(5)
    x = torch.rand(1, 3, 32, 32)
    row, col = (9, 12) if layer == "conv1" else (5, 6)
    top, left, bottom, right = receptive_box(model, layer, row, col, 32)
    base = activations(model, x, layer)[0, :, row, col]
    # one batch: image r * 32 + c has pixel (r, c) changed
    y = x.repeat(32 * 32, 1, 1, 1)
    rows, cols = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    n = torch.arange(32 * 32)
    y[n, :, rows.flatten(), cols.flatten()] = 1.5 - y[n, :, rows.flatten(), cols.flatten()]
    after = activations(model, y, layer)[:, :, row, col]
    changed = [(r, c) for r in range(32) for c in range(32) if not torch.equal(after[r * 32 + c], base)]
    assert changed, "no pixel changed the activation: the test proves nothing"
    for r, c in changed:
        assert top <= r < bottom and left <= c < right, f"pixel ({r}, {c}) outside the box changed the activation"
    # and the box is no larger than it must be: pixels on each of its four edges change the activation
    rows_changed, cols_changed = {r for r, _ in changed}, {c for _, c in changed}
    spanned = (min(rows_changed), min(cols_changed), max(rows_changed) + 1, max(cols_changed) + 1)
    assert spanned == (top, left, bottom, right)


def test_cancel(model, dataset):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(ScanCancelled):
        scan_top_k(model, dataset, ["conv1"], batch_size=8, should_stop=stop)
    assert len(calls) == 3  # checked between batches, stopped at the first chance


def test_cache_hit_and_invalidation(model, dataset, tmp_path):
    first, hit = cached_scan(model, dataset, ["conv1"], 4, tmp_path)
    assert not hit
    again, hit = cached_scan(model, dataset, ["conv1"], 4, tmp_path)
    assert hit
    np.testing.assert_array_equal(first["conv1"].indices, again["conv1"].indices)
    changed = SeedNet().eval()
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.conv1.weight[0] *= -1
    _, hit = cached_scan(changed, dataset, ["conv1"], 4, tmp_path)
    assert not hit  # a changed model is rescanned
    _, hit = cached_scan(model, dataset, ["conv1"], 5, tmp_path)
    assert not hit  # so is another k
    cancelled = SeedNet().eval()
    with pytest.raises(ScanCancelled):
        cached_scan(cancelled, dataset, ["conv1"], 4, tmp_path, should_stop=lambda: True)
    assert len(list(tmp_path.glob("*.npz"))) == 3  # nothing committed for the cancelled scan
    assert not list(tmp_path.glob("*.tmp"))


def test_command_line_file(model, tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(6)
    for cls in ("cat", "dog"):
        (tmp_path / "data" / "test" / cls).mkdir(parents=True)
        (tmp_path / "data" / "train" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                tmp_path / "data" / "test" / cls / f"{i}.png"
            )
    ckpt = tmp_path / "m.pt"
    save_model(model, ckpt)
    out = tmp_path / "top.npz"
    argv = ["scan", "--data", str(tmp_path / "data"), "--split", "test", "--layers", "conv1,conv2", "-k", "3"]
    assert cli_main([*argv, "--checkpoint", str(ckpt), "--out", str(out), "--device", "cpu"]) == 0
    res = load_top_k(out)
    with np.load(out) as f:
        assert sorted(f.files) == sorted(
            [f"{L}.{x}" for L in ("conv1", "conv2") for x in ("indices", "values", "positions", "boxes")]
            + ["meta.json"]  # what the scan was made from, for a window opening it (explorer.core.scan_file)
        )
        assert f["conv2.boxes"].shape == (64, 3, 4) and f["conv1.positions"].dtype == np.int64
    assert res["conv2"].indices.max() < 12
    assert cli_main(["scan", "--layers", "fc9", "--out", str(out)]) == 2
    assert "error: --layers fc9" in capsys.readouterr().err


def test_out_of_memory_halves_the_batch_then_uses_the_cpu(model, dataset, tmp_path, monkeypatch):
    import explorer.core.scan as scan_mod

    real = scan_mod.layer_outputs
    sizes = []

    def flaky(m, x, layers):
        sizes.append(len(x))
        if len(x) > 8:
            raise torch.OutOfMemoryError("simulated")
        return real(m, x, layers)

    monkeypatch.setattr(scan_mod, "layer_outputs", flaky)
    notices = []
    res = scan_top_k(model, dataset, ["conv1"], 5, batch_size=64, notice=notices.append)
    assert sizes[:4] == [64, 32, 16, 8] and max(sizes[4:]) == 8
    assert notices == [f"out of GPU memory: batch size halved to {b}" for b in (32, 16, 8)]
    monkeypatch.setattr(scan_mod, "layer_outputs", real)
    np.testing.assert_array_equal(res["conv1"].indices, scan_top_k(model, dataset, ["conv1"], 5)["conv1"].indices)

    def never(m, x, layers):
        if m is model:
            raise torch.OutOfMemoryError("simulated")
        return real(m, x, layers)

    monkeypatch.setattr(scan_mod, "layer_outputs", never)
    notices.clear()
    res2, hit = cached_scan(model, dataset, ["conv1"], 5, tmp_path, batch_size=4, notice=notices.append)
    assert not hit and notices[-1] == "out of GPU memory even at batch size 1: scanning on the CPU"
    np.testing.assert_array_equal(res2["conv1"].indices, res["conv1"].indices)


def test_a_cpu_batch_holds_no_more_recorded_values_than_the_bound(model, dataset, monkeypatch):
    """Photo-size models scan a few images a batch, as their recorded values allow (ResNet-50: two at 224 px)."""
    import explorer.core.scan as scan
    from explorer.core.graph import model_graph

    whole = scan_top_k(model, dataset, ["conv1", "conv2"], 4)
    per_image = scan._pass_bytes(model_graph(model), ["conv1", "conv2"])
    monkeypatch.setattr(scan, "CPU_ACTIVATION_BYTES", 3 * per_image + 1)
    steps: list[int] = []
    bounded = scan_top_k(model, dataset, ["conv1", "conv2"], 4, progress=lambda done, total: steps.append(done))
    assert steps[0] == 3 and all(b - a <= 3 for a, b in zip([0, *steps], steps, strict=False))
    for layer in ("conv1", "conv2"):
        np.testing.assert_array_equal(bounded[layer].indices, whole[layer].indices)
        np.testing.assert_allclose(bounded[layer].values, whole[layer].values, rtol=1e-5)


def test_a_pass_for_its_targets_only_keeps_their_values_and_drops_the_rest(model, dataset):
    from explorer.core.graph import model_graph

    graph = model_graph(model)
    x = dataset.tensor(list(range(4)))
    targets = [graph.by_name[graph.layer(name).node] for name in ("conv1", "conv2")]
    full = graph.run(x, targets, switches=False)
    lean = graph.run(x, targets, switches=False, targets_only=True)
    for t in targets:
        torch.testing.assert_close(lean[t], full[t], rtol=0, atol=0)
    assert set(lean) < set(full) and all(t in lean for t in targets)
    kept = next(n for n in full if n not in targets and n.op == "call_module")
    assert kept not in lean
    assert kept in graph.run(x, targets, switches=False, targets_only=True, keep=frozenset({kept}))
