"""The ORIGINAL CenterNet-MobileNetV3 TF.js graph (``centernet.json`` + ``.bin``), run by TF.js on WebAssembly.

The runtime is the one :func:`server.bench.references.tfjs_rvm.install_tfjs` installs (``@tensorflow/tfjs``
and ``tfjs-backend-wasm`` in a throwaway folder); ``tfjs_graph.js`` runs any graph model on raw
tensors. The graph takes a 1×512×512×3 float image in 0…255 and gives the class heatmaps
(``tower_0/keypoints``), the box sides (``tower_0/wh``) and its own decoding, the 100 best
peaks of all classes (``tower_0/detections``: x0, y0, x1, y1, score, class in input pixels).
Used by ``tests/test_persons.py`` (equivalence). Nothing here imports pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.bench.references.tfjs_rvm import run_node

INPUT_SIZE = 512
OUTPUTS = ("tower_0/keypoints", "tower_0/wh", "tower_0/detections")


@dataclass
class CenterNetResult:
    heatmap: np.ndarray  # 128×128×80 class probabilities
    sides: np.ndarray  # 128×128×4 left, top, right, bottom distances in input pixels
    detections: np.ndarray  # 100×6 the graph's own decoding
    seconds: float  # the graph's wall time (after a warm-up run, one wasm thread)


def run_centernet(
    runtime: Path, model_json: Path, views: dict[str, np.ndarray], work: Path, timeout: float = 900
) -> dict[str, CenterNetResult]:
    """Run the graph on ``views`` (name → 512×512×3 uint8 RGB)."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    jobs = []
    for name, view in views.items():
        if view.shape != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"the graph takes {INPUT_SIZE}×{INPUT_SIZE}×3 views, {name} is {view.shape}")
        np.ascontiguousarray(view, np.float32).tofile(work / f"{name}.in")
        jobs.append(f"{name}:float32:1x{INPUT_SIZE}x{INPUT_SIZE}x3")
    results = {}
    for record in run_node(runtime, "tfjs_graph.js", [str(model_json), str(work), ",".join(OUTPUTS), *jobs], timeout):
        outs = [
            np.fromfile(work / f"{record['name']}.{k}.out", np.float32).reshape(shape[1:])
            for k, shape in enumerate(record["shapes"])
        ]
        results[record["name"]] = CenterNetResult(*outs, seconds=record["seconds"])
    return results
