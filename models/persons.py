"""Find the people in a photo: boxes (and scores) from CenterNet-MobileNetV3 (COCO person class).

Used to crop each person and matte the crop at full detail, and to choose one person
(``largest``, a point) with any segmenter. Chosen on persons-dev against MoveNet MultiPose,
NanoDet and BlazePose's detector because it finds the most people there, small ones in group
photos included (README, *People first*).

The photo is resized so its long side is ``size`` (default :data:`DEFAULT_SIZE`) and
padded to multiples of 32 (bottom and right, black) — not stretched to 512×512 as in
the library it comes from, and no pixels spent on padding to a square. The network
gives a person heatmap and box sides at 1/4 of that; every local maximum (3×3) above
``min_score`` is a person, and overlapping boxes are suppressed (:func:`suppress`, the greedy
non-maximum suppression of ``torchvision.ops.nms`` in numpy: importing torchvision's ops pulls in
torch's compiler stack, seconds of a cold start). A photo much larger than the view is also looked
at in overlapping tiles (:func:`tile_grid`), so people far smaller than the view are still found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .base import WeightedModel
from .centernet_net import INPUT_MULTIPLE, OUTPUT_STRIDE, CenterNet

#: long side of the network's view: smaller views lose small people (README, *People first*)
DEFAULT_SIZE = 512
#: a heatmap peak at or above this is a person; lower, the extra boxes are mostly signs, doors and cars
DEFAULT_MIN_SCORE = 0.25
#: boxes overlapping a better one by more than this IoU are the same person
NMS_IOU = 0.5
#: tiles are added when the photo's long side exceeds this many views
TILE_ABOVE = 2.0
#: a tile's side, as a share of the photo's long side: 2×2 tiles for most photos, each seen 1.7× larger than the whole
TILE_SIDE = 0.6
#: tiles overlap by at least this share of their side, so a person cut by one tile is whole in the next
TILE_OVERLAP = 0.25
#: a box from a tile that ends within this many network pixels of an inner tile edge was cut by it
EDGE_MARGIN = 2.0


@dataclass(frozen=True)
class Person:
    """One person found: ``box`` (x0, y0, x1, y1) in photo pixels, ``score`` in [0, 1].

    ``keypoints`` (K×3: x, y, score) is None for CenterNet, which finds boxes only.
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def contains(self, x: float, y: float) -> bool:
        return self.box[0] <= x <= self.box[2] and self.box[1] <= y <= self.box[3]

    def padded(self, margin: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """Integer crop (x0, y0, x1, y1) grown by ``margin`` × the box's size on each side, inside a photo of
        ``shape``."""
        dx, dy = margin * self.width, margin * self.height
        height, width = shape[:2]
        return (max(0, math.floor(self.box[0] - dx)), max(0, math.floor(self.box[1] - dy)),
                min(width, math.ceil(self.box[2] + dx)), min(height, math.ceil(self.box[3] + dy)))


class PersonDetector(WeightedModel):
    """The people in a photo, as boxes: CenterNet's person class (weights and loading as the segmenters')."""

    name = "centernet"
    network = CenterNet

    def prepare(self, net: torch.nn.Module) -> torch.nn.Module:
        return net.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def heads(self, view: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(person heatmap h×w, box sides h×w×4 in view pixels) for a padded view (H×W×3 uint8, sides multiples
        of 32)."""
        tensor = torch.from_numpy(np.ascontiguousarray(view)).to(self.device).permute(2, 0, 1)[None].float()
        heat, sides = self.net(tensor.contiguous(memory_format=torch.channels_last))
        return heat[0, 0].float().cpu().numpy(), sides[0].permute(1, 2, 0).float().cpu().numpy()

    def candidates(self, rgb: np.ndarray, size: int = DEFAULT_SIZE, min_score: float = DEFAULT_MIN_SCORE) -> np.ndarray:
        """Boxes before suppression (N×5: x0, y0, x1, y1, score in photo pixels) from one view of ``rgb``."""
        view, scale = network_view(rgb, size)
        boxes = decode(*self.heads(view), min_score)
        boxes[:, :4] /= scale
        return boxes

    def detect(self, rgb: np.ndarray, size: int = DEFAULT_SIZE, min_score: float = DEFAULT_MIN_SCORE,
               tiles: bool = True) -> list[Person]:
        """The people in ``rgb`` (H×W×3 uint8), best score first."""
        return to_people(suppress(self.all_candidates(rgb, size, min_score, tiles), NMS_IOU), rgb.shape[:2])

    def all_candidates(self, rgb: np.ndarray, size: int, min_score: float, tiles: bool) -> np.ndarray:
        """Boxes (N×5, photo pixels) of the whole view and, for a large photo, of its tiles, before suppression.

        A box a tile cut off at one of its inner edges is dropped: the person is whole in the
        neighbouring tile (they overlap) or in the whole view.
        """
        height, width = rgb.shape[:2]
        boxes = [self.candidates(rgb, size, min_score)]
        for x0, y0, x1, y1 in tile_grid(height, width, size) if tiles else []:
            found = self.candidates(rgb[y0:y1, x0:x1], size, min_score)
            margin = EDGE_MARGIN * max(x1 - x0, y1 - y0) / size  # network pixels → photo pixels
            found = found[~cut_by_tile(found, (x0, y0, x1, y1), (width, height), margin)]
            boxes.append(found + np.array([x0, y0, x0, y0, 0], np.float32))
        return np.concatenate(boxes)


def network_view(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """``rgb`` resized so its long side is ``size``, padded with black to multiples of 32; (view, scale)."""
    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    # area averaging when shrinking (no aliasing of small people), bilinear when enlarging
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    view = np.zeros(
        (-(-new_h // INPUT_MULTIPLE) * INPUT_MULTIPLE, -(-new_w // INPUT_MULTIPLE) * INPUT_MULTIPLE, 3), np.uint8
    )
    view[:new_h, :new_w] = resized
    return view, scale


def decode(heat: np.ndarray, sides: np.ndarray, min_score: float) -> np.ndarray:
    """Heatmap peaks (3×3 local maxima) ≥ ``min_score`` as boxes N×5 (x0, y0, x1, y1, score) in view pixels.

    As the source graph: a peak at cell (i, j) sits at (4j, 4i) in the view, and the box
    spans ``sides`` (left, top, right, bottom) around it. Unlike the graph, no limit of 100.
    """
    heat_t = torch.from_numpy(heat)[None, None]
    peaks = (torch.nn.functional.max_pool2d(heat_t, 3, 1, 1) == heat_t)[0, 0].numpy() & (heat >= min_score)
    rows, cols = np.nonzero(peaks)
    x, y, d = cols * OUTPUT_STRIDE, rows * OUTPUT_STRIDE, sides[rows, cols]
    return np.stack([x - d[:, 0], y - d[:, 1], x + d[:, 2], y + d[:, 3], heat[rows, cols]], 1).astype(np.float32)


def suppress(boxes: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Boxes (N×5) kept by greedy non-maximum suppression, best score first: each box, best first, drops the
    later ones that overlap it by more than ``iou`` (intersection over union), computed in float32 as
    ``torchvision.ops.nms`` does, so the same boxes are kept."""
    if not len(boxes):
        return boxes.reshape(0, 5)
    x0, y0, x1, y1, scores = np.asarray(boxes, np.float32).T
    areas = (x1 - x0) * (y1 - y0)
    order = np.argsort(-scores, kind="stable")
    dropped = np.zeros(len(boxes), bool)
    keep = []
    for position, best in enumerate(order):
        if dropped[best]:
            continue
        keep.append(best)
        rest = order[position + 1:]
        width = np.maximum(np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]), np.float32(0))
        height = np.maximum(np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]), np.float32(0))
        inter = width * height
        dropped[rest[inter / (areas[best] + areas[rest] - inter) > iou]] = True
    return boxes[np.array(keep)]


