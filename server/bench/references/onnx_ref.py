"""Run the ORIGINAL ISNet ONNX model (IMG.LY's) with onnxruntime on photos, inside a throwaway venv.

Called as ``VENV/bin/python onnx_ref.py MODEL.onnx OUT_DIR THREADS PHOTO...``; writes ``OUT_DIR/STEM.npy``
(float32 probability at the photo's size) for each photo and ``OUT_DIR/timings.json``: per photo
``[wall, cpu]`` seconds (resizes included) after one warm-up run, and ``first``: ``[wall, cpu]`` of
creating the session plus its first prediction. The session runs on ``THREADS`` intra-op threads
(0: onnxruntime's own choice, one per physical core), otherwise as onnxruntime's defaults have it.
``onnx_ref.py --serve MODEL.onnx THREADS PHOTO...`` times photos on request instead
(:class:`server.bench.references.LineSession`). The pipeline is IMG.LY's: the photo squashed to
1024×1024, (RGB − 128) / 256, output ``output`` (the first of six side outputs) resized back. The
resize rule is the port's (INTER_AREA when shrinking, bilinear back) so the comparison isolates the
network. This file runs under onnxruntime only, never in the server environment.
"""


import cv2
import numpy as np
import onnxruntime as ort
from onnx_timing import run  # beside this script: the timing loop both references share

SIZE = 1024


def probability(session: "ort.InferenceSession", rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    shrinking = SIZE * SIZE < height * width
    view = cv2.resize(rgb, (SIZE, SIZE), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    tensor = ((view.astype(np.float32) - 128.0) / 256.0).transpose(2, 0, 1)[None]
    small = session.run(["output"], {"input": tensor})[0][0, 0]
    alpha = cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(alpha, 0.0, 1.0)


if __name__ == "__main__":
    run(probability)
