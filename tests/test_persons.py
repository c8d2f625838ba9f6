"""The person detector: the torch port against the TF.js runtime, people found in real photos, converter, geometry.

The astronaut tests need only the installed weights; the others read ../shared/data/persons-dev.
"""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from models.install.centernet import ConversionError, state_dict_from_tfjs
from models.persons import (
    DEFAULT_MIN_SCORE,
    NMS_IOU,
    Person,
    PersonDetector,
    cut_by_tile,
    decode,
    network_view,
    suppress,
    tile_grid,
)
from tests.conftest import REPO_ROOT, installed, load_pair, stems, tfjs_graph

ASTRONAUT = REPO_ROOT / "tests" / "data" / "astronaut.png"


@pytest.fixture(scope="module")
def detector(weights):
    return installed(PersonDetector(weights, "cpu"))


@pytest.fixture(scope="module")
def sources(weights):
    return tfjs_graph(weights, "centernet")


def astronaut() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(ASTRONAUT)), cv2.COLOR_BGR2RGB)


def box_iou(a, b) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# --------------------------------------------------------------------------- the port against the original


def square_view(rgb: np.ndarray) -> np.ndarray:
    """The 512×512 view the source graph takes: :func:`network_view`, padded on to a square."""
    view, _ = network_view(rgb, 512)
    square = np.zeros((512, 512, 3), np.uint8)
    square[: view.shape[0], : view.shape[1]] = view
    return square


@pytest.mark.network_runtime
def test_port_matches_the_tfjs_runtime(detector, sources, persons_dev, tfjs_runtime, tmp_path_factory):
    """Heatmap and box sides as the TF.js graph run by TF.js (wasm); the people decoded from them as the graph's own
    decoding."""
    from server.bench.references.tfjs_centernet import run_centernet

    runtime = tfjs_runtime
    views = {"astronaut": square_view(astronaut())}
    for stem in ("241", "237", "272", "79"):  # a street group, a family, three on a sofa, a portrait
        views[stem] = square_view(load_pair(persons_dev, stem)[0])
    reference = run_centernet(runtime, sources / "centernet.json", views, tmp_path_factory.mktemp("tfjs-out"))
    compared = 0
    for name, view in views.items():
        heat, sides = detector.heads(view)
        ref = reference[name]
        heat_diff = float(np.abs(heat - ref.heatmap[..., 0]).max())
        sides_diff = float(np.abs(sides - ref.sides).max())
        # the graph's decoding: 100 best peaks of all 80 classes; keep its persons above the threshold
        theirs = ref.detections[(ref.detections[:, 5] == 0) & (ref.detections[:, 4] >= DEFAULT_MIN_SCORE)][:, :5]
        theirs = suppress(np.ascontiguousarray(theirs), NMS_IOU)
        ours = suppress(decode(heat, sides, DEFAULT_MIN_SCORE), NMS_IOU)
        print(
            f"{name}: max |Δheatmap| {heat_diff:.1e}, max |Δsides| {sides_diff:.3f} px, "
            f"people {len(ours)} / {len(theirs)}"
        )
        assert heat_diff < 1e-3 and sides_diff < 0.1
        assert len(ours) == len(theirs)
        for mine, their in zip(ours, theirs, strict=True):  # both best score first
            assert box_iou(mine, their) > 0.95 and abs(mine[4] - their[4]) < 0.01
        compared += len(ours)
    assert compared >= 8  # the photos hold people, so the comparison compared boxes


# --------------------------------------------------------------------------- people in real photos


def test_astronaut_is_one_person(detector):
    """The bundled photo: one person, whose box holds her helmet and shoulders (the left two-thirds of the picture)."""
    rgb = astronaut()
    people = detector.detect(rgb)
    print([(p.box, round(p.score, 3)) for p in people])
    assert len(people) == 1
    person = people[0]
    height, width = rgb.shape[:2]
    assert person.contains(0.35 * width, 0.2 * height) and person.contains(0.3 * width, 0.8 * height)  # helmet, suit
    assert person.box[2] < 0.85 * width and person.area > 0.3 * width * height


def test_tiles_find_a_small_person_in_a_large_photo(detector):
    """The astronaut at 1/12 of the width of a wide photo: the tiles see her at a larger scale than the whole view."""
    person = cv2.resize(astronaut(), (192, 192), interpolation=cv2.INTER_AREA)
    canvas = np.full((1600, 2400, 3), 128, np.uint8)
    x0, y0 = 1500, 700
    canvas[y0 : y0 + 192, x0 : x0 + 192] = person
    assert tile_grid(*canvas.shape[:2], 512)
    found = detector.detect(canvas)
    assert len(found) == 1 and box_iou(found[0].box, (x0, y0, x0 + 192, y0 + 192)) > 0.3
    assert found[0].score > max([p.score for p in detector.detect(canvas, tiles=False)], default=0.0)


