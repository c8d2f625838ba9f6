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

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image

SIZE = 1024


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
        probability(session, next(iter(photos.values())))  # the first call: allocations, kernel choices
    first = [time.perf_counter() - start, time.process_time() - cpu]
    if serve:
        print(json.dumps({"first": first}), flush=True)
        rgbs = list(photos.values())
        for line in sys.stdin:
            start, cpu = time.perf_counter(), time.process_time()
            probability(session, rgbs[int(line)])
            print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu}), flush=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    timings: dict = {"first": first}
    for stem, rgb in photos.items():
        start, cpu = time.perf_counter(), time.process_time()
        alpha = probability(session, rgb)
        timings[stem] = [time.perf_counter() - start, time.process_time() - cpu]
        np.save(out / f"{stem}.npy", alpha)
    (out / "timings.json").write_text(json.dumps(timings))


def probability(session: "ort.InferenceSession", rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    shrinking = SIZE * SIZE < height * width
    view = cv2.resize(rgb, (SIZE, SIZE), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    tensor = ((view.astype(np.float32) - 128.0) / 256.0).transpose(2, 0, 1)[None]
    small = session.run(["output"], {"input": tensor})[0][0, 0]
    alpha = cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(alpha, 0.0, 1.0)


if __name__ == "__main__":
    main()
