"""MediaPipe's ``selfie_segmentation.tflite`` → ``weights/selfie.pt`` (a plain state dict).

Reads the flatbuffer with the ``tflite`` package (the schema bindings alone, not
the TensorFlow Lite runtime, and not mediapipe — whose numpy<2 / protobuf pins
would poison the server's environment). Weights are stored as fp16 behind
DEQUANTIZE ops; they are widened to fp32 and matched, in graph order, to the
layers of :class:`models.selfie_net.SelfieSegmentationNet`, checking every shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..paths import write_weights
from . import ConversionError

CONV_2D, DEPTHWISE_CONV_2D, DEQUANTIZE, CUSTOM = 3, 4, 6, 32
TRANSPOSE_CONV_OP = b"Convolution2DTransposeBias"
TENSOR_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32}




def read_layers(path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(kind, weight, bias) for every convolution in graph order, as fp32 in TFLite layouts."""
    import tflite

    data = Path(path).read_bytes()
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        graph = model.Subgraphs(0)
        operator_count = graph.OperatorsLength()
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise ConversionError(f"{path} is not a readable .tflite model ({exc})") from None

    def tensor_array(index: int) -> np.ndarray:
        tensor = graph.Tensors(index)
        dtype = TENSOR_DTYPES.get(tensor.Type())
        buffer = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if dtype is None or isinstance(buffer, int):
            raise ConversionError(f"tensor {tensor.Name().decode()} has no constant data")
        return np.frombuffer(buffer.tobytes(), dtype).reshape(tensor.ShapeAsNumpy()).astype(np.float32)

    dequantized: dict[int, int] = {}
    layers = []
    try:
        for op_index in range(operator_count):
            op = graph.Operators(op_index)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            inputs = list(op.InputsAsNumpy())
            if builtin == DEQUANTIZE:
                dequantized[int(op.OutputsAsNumpy()[0])] = int(inputs[0])
                continue
            if builtin == CUSTOM and code.CustomCode() == TRANSPOSE_CONV_OP:
                kind = "transpose"
            elif builtin == CONV_2D:
                kind = "conv"
            elif builtin == DEPTHWISE_CONV_2D:
                kind = "depthwise"
            else:
                continue
            weight, bias = (tensor_array(dequantized.get(int(t), int(t))) for t in inputs[1:3])
            layers.append((kind, weight, bias))
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(f"{path} is damaged or truncated ({type(exc).__name__}: {exc})") from None
    return layers


def state_dict_from_tflite(path: Path) -> dict:
    import torch
    from torch import nn

    from ..selfie_net import SelfieSegmentationNet

    net = SelfieSegmentationNet()
    targets = net.convs_in_graph_order()
    layers = read_layers(path)
    if len(layers) != len(targets):
        raise ConversionError(f"{path} has {len(layers)} convolutions; the port expects {len(targets)}")
    for number, ((kind, weight, bias), layer) in enumerate(zip(layers, targets, strict=True)):
        if kind == "conv":  # OHWI -> OIHW
            weight = weight.transpose(0, 3, 1, 2)
        else:  # depthwise 1HWC -> C1HW; transposed OHWI -> IOHW
            weight = weight.transpose(3, 0, 1, 2)
        expected = tuple(layer.weight.shape)
        if isinstance(layer, nn.ConvTranspose2d) != (kind == "transpose") or weight.shape != expected:
            raise ConversionError(f"layer {number} ({kind}) has weight {weight.shape}; the port expects {expected}")
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            layer.bias.copy_(torch.from_numpy(bias.reshape(-1)))
    return net.state_dict()


def convert(sources: dict[str, Path], weights_dir: Path) -> list[Path]:
    """Converter hook of the weights manifest: writes ``selfie.pt`` into ``weights_dir``."""

    source = Path(sources["selfie_segmentation.tflite"])
    state = state_dict_from_tflite(source)
    return [write_weights(state, weights_dir, "selfie.pt")]
