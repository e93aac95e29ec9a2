"""Photos of any size prepared as the model's weights expect, torchvision weights from the hub cache, class
names, checkpoints of any head size, and the photo folder through the command line. All offline."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from photo_helpers import PHOTOS, lay_weights, make_photos, photo
from PIL import Image
from torchvision.models import get_model_weights

from explorer.core import layers, load_model, model_info, preprocess, project
from explorer.core.datasets import open_dataset
from explorer.core.errors import CheckpointError, ModelError
from explorer.core.images import read_image
from explorer.core.preprocessing import Preprocessing


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def no_download(monkeypatch):
    """A download attempt fails at once, as without a network (and nothing is ever fetched by a test)."""
    import torch.hub

    def refuse(url, dst, *args, **kwargs):
        raise OSError(f"<urlopen error [Errno -3] Temporary failure in name resolution> ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def _unnormalised(weights, img: Image.Image) -> torch.Tensor:
    """The weights' own transforms() output with its normalisation undone."""
    t = weights.transforms()
    out = t(img)
    mean = torch.tensor(t.mean).view(3, 1, 1)
    std = torch.tensor(t.std).view(3, 1, 1)
    return out * std + mean


# (builder, weights, resize, crop, interpolation): four weight sets with different sizes and filters.
WEIGHT_SETS = [
    ("resnet50", "IMAGENET1K_V2", 232, 224, "bilinear"),
    ("resnet50", "IMAGENET1K_V1", 256, 224, "bilinear"),
    ("inception_v3", "IMAGENET1K_V1", 342, 299, "bilinear"),
    ("efficientnet_b3", "IMAGENET1K_V1", 320, 300, "bicubic"),
]


@pytest.mark.parametrize(("name", "weights", "resize", "crop", "interpolation"), WEIGHT_SETS)
def test_preprocessing_is_the_weights_own_transform(name, weights, resize, crop, interpolation):
    member = get_model_weights(name)[weights]
    prep = Preprocessing(crop, resize, interpolation)
    for i, (w, h) in enumerate([(640, 480), (480, 640), (300, 200), (crop + 17, crop + 3), (1000, 333)]):
        img = photo(w, h, seed=i)
        ours = prep(img)
        assert ours.shape == (3, crop, crop) and ours.dtype == torch.float32
        assert ours.min() >= 0 and ours.max() <= 1
        assert torch.allclose(ours, _unnormalised(member, img), atol=2e-6), (w, h)


def test_model_info_carries_the_weights_preprocessing_and_classes(torch_home):
    lay_weights(torch_home, "resnet50")
    model = load_model("torchvision:resnet50")
    info = model_info(model)
    assert (info.input_size, info.crop, info.resize, info.interpolation) == (224, 224, 232, "bilinear")
    assert info.mean == pytest.approx((0.485, 0.456, 0.406)) and info.std == pytest.approx((0.229, 0.224, 0.225))
    assert len(info.classes) == 1000 and info.classes[0] == "tench" and info.weights == "IMAGENET1K_V2"
    assert preprocess(model) == Preprocessing(224, 232, "bilinear")


def test_weights_are_read_from_the_hub_cache_offline(torch_home, no_download):
    state = lay_weights(torch_home, "resnet18")
    model = load_model("torchvision:resnet18")
    assert torch.equal(model.inner.conv1.weight, state["conv1.weight"])
    assert "IMAGENET1K_V1 weights" in model_info(model).name


def test_another_weight_set_by_name(torch_home, no_download):
    state = lay_weights(torch_home, "resnet50", "IMAGENET1K_V1")
    model = load_model("torchvision:resnet50", weights="IMAGENET1K_V1")
    assert torch.equal(model.inner.fc.weight, state["fc.weight"])
    assert model_info(model).resize == 256


def test_densenet_weight_files_with_the_old_layer_names_open(torch_home, no_download, tmp_path):
    """torchvision's DenseNet files name layers `norm.1`, `conv.2` (its loader renames them as it reads them)."""
    import re

    state = lay_weights(torch_home, "densenet121")
    legacy = {  # as the 2017 files are: the old names, and no BatchNorm counters
        re.sub(r"(denselayer\d+\.(?:norm|relu|conv))(\d)\.", r"\1.\2.", k): v
        for k, v in state.items()
        if not k.endswith("num_batches_tracked")
    }
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    path = next((torch_home / "hub" / "checkpoints").glob("densenet121-*.pth"))
    torch.save(legacy, path)
    model = load_model("torchvision:densenet121")
    key = "features.denseblock1.denselayer1.conv2.weight"
    assert torch.equal(model.inner.state_dict()[key], state[key])
    torch.save({"state_dict": legacy}, tmp_path / "mine.pt")  # a user's checkpoint saved with the same names
    mine = load_model("torchvision:densenet121", checkpoint=tmp_path / "mine.pt")
    assert torch.equal(mine.inner.state_dict()[key], state[key])


