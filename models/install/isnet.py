"""IMG.LY's ISNet ONNX (``@imgly/background-removal-data``) → ``weights/isnet.pt`` (a plain state dict).

The npm package ships the model cut into 4 MiB chunks named by their sha256;
``resources.json`` lists, for ``/models/medium``, the chunks in order and the
total size. Joined, they are an ONNX graph (opset 15, PyTorch 2.0.1 export,
batch norm folded, fp16 weights). The initializers are read with the ``onnx``
package and mapped to :class:`models.isnet_net.ISNetDIS` by name: a few kept
their PyTorch names (``conv_in.weight``, ``side1.bias``); the rest are anonymous
(``onnx::Conv_1896``) but the Conv node that uses them is named after its module
(``/stage1/rebnconvin/conv_s1/Conv``). Every shape, dilation and stride is checked.
The weights are stored as fp16, as shipped (half the size); the segmenter widens them
on CPU.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from ..paths import write_weights
from . import ConversionError

MODEL_KEY = "/models/medium"




def join_chunks(sources: dict[str, Path], key: str = MODEL_KEY) -> bytes:
    """The ONNX file: the chunks ``resources.json`` lists for ``key``, concatenated and checked."""
    try:
        resources = json.loads(Path(sources["resources.json"]).read_text())
        entry = resources[key]
        chunks = entry["chunks"]
    except (KeyError, ValueError, TypeError) as exc:
        raise ConversionError(f"resources.json does not describe {key} ({exc!r})") from None
    parts = []
    for chunk in chunks:
        name = chunk["hash"]
        if name not in sources:
            raise ConversionError(f"chunk {name} of {key} was not provided")
        data = Path(sources[name]).read_bytes()
        start, end = chunk["offsets"]
        if len(data) != end - start or hashlib.sha256(data).hexdigest() != name:
            raise ConversionError(f"chunk {name} is damaged (size {len(data)}, expected {end - start})")
        parts.append(data)
    model = b"".join(parts)
    if len(model) != entry.get("size", len(model)):
        raise ConversionError(f"{key}: joined size {len(model)} differs from the listed {entry['size']}")
    return model


def onnx_weights(model_bytes: bytes) -> dict[str, tuple[np.ndarray, dict[str, list[int]]]]:
    """Module-path parameter name -> (array, the Conv node's attributes), e.g. ``stage1.rebnconv1.conv_s1.weight``."""
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load_from_string(model_bytes).graph
    except Exception as exc:  # protobuf raises assorted errors on garbage
        raise ConversionError(f"not a readable ONNX model ({exc})") from None
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    weights: dict[str, tuple[np.ndarray, dict[str, list[int]]]] = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        # "/stage1/rebnconvin/conv_s1/Conv" -> "stage1.rebnconvin.conv_s1"; "/conv_in/Conv" -> "conv_in"
        module = ".".join(node.name.strip("/").split("/")[:-1])
        attributes = {a.name: list(a.ints) for a in node.attribute if a.ints}
        if len(node.input) != 3:
            raise ConversionError(f"{node.name}: a convolution without bias; ISNet's all have one")
        for suffix, name in zip(("weight", "bias"), node.input[1:], strict=True):
            if name not in initializers:
                raise ConversionError(f"{node.name}: {suffix} {name!r} is not an initializer")
            weights[f"{module}.{suffix}"] = (initializers[name], attributes)
    return weights


def state_dict(model_bytes: bytes) -> dict[str, torch.Tensor]:
    """ISNetDIS state dict (fp16) from the ONNX bytes, every tensor checked against the module."""
    from ..isnet_net import ISNetDIS

    found = onnx_weights(model_bytes)
    net = ISNetDIS()
    expected = dict(net.named_parameters())
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        raise ConversionError(f"ONNX graph does not match ISNet: missing {missing[:5]}, unexpected {extra[:5]}")
    modules = dict(net.named_modules())
    result = {}
    for name, parameter in expected.items():
        array, attributes = found[name]
        if tuple(array.shape) != tuple(parameter.shape):
            raise ConversionError(f"{name}: ONNX shape {array.shape}, ISNet expects {tuple(parameter.shape)}")
        conv = modules[name.rsplit(".", 1)[0]]
        for attribute, value in (("dilations", conv.dilation), ("strides", conv.stride), ("pads", conv.padding * 2)):
            if attribute in attributes and tuple(attributes[attribute]) != tuple(value):
                raise ConversionError(f"{name}: ONNX {attribute} {attributes[attribute]}, ISNet has {value}")
        result[name] = torch.from_numpy(np.array(array, copy=True)).to(torch.float16)
    return result


def convert(sources: dict[str, Path], weights_dir: Path) -> list[Path]:
    """Write ``weights_dir/isnet.pt`` from the npm package's ``resources.json`` and medium-model chunks."""
    weights = state_dict(join_chunks(sources))
    return [write_weights(weights, weights_dir, "isnet.pt")]
