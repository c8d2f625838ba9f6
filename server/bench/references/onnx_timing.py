"""The timing loop both ONNX reference scripts share (``onnx_ref.py``, ``onnx_modnet_ref.py``).

Runs inside the throwaway onnxruntime venv, imported from the scripts' own folder (a script run by
path has it first on ``sys.path``); numpy, Pillow and onnxruntime only, never the server environment.

``SCRIPT MODEL.onnx OUT_DIR THREADS PHOTO...`` writes ``OUT_DIR/STEM.npy`` (float32, the photo's size)
for each photo and ``OUT_DIR/timings.json``: per photo ``[wall, cpu]`` seconds of the whole prediction
(resizes included) after one warm-up run, and ``first``: ``[wall, cpu]`` of creating the session plus
its first prediction. ``SCRIPT --serve MODEL.onnx THREADS PHOTO...`` times photos on request instead
(:class:`server.bench.references.LineSession`). The session runs on ``THREADS`` intra-op threads (0:
onnxruntime's own choice), otherwise as onnxruntime's defaults have it.
"""

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

#: one photo's prediction: (session, H×W×3 uint8) → H×W float32
Predict = Callable[["ort.InferenceSession", np.ndarray], np.ndarray]


def run(predict: Predict, argv: list[str] | None = None) -> None:
    """The script's command line (see the module's docstring) with ``predict`` as its network."""
    argv = sys.argv[1:] if argv is None else argv
    serve = argv[0] == "--serve"
    if serve:
        model, threads, paths = argv[1], int(argv[2]), argv[3:]
    else:
        model, out, threads, paths = argv[0], Path(argv[1]), int(argv[2]), argv[3:]
    photos = {Path(p).stem: np.asarray(Image.open(p).convert("RGB")) for p in paths}
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    start, cpu = time.perf_counter(), time.process_time()
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    if photos:
        predict(session, next(iter(photos.values())))  # the first call: allocations, kernel choices
    first = [time.perf_counter() - start, time.process_time() - cpu]
    if serve:
        print(json.dumps({"first": first}), flush=True)
        rgbs = list(photos.values())
        for line in sys.stdin:
            start, cpu = time.perf_counter(), time.process_time()
            predict(session, rgbs[int(line)])
            print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu}), flush=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    timings: dict = {"first": first}
    for stem, rgb in photos.items():
        start, cpu = time.perf_counter(), time.process_time()
        result = predict(session, rgb)
        timings[stem] = [time.perf_counter() - start, time.process_time() - cpu]
        np.save(out / f"{stem}.npy", result)
    (out / "timings.json").write_text(json.dumps(timings))