def test_missing_weights_say_where_torchvision_looked(torch_home, no_download):
    with pytest.raises(ModelError) as err:
        load_model("torchvision:resnet18")
    text = str(err.value)
    assert str(torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in text
    assert "--checkpoint" in text and "\n" not in text


def test_unknown_weight_set_lists_the_choices():
    with pytest.raises(ModelError, match=r"IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT, random"):
        load_model("torchvision:resnet50", weights="IMAGENET22K")


def test_inception_with_its_imagenet_weights_opens_at_299(torch_home, no_download):
    lay_weights(torch_home, "inception_v3")
    model = load_model("torchvision:inception_v3")
    info = model_info(model)
    assert (info.input_size, info.resize) == (299, 342)
    assert model.inner.transform_input is True
    assert len(layers(model)) > 50
    x = torch.rand(1, 3, 299, 299)
    assert project(model, x, layers(model)[-1].name, [0], method="gradient").shape == (1, 1, 3, 299, 299)


def test_random_weights_keep_the_architecture_preprocessing():
    model = load_model("torchvision:efficientnet_b0", weights="random")
    info = model_info(model)
    assert (info.input_size, info.resize, info.interpolation) == (224, 256, "bicubic")
    assert info.classes[1] == "goldfish" and "random" in info.name


@pytest.mark.parametrize("wrap", [None, "state_dict", "model"])
def test_checkpoint_head_size_decides_the_classes(tmp_path, wrap):
    import torchvision

    torch.manual_seed(1)
    net = torchvision.models.resnet18(num_classes=7)
    state = net.state_dict()
    path = tmp_path / "seven.pt"
    torch.save(state if wrap is None else {wrap: state, "epoch": 3}, path)
    model = load_model("torchvision:resnet18", path)
    info = model_info(model)
    assert info.classes == tuple(f"class {i}" for i in range(7))
    assert torch.equal(model.inner.fc.weight, state["fc.weight"])
    assert (f"key {wrap!r}" in info.name) == (wrap is not None)


def test_checkpoint_of_a_conv_head_model(tmp_path):
    import torchvision

    path = tmp_path / "squeeze5.pt"
    torch.save(torchvision.models.squeezenet1_1(num_classes=5).state_dict(), path)
    assert len(model_info(load_model("torchvision:squeezenet1_1", path)).classes) == 5


def test_checkpoint_of_another_architecture_is_named(tmp_path):
    import torchvision

    path = tmp_path / "vgg.pt"
    torch.save(torchvision.models.vgg11(num_classes=3).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a torchvision:resnet18 state dict"):
        load_model("torchvision:resnet18", path)


def test_class_names_from_a_file_and_a_card(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"thing {i}" for i in range(1000)) + "\n")
    model = load_model("torchvision:resnet18", weights="random", classes=names)
    assert model_info(model).classes[999] == "thing 999"
    card = tmp_path / "card.toml"
    card.write_text('model = "torchvision:resnet18"\nweights = "random"\nclasses_file = "names.txt"\nresize = 240\n')
    info = model_info(load_model(card))
    assert info.classes[5] == "thing 5" and info.resize == 240 and info.input_size == 224
    names.write_text("a\nb\n")
    with pytest.raises(ModelError, match=r"names.txt: 2 class names, but the model has 1000 outputs"):
        load_model("torchvision:resnet18", weights="random", classes=names)


def test_a_new_crop_keeps_the_weights_resize_ratio():
    info = model_info(load_model("torchvision:resnet18", weights="random", input_size=112))
    assert (info.input_size, info.resize) == (112, 128)
    with pytest.raises(ModelError, match="resize 100: must be at least the input size"):
        load_model("torchvision:resnet18", weights="random", resize=100)


# --- photos -----------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(PHOTOS)))
def test_any_mode_becomes_rgb_at_the_model_size(tmp_path, index):
    (path,) = make_photos(tmp_path, [PHOTOS[index]])
    prep = Preprocessing(224, 232, "bilinear")
    pixels = read_image(path, prep)
    assert pixels.shape == (224, 224, 3) and pixels.dtype == np.uint8
    with Image.open(path) as img:
        if img.format == "JPEG" and img.mode != "CMYK":
            img.draft(img.mode, (232, 232))  # what the reader does: decode reduced where the size allows
        rgb = img.convert("RGBA") if img.mode == "RGBA" else img.convert("RGB")
        if rgb.mode == "RGBA":
            rgb = Image.alpha_composite(Image.new("RGBA", rgb.size, (0, 0, 0, 255)), rgb).convert("RGB")
    expected = prep.pixels(rgb)
    assert np.array_equal(pixels, expected)


def test_sixteen_bit_and_exif_rotation(tmp_path):
    prep = Preprocessing(64, 72, "bilinear")
    grey16 = Image.fromarray((np.arange(200 * 100, dtype=np.uint16).reshape(100, 200) * 3).astype(np.uint16))
    path16 = tmp_path / "deep.png"
    grey16.save(path16)
    out = read_image(path16, prep)
    assert out.shape == (64, 64, 3) and out.max() > 100  # scaled to 8 bits, not clipped to white
    # A landscape file whose EXIF tag says "rotate 90": the model sees the portrait.
    img = photo(300, 200)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = tmp_path / "rotated.jpg"
    img.save(rotated, exif=exif, quality=95)
    upright = tmp_path / "upright.jpg"
    img.transpose(Image.Transpose.ROTATE_270).save(upright, quality=95)
    a, b = read_image(rotated, prep).astype(int), read_image(upright, prep).astype(int)
    assert np.abs(a - b).mean() < 4  # the same picture, up to JPEG's losses


def test_images_at_the_input_size_pass_through_unchanged():
    img = photo(224, 224)
    assert np.array_equal(Preprocessing(224, 232, "bilinear").pixels(img), np.asarray(img))
    cifar = photo(32, 32)
    assert np.array_equal(Preprocessing(32, 32).pixels(cifar), np.asarray(cifar))


def test_extreme_aspect_ratio_keeps_the_centre_without_a_huge_resize():
    strip = Image.new("RGB", (60_000, 3), (10, 20, 30))
    strip.paste((200, 100, 50), (29_990, 0, 30_010, 3))
    out = Preprocessing(224, 232).pixels(strip)
    assert out.shape == (224, 224, 3)
    assert tuple(out[112, 112]) != (10, 20, 30)  # the centre of the strip is in the crop


def test_a_photo_folder_opens_at_the_model_size_and_keeps_crops_only(tmp_path):
    make_photos(tmp_path / "photos")
    prep = Preprocessing(224, 232)
    ds = open_dataset(str(tmp_path / "photos"), prepare=prep)
    assert ds.size == 224 and len(ds) == len(PHOTOS)
    pixels = ds.images(range(len(ds)))
    assert pixels.shape == (len(PHOTOS), 224, 224, 3)
    assert not ds.failures
    # The 32-pixel set of the same folder is another set, with other pictures.
    small = open_dataset(str(tmp_path / "photos"))
    assert small.size == 32 and small.images([0]).shape == (1, 32, 32, 3)
    assert small.source_key != ds.source_key


def test_cifar_sized_pixels_are_resized_for_a_big_model():
    from explorer.core.probes import probe_patterns

    probes = probe_patterns()
    big = probes.for_model(Preprocessing(64, 72, "bicubic"))
    assert big.size == 64 and big.images([0]).shape == (1, 64, 64, 3)
    assert probes.for_model(Preprocessing(32, 32)) is probes
    assert big.content_key() != probes.content_key()


def test_pixel_cache_keeps_sets_of_each_size_apart(tmp_path):
    make_photos(tmp_path / "photos")
    for size in (32, 64, 32, 64):
        prep = None if size == 32 else Preprocessing(64, 70)
        ds = open_dataset(str(tmp_path / "photos"), prepare=prep)
        assert ds.all_pixels().shape == (len(PHOTOS), size, size, 3)


def test_big_jpegs_are_decoded_reduced(tmp_path):
    big = photo(3000, 2000)
    path = tmp_path / "big.jpg"
    big.save(path, quality=90)
    prep = Preprocessing(224, 256)
    fast = read_image(path, prep).astype(int)
    full = prep.pixels(Image.open(path)).astype(int)
    assert np.abs(fast - full).mean() < 3  # draft() is a decoding shortcut, not another picture
    with Image.open(path) as img:
        img.draft("RGB", (256, 256))
        assert min(img.size) >= 256 and img.size[0] < 3000


# --- the command line, as in the README ---------------------------------------------------------


def test_export_projections_of_resnet50_on_photos_from_the_hub_cache(tmp_path, torch_home):
    lay_weights(torch_home, "resnet50")
    make_photos(tmp_path / "photos")
    out = tmp_path / "r50.png"
    args = ["export", "projections", "--model", "torchvision:resnet50", "--data", str(tmp_path / "photos")]
    args += ["--layer", "layer4.2.relu_2", "--features", "0:8", "--image", "0", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "explorer", *args],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "TORCH_HOME": str(torch_home)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "8 cells" in done.stdout
    with Image.open(io.BytesIO(out.read_bytes())) as img:
        assert img.size[0] > 400


def test_scan_of_photos_boxes_lie_in_the_crop(tmp_path):
    from explorer.core.scan import scan_top_k

    make_photos(tmp_path / "photos")
    model = load_model("torchvision:resnet18", weights="random")
    ds = open_dataset(str(tmp_path / "photos"), prepare=preprocess(model))
    name = layers(model)[3].name
    results = scan_top_k(model, ds, [name], 3)
    top = results[name]
    boxes = np.asarray(top.boxes)
    assert boxes.min() >= 0 and boxes.max() <= 224  # in the crop's coordinates, not the photo's
    assert (boxes[..., 2] > boxes[..., 0]).all() and (boxes[..., 3] > boxes[..., 1]).all()
    layer = layers(model)[3]
    assert (boxes[..., 2] - boxes[..., 0]).max() == min(layer.field, 224)


def test_timm_model_with_its_data_config():
    timm = pytest.importorskip("timm")
    del timm
    model = load_model("timm:resnet18", weights="random")
    info = model_info(model)
    assert (info.input_size, info.resize, info.interpolation) == (224, 235, "bicubic")
    assert len(info.classes) == 1000 and info.classes[0].startswith("tench")
    assert layers(model)


def test_timm_checkpoint_head_size(tmp_path):
    timm = pytest.importorskip("timm")
    path = tmp_path / "t.pt"
    torch.save({"model": timm.create_model("resnet18", num_classes=4).state_dict()}, path)
    info = model_info(load_model("timm:resnet18", path))
    assert len(info.classes) == 4 and "key 'model'" in info.name


def test_timm_pretrained_weights_come_from_the_hugging_face_cache_offline(tmp_path, monkeypatch):
    """The cache first; without it and without the Hub, one line at once (not a minute of retries)."""
    timm = pytest.importorskip("timm")
    import socket

    from huggingface_hub import constants
    from safetensors.torch import save_file

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    def unreachable(*args, **kwargs):
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    with pytest.raises(ModelError) as err:
        load_model("timm:resnet18")
    text = str(err.value)
    assert "not in the Hugging Face cache" in text and str(tmp_path / "hub") in text and "\n" not in text
    # The same weights laid out as the Hub client caches them.
    repo = timm.create_model("resnet18").pretrained_cfg["hf_hub_id"]
    folder = tmp_path / "hub" / ("models--" + repo.replace("/", "--"))
    revision = "0" * 40
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(revision)
    (folder / "snapshots" / revision).mkdir(parents=True)
    torch.manual_seed(0)
    state = timm.create_model("resnet18").state_dict()
    save_file(state, folder / "snapshots" / revision / "model.safetensors")
    model = load_model("timm:resnet18")
    assert torch.equal(model.inner.conv1.weight, state["conv1.weight"])
    assert "pretrained" in model_info(model).name


def test_unknown_builder_suggests_names():
    with pytest.raises(ModelError, match="did you mean"):
        load_model("torchvision:resnet5", weights="random")


def test_the_zoo_paths_are_offline_only(torch_home, no_download):
    # Every weight set's file name is where torchvision would look: the hub checkpoints folder.
    from explorer.core.torchvision_models import hub_file, pick_weights

    member = pick_weights("vgg16", None)
    assert Path(hub_file(member)).parent == torch_home / "hub" / "checkpoints"
