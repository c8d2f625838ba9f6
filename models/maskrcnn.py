"""``maskrcnn`` — torchvision's Mask R-CNN (ResNet-50 FPN v2, COCO), person instances.

The network is built with ``weights=None`` and filled from ``weights/maskrcnn.pt`` (never
torchvision's own download). Person = COCO label 1. The soft instance masks torchvision pastes
into the photo are kept as probabilities. Options:

* ``selection`` — ``"subjects"`` (default: the soft union of the people the photo is about, decided by
  :mod:`models.subjects` from the boxes), ``"all"`` (every person found), ``"largest"``, an instance
  index ``k`` (as listed by :meth:`MaskRCNNSegmenter.instances`), or a point ``[x, y]`` (photo
  pixels: the most likely person there; nobody there is refused with a clear error rather than
  answered with an empty mask, so a GIMP user's layer is never hidden by a miss);
* ``threshold`` — minimum detection score (default 0.5);
* ``view`` — the shorter side the network works at (default 800, torchvision's; 64–1333).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cutout_common.options import Option, OptionError
from cutout_common.vocabulary import parse_person

from .base import Prediction, ProgressFn, Segmenter, no_progress
from .persons import Person
from .registry import register
from .subjects import SubjectScore, score_subjects, subject_indices
from .torch_run import autocast, fit_within, resize_soft

PERSON = 1
#: torchvision's own transform works at 800–1333 px; larger photos are shrunk before it
WORKING_SIZE = 1333


def parse_selection(value: Any) -> str | int | list[float]:
    """A person as the pipeline's ``person`` option names one, or an instance index."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1000:
        return value
    try:
        return parse_person(value)
    except OptionError:
        raise OptionError("selection must be 'subjects', 'all', 'largest', an instance index or a point [x, y]") \
            from None


OPTIONS = (
    Option(
        "selection",
        "Person",
        "custom",
        "subjects",
        parse=parse_selection,
        type_help="'subjects', 'all', 'largest', an instance index or a point [x, y] in image pixels",
        help="which person of a group",
    ),
    Option("threshold", "Score threshold", "float", 0.5, 0.0, 1.0, help="people found with a lower score are ignored"),
    Option(
        "view",
        "Network view",
        "int",
        800,
        64,
        WORKING_SIZE,
        unit="px",
        help="the photo's shorter side as the network sees it",
    ),
)


def build_net() -> torch.nn.Module:
    from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

    return maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=91)


