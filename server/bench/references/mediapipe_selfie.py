"""Run the ORIGINAL MediaPipe Selfie Segmentation on photos, inside a throwaway venv.

Called by tests/test_selfie.py as ``VENV/bin/python mediapipe_selfie.py OUT_DIR PHOTO...``;
writes ``OUT_DIR/STEM.npy`` (float32 probability at the photo's size) for each photo.
This file runs under the mediapipe runtime only, never in the server environment.
"""

import sys
from pathlib import Path

import mediapipe as mp
import numpy as np
from PIL import Image


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
        for photo in sys.argv[2:]:
            rgb = np.ascontiguousarray(np.asarray(Image.open(photo).convert("RGB")))
            mask = segmenter.process(rgb).segmentation_mask
            np.save(out / (Path(photo).stem + ".npy"), np.asarray(mask, dtype=np.float32))


if __name__ == "__main__":
    main()