def two_people_side_by_side(persons_dev) -> tuple[np.ndarray, tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Two real photos of one person each, at the same height, side by side; each person's true box (from the masks)."""
    halves, boxes, offset = [], [], 0
    for stem in ("126", "192"):  # one person each: a man in a tiled hall, a woman close up
        rgb, mask = load_pair(persons_dev, stem)
        scale = 480 / rgb.shape[0]
        size = (round(rgb.shape[1] * scale), 480)
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        ys, xs = np.nonzero(mask)
        boxes.append((offset + xs.min(), ys.min(), offset + xs.max() + 1, ys.max() + 1))
        halves.append(rgb)
        offset += size[0]
    return np.hstack(halves), boxes[0], boxes[1]


def test_two_photos_side_by_side_are_two_people_the_larger_larger(detector, persons_dev):
    rgb, first, second = two_people_side_by_side(persons_dev)
    people = detector.detect(rgb)
    print([(tuple(round(v) for v in p.box), round(p.score, 3)) for p in people], first, second)
    assert len(people) == 2
    by_x = sorted(people, key=lambda p: p.box[0])
    assert box_iou(by_x[0].box, first) > 0.6 and box_iou(by_x[1].box, second) > 0.6
    true_larger = int((second[2] - second[0]) * (second[3] - second[1]) > (first[2] - first[0]) * (first[3] - first[1]))
    assert max(people, key=lambda p: p.area) is by_x[true_larger]


def test_people_of_persons_dev_are_found(detector, persons_dev):
    """Every blob of the masks (≥ 0.1 % of the photo; touching people make one) at least 70 % inside the boxes found.

    The masks have no boxes and leave background people out, so only finding is measured here, not false boxes.
    """
    found, total, small_found, small_total = 0, 0, 0, 0
    for stem in stems(persons_dev):
        rgb, mask = load_pair(persons_dev, stem)
        covered = np.zeros(mask.shape, bool)
        for person in detector.detect(rgb):
            x0, y0, x1, y1 = person.padded(0.0, mask.shape)
            covered[y0:y1, x0:x1] = True
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
        for label in range(1, count):
            area = stats[label, cv2.CC_STAT_AREA]
            if area >= 0.001 * mask.size:
                hit = covered[labels == label].mean() >= 0.7
                found, total = found + hit, total + 1
                if area < 0.05 * mask.size:
                    small_found, small_total = small_found + hit, small_total + 1
    print(f"people found: {found}/{total}, of them under 5 % of the photo {small_found}/{small_total}")
    assert total >= 87 and small_total >= 5
    assert found >= 0.95 * total and small_found >= 0.8 * small_total


# --------------------------------------------------------------------------- converter


@pytest.fixture
def graph_copy(sources, tmp_path):
    shutil.copyfile(sources / "centernet.bin", tmp_path / "centernet.bin")
    return json.loads((sources / "centernet.json").read_text()), tmp_path


def write_graph(graph, folder):
    (folder / "centernet.json").write_text(json.dumps(graph))
    return folder / "centernet.json", folder / "centernet.bin"


def test_converter_gives_the_installed_weights(detector, sources):
    import torch

    state = state_dict_from_tfjs(sources / "centernet.json", sources / "centernet.bin")
    loaded = detector.net.state_dict()
    assert state.keys() == loaded.keys()
    assert all(torch.equal(state[key], loaded[key].to(state[key].device)) for key in state)


def test_converter_refuses_a_renamed_layer(graph_copy):
    graph, folder = graph_copy
    text = json.dumps(graph).replace("expanded_conv_7/expand/Conv2D_weights", "expanded_conv_7/expand/Other_weights")
    with pytest.raises(ConversionError, match="no layer"):
        state_dict_from_tfjs(*write_graph(json.loads(text), folder))


def test_converter_refuses_a_different_activation(graph_copy):
    graph, folder = graph_copy
    node = next(
        n for n in graph["modelTopology"]["node"] if n["name"] == "tower_0/MobilenetV3/expanded_conv_1/expand/Relu"
    )
    node["attr"]["fused_ops"]["list"]["s"] = [s for s in node["attr"]["fused_ops"]["list"]["s"][:1]]  # BiasAdd only
    with pytest.raises(ConversionError, match="activation"):
        state_dict_from_tfjs(*write_graph(graph, folder))


def test_converter_refuses_a_different_resize(graph_copy):
    graph, folder = graph_copy
    node = next(n for n in graph["modelTopology"]["node"] if n["op"] == "ResizeBilinear")
    node["attr"]["half_pixel_centers"] = {"b": True}
    with pytest.raises(ConversionError, match="legacy bilinear"):
        state_dict_from_tfjs(*write_graph(graph, folder))


def test_converter_refuses_a_truncated_binary(graph_copy):
    graph, folder = graph_copy
    data = (folder / "centernet.bin").read_bytes()
    (folder / "centernet.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match="truncated"):
        state_dict_from_tfjs(*write_graph(graph, folder))


# --------------------------------------------------------------------------- geometry (no weights needed)


def test_network_view_keeps_the_aspect_and_pads_to_multiples_of_32():
    rgb = np.full((300, 500, 3), 200, np.uint8)
    view, scale = network_view(rgb, 512)
    assert view.shape == (320, 512, 3) and scale == pytest.approx(512 / 500)
    assert view[:307].min() == 200 and view[307:].max() == 0  # photo on top, black padding below


def test_decode_puts_boxes_around_heatmap_peaks():
    heat = np.zeros((32, 48), np.float32)
    heat[10, 20], heat[10, 21] = 0.9, 0.5  # a peak and a weaker neighbour: one person
    heat[25, 5] = 0.4
    heat[2, 40] = 0.1  # below the threshold
    sides = np.zeros((32, 48, 4), np.float32)
    sides[10, 20] = (8, 30, 10, 50)
    sides[25, 5] = (4, 4, 4, 4)
    boxes = decode(heat, sides, 0.3)
    boxes = boxes[np.argsort(-boxes[:, 4])]
    np.testing.assert_allclose(
        boxes, [[80 - 8, 40 - 30, 80 + 10, 40 + 50, 0.9], [20 - 4, 100 - 4, 20 + 4, 100 + 4, 0.4]], rtol=1e-6
    )


def test_suppress_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 20, 0.6], [1, 0, 11, 20, 0.9], [30, 0, 40, 20, 0.5]], np.float32)
    kept = suppress(boxes)
    assert kept[:, 4].tolist() == pytest.approx([0.9, 0.5])