def tile_grid(
    height: int, width: int, size: int, above: float = TILE_ABOVE, overlap: float = TILE_OVERLAP
) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles (x0, y0, x1, y1), squares of :data:`TILE_SIDE` × the photo's long side (cut by its short side).

    None when the photo's long side is at most ``above`` × ``size``: there the whole view
    already keeps people large enough. Tiles are spread evenly, overlapping by at least
    ``overlap`` of their side.
    """
    if max(height, width) <= above * size:
        return []
    side = TILE_SIDE * max(height, width)

    def spans(length: int) -> list[tuple[int, int]]:
        if length <= side * (
            1 + overlap / 2
        ):  # one tile across, a little longer, rather than two overlapping most of the way
            return [(0, length)]
        count = math.ceil((length - side * overlap) / (side * (1 - overlap)) - 1e-9)
        starts = [round(i * (length - side) / (count - 1)) for i in range(count)]
        return [(start, min(length, start + round(side))) for start in starts]

    return [(x0, y0, x1, y1) for y0, y1 in spans(height) for x0, x1 in spans(width)]


def cut_by_tile(
    boxes: np.ndarray, tile: tuple[int, int, int, int], photo: tuple[int, int], margin: float
) -> np.ndarray:
    """Which boxes (in tile pixels) reach an edge of the tile that is not an edge of the photo: they are partial."""
    x0, y0, x1, y1 = tile
    width, height = photo
    cut = np.zeros(len(boxes), bool)
    if x0 > 0:
        cut |= boxes[:, 0] <= margin
    if y0 > 0:
        cut |= boxes[:, 1] <= margin
    if x1 < width:
        cut |= boxes[:, 2] >= (x1 - x0) - margin
    if y1 < height:
        cut |= boxes[:, 3] >= (y1 - y0) - margin
    return cut


def to_people(boxes: np.ndarray, shape: tuple[int, int]) -> list[Person]:
    """Boxes N×5 clipped to the photo, empty ones dropped, as :class:`Person`, best score first."""
    height, width = shape
    people = []
    for x0, y0, x1, y1, score in boxes[np.argsort(-boxes[:, 4], kind="stable")]:
        box = (
            float(np.clip(x0, 0, width)),
            float(np.clip(y0, 0, height)),
            float(np.clip(x1, 0, width)),
            float(np.clip(y1, 0, height)),
        )
        if box[2] > box[0] and box[3] > box[1]:
            people.append(Person(box, float(score)))
    return people


def detect_people(rgb: np.ndarray, detector: PersonDetector | None = None, **options) -> list[Person]:
    """The people in ``rgb``, best score first; loads a :class:`PersonDetector` from the installed weights if none
    is given."""
    if detector is None:
        from .paths import weights_dir

        detector = PersonDetector(weights_dir())
        detector.load()
    return detector.detect(rgb, **options)