@register("maskrcnn")
class MaskRCNNSegmenter(Segmenter):
    options = OPTIONS
    network = staticmethod(build_net)

    @torch.inference_mode()
    def detect(self, rgb: np.ndarray, threshold: float = 0.5, view: int = 800) -> dict[str, np.ndarray]:
        """Person detections at the photo's size: boxes (N×4 x0,y0,x1,y1), scores (N), masks (N×H×W soft)."""
        height, width = rgb.shape[:2]
        self.net.transform.min_size = (view,)  # torchvision resizes the shorter side to this ...
        self.net.transform.max_size = round(view * WORKING_SIZE / 800)  # ... and caps the longer side
        small, scale = fit_within(rgb, WORKING_SIZE)
        # np.require: a read-only photo (e.g. from PIL) is copied once rather than shared with torch unsafely
        tensor = torch.from_numpy(np.require(small, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"]))
        tensor = tensor.to(self.device).permute(2, 0, 1).float() / 255.0
        with autocast(self.device):
            out = self.net([tensor])[0]
        keep = (out["labels"] == PERSON) & (out["scores"] >= threshold)
        boxes = out["boxes"][keep].float().cpu().numpy() / scale
        scores = out["scores"][keep].float().cpu().numpy()
        masks = out["masks"][keep, 0].float().cpu().numpy()
        masks = (
            np.stack([resize_soft(m, (height, width)) for m in masks])
            if len(masks)
            else np.zeros((0, height, width), np.float32)
        )
        return {"boxes": boxes.reshape(-1, 4), "scores": scores, "masks": masks}

    def instances(self, rgb: np.ndarray, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The people found, best score first: index, box [x0, y0, x1, y1], score, area (pixels ≥ 0.5)."""
        opts = self.check_options(options)
        found = self.detect(rgb, opts["threshold"], opts["view"])
        return describe(found, judge(found))

    def predict(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> Prediction:
        opts = self.check_options(options)
        progress("segment", 0.1)
        found = self.detect(rgb, opts["threshold"], opts["view"])
        progress("segment", 0.9)
        verdicts = judge(found)  # once: the selection and the instances' report both need them
        alpha, chosen = select(found["masks"], opts["selection"], rgb.shape[:2], verdicts)
        info = {"instances": describe(found, verdicts), "selected": chosen, "selection": opts["selection"]}
        progress("segment", 1.0)
        return Prediction(alpha=alpha, info=info)


def judge(found: dict[str, np.ndarray]) -> list[SubjectScore]:
    """Whether each instance is a subject, and why (:func:`models.subjects.score_subjects` on the boxes, the union
    of the soft masks as the matte)."""
    masks = found["masks"]
    return score_subjects(as_people(found["boxes"], found["scores"]), masks.shape[1:],
                          masks.max(axis=0) if len(masks) else None)


def describe(found: dict[str, np.ndarray], verdicts: list[SubjectScore]) -> list[dict[str, Any]]:
    """The instances: index, box, score, area (pixels ≥ 0.5), and whether each is a subject and why."""
    return [
        {
            "index": i,
            "box": [round(float(v), 1) for v in found["boxes"][i]],
            "score": round(float(found["scores"][i]), 4),
            "area": int((found["masks"][i] >= 0.5).sum()),
            **verdicts[i].describe(),
        }
        for i in range(len(found["scores"]))
    ]


def as_people(boxes: np.ndarray, scores: np.ndarray) -> list[Person]:
    return [Person(tuple(float(v) for v in box), float(score)) for box, score in zip(boxes, scores, strict=True)]


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """The box (x0, y0, x1, y1) of each mask's pixels ≥ 0.5 (zeros for an empty one)."""
    boxes = np.zeros((len(masks), 4), np.float32)
    for i, mask in enumerate(masks >= 0.5):
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        if len(rows):
            boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes


def select(masks: np.ndarray, selection: Any, shape: tuple[int, int],
           verdicts: list[SubjectScore] | None = None) -> tuple[np.ndarray, list[int]]:
    """The alpha for a selection among soft instance masks (N×H×W); returns (alpha, chosen indices).

    ``subjects``: the soft union of the subjects, by ``verdicts`` (:func:`judge`; without them, judged on the
    masks' own boxes);
    ``all``: pixelwise maximum (a soft union that never exceeds 1); ``largest``: the mask with the
    most pixels ≥ 0.5; ``k``: that instance; ``[x, y]``: the instance with the highest probability
    at that pixel; :class:`OptionError` when none is ≥ 0.5 there.
    """
    if isinstance(selection, (list, tuple)):  # a point: somebody must stand there, even among no detections
        x, y = (int(round(v)) for v in selection)
        if not (0 <= y < shape[0] and 0 <= x < shape[1]):
            raise OptionError(f"point ({x}, {y}) lies outside the {shape[1]}×{shape[0]} photo")
        there = masks[:, y, x]
        if not len(there) or there.max() < 0.5:
            found = f"{len(masks)} found elsewhere" if len(masks) else "none found in the photo"
            raise OptionError(f"nobody stands at ({x}, {y}) ({found}); put the point on a person, "
                              "or choose 'largest' or 'all'")
        k = int(np.argmax(there))
    elif len(masks) == 0:
        return np.zeros(shape, np.float32), []
    elif selection == "all":
        return masks.max(axis=0).astype(np.float32), list(range(len(masks)))
    elif selection == "subjects":
        if verdicts is None:
            verdicts = judge({"boxes": mask_boxes(masks), "scores": np.ones(len(masks), np.float32), "masks": masks})
        chosen = subject_indices(verdicts)
        return masks[chosen].max(axis=0).astype(np.float32), chosen
    elif selection == "largest":
        k = int(np.argmax((masks >= 0.5).reshape(len(masks), -1).sum(axis=1)))
    else:
        if not 0 <= selection < len(masks):
            raise OptionError(f"instance {selection} does not exist; {len(masks)} found")
        k = selection
    return masks[k].astype(np.float32), [k]