def test_suppress_keeps_what_torchvision_kept_on_real_detections(detector, persons_dev):
    """The numpy suppression replaced ``torchvision.ops.nms`` (whose import pulls in torch's compiler stack): on the
    candidates of real photos, whole and tiled, and on crowded random boxes with tied scores, the same boxes."""
    import torch
    from torchvision.ops import nms

    def torchvision_kept(boxes: np.ndarray) -> np.ndarray:
        return boxes[nms(torch.from_numpy(boxes[:, :4]), torch.from_numpy(boxes[:, 4]), NMS_IOU).numpy()]

    rgb, _, _ = two_people_side_by_side(persons_dev)
    photos = [astronaut(), rgb, cv2.resize(rgb, (2400, 1200))] + [load_pair(persons_dev, s)[0] for s in ("241", "237")]
    crowded = 0
    for photo in photos:
        candidates = detector.all_candidates(photo, 512, 0.02, tiles=True)  # a low threshold: many overlapping boxes
        kept = suppress(candidates)
        crowded += len(candidates) - len(kept)
        np.testing.assert_array_equal(kept, torchvision_kept(candidates))
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 100, (300, 2)).astype(np.float32)
    random = np.concatenate([corners, corners + rng.uniform(5, 40, (300, 2)).astype(np.float32),
                             rng.choice([0.3, 0.5, 0.7], (300, 1)).astype(np.float32)], axis=1)
    np.testing.assert_array_equal(suppress(random), torchvision_kept(random))
    print(f"{crowded} real candidates suppressed")
    assert crowded > 100

def test_tiles_cover_a_large_photo_with_overlap_and_none_for_a_small_one():
    assert tile_grid(800, 1000, 512) == []
    tiles = tile_grid(3000, 4000, 512)
    covered = np.zeros((3000, 4000), np.uint8)
    for x0, y0, x1, y1 in tiles:
        covered[y0:y1, x0:x1] += 1
        assert max(x1 - x0, y1 - y0) < 0.65 * 4000  # each tile sees the photo at about twice the scale
    assert covered.min() >= 1 and (covered >= 2).mean() > 0.2


def test_boxes_cut_by_an_inner_tile_edge_are_dropped():
    tile, photo = (100, 0, 300, 200), (400, 200)  # inner edges left and right; top and bottom are the photo's
    boxes = np.array([[0.5, 50, 40, 150, 1], [50, 0, 90, 199.5, 1], [150, 50, 199.8, 150, 1]], np.float32)
    assert cut_by_tile(boxes, tile, photo, margin=2).tolist() == [True, False, True]


def test_person_geometry():
    person = Person((10.0, 20.0, 30.0, 60.0), 0.8)
    assert (person.width, person.height, person.area) == (20.0, 40.0, 800.0)
    assert person.contains(10, 60) and not person.contains(31, 30)
    assert person.padded(0.25, (50, 100)) == (5, 10, 35, 50)
