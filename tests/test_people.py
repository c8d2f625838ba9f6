"""``people``, the default: each person found and matted on a crop, one person chosen, no stray soft alpha.

The astronaut tests need only the installed weights (rvm, centernet); the side-by-side test reads
../shared/data/persons-dev. The clean-up's own tests need no weights.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
from PIL import Image

from models.base import OptionError
from models.mask_cleanup import CORE_ALPHA, CORE_REACH, EDGE_BAND_INSIDE, EDGE_BAND_OUTSIDE, decide_stray_soft_alpha
from models.person_crops import MIN_GAIN, crop_gain, feather_weights, merge_crop, ownership
from models.persons import Person
from server.commands.cutout import parse_person_argument
from server.evaluation import metrics
from tests.conftest import REPO_ROOT
from tests.test_persons import two_people_side_by_side

ASTRONAUT = REPO_ROOT / "tests" / "data" / "astronaut.png"


def astronaut() -> np.ndarray:
    return np.asarray(Image.open(ASTRONAUT).convert("RGB"))


def astronaut_and_small_copy() -> tuple[np.ndarray, tuple[int, int, int, int], tuple[int, int, int, int]]:
    """The astronaut and a half-size copy of her to the right, on a plain wall; (photo, big rect, small rect)."""
    rgb = astronaut()
    small = cv2.resize(rgb, (256, 256), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512 + 64 + 256, 3), rgb[:40, 250:300].reshape(-1, 3).mean(0).astype(np.uint8))
    canvas[:, :512] = rgb
    canvas[256:, 576:] = small
    return canvas, (0, 0, 512, 512), (576, 256, 832, 512)


def share_inside(alpha: np.ndarray, rect: tuple[int, int, int, int]) -> float:
    """The share of the mask's person pixels (≥ 0.5) inside ``rect``."""
    x0, y0, x1, y1 = rect
    person = alpha >= 0.5
    return float(person[y0:y1, x0:x1].sum()) / max(1, int(person.sum()))


# --------------------------------------------------------------------------- choosing a person


def test_largest_of_two_real_photos_side_by_side_is_the_larger_person(people, persons_dev):
    """persons-dev 126 and 192 side by side: ``largest`` keeps the person whose true mask is larger, alone."""
    rgb, first, second = two_people_side_by_side(persons_dev)
    masks = []
    for stem in ("126", "192"):
        mask = np.asarray(Image.open(persons_dev / "masks" / f"{stem}.png").convert("L")) > 127
        masks.append(mask.sum() * (480 / mask.shape[0]) ** 2)  # true person pixels at the height they are shown
    larger, smaller = (second, first) if masks[1] > masks[0] else (first, second)
    every = people.predict(rgb, {"person": "all"})
    assert share_inside(every.alpha, larger) > 0.2 and share_inside(every.alpha, smaller) > 0.2  # both are found
    largest = people.predict(rgb, {"person": "largest"})
    print(largest.info["people"], largest.info["selected"])
    assert share_inside(largest.alpha, larger) > 0.95
    x0, y0, x1, y1 = smaller
    assert (largest.alpha[y0:y1, x0:x1] >= 0.5).mean() < 0.01


def test_largest_and_a_point_on_the_astronaut_beside_a_half_size_copy(people):
    rgb, big, small = astronaut_and_small_copy()
    largest = people.predict(rgb, {"person": "largest"}).alpha
    assert share_inside(largest, big) > 0.98
    x, y = (small[0] + small[2]) / 2, small[1] + 0.75 * (small[3] - small[1])  # the copy's orange suit
    at_point = people.predict(rgb, {"person": [x, y]}).alpha
    assert at_point[round(y), round(x)] >= 0.5
    assert share_inside(at_point, small) > 0.95
    assert (largest >= 0.5).sum() > 2 * (at_point >= 0.5).sum()


def test_a_point_on_nobody_is_refused(people):
    rgb = astronaut()
    with pytest.raises(OptionError, match=r"nobody stands at \(500, 20\)"):
        people.predict(rgb, {"person": [500, 20]})  # the wall above the shuttle
    with pytest.raises(OptionError, match="outside"):
        people.predict(rgb, {"person": [600, 20]})
    with pytest.raises(OptionError, match="person"):
        people.predict(rgb, {"person": "tallest"})


def test_cli_person_point_on_nobody_fails_and_writes_nothing(people, tmp_path):
    target = tmp_path / "cut.png"
    result = subprocess.run([sys.executable, "-m", "server", "cutout", str(ASTRONAUT), "-o", str(target),
                             "--segmenter", "people", "--person", "500,20"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "nobody stands at (500, 20)" in result.stderr
    assert not target.exists()


def test_cli_person_argument():
    assert parse_person_argument("all") == "all" and parse_person_argument("largest") == "largest"
    assert parse_person_argument("12,34.5") == [12.0, 34.5]
    for wrong in ("12", "a,b", "1,2,3", "everyone"):
        with pytest.raises(ValueError, match="--person"):
            parse_person_argument(wrong)


def test_instances_op_answers_for_the_default(people):
    """``instances`` with no segmenter named lists the default's people (no Mask R-CNN download)."""
    from cutout_common.client import Client
    from models import registry
    from server.transport.service import Server, ServerConfig

    assert registry.resolve(None) == "people"
    rgb, big, small = astronaut_and_small_copy()
    server = Server(ServerConfig(endpoint="tcp://127.0.0.1:*"))
    endpoint = server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Client(endpoint, deadline=600) as client:
            reply = client.image_request("instances", rgb.tobytes(), rgb.shape[1], rgb.shape[0], "RGB8")
    finally:
        server.stop()
        thread.join(10)
    listed = reply.header["instances"]
    print(listed)
    assert len(listed) == 2 and {"index", "box", "score", "area"} <= set(listed[0])
    by_area = sorted(listed, key=lambda p: p["area"], reverse=True)
    assert by_area[0]["box"][2] <= big[2] + 8 and by_area[1]["box"][0] >= small[0] - 8  # the big one is hers


# --------------------------------------------------------------------------- the default on the astronaut


def test_the_default_keeps_the_astronaut_and_decides_the_background(people):
    rgb = astronaut()
    alpha = people.predict(rgb).alpha
    assert alpha[300:500, 40:270].mean() > 0.95 and alpha[60:120, 170:280].mean() > 0.95  # suit, face
    for corner in (alpha[:60, :60], alpha[:60, -60:], alpha[:100, 400:]):  # flag, wall, the shuttle's wall
        assert corner.max() == 0.0
    # soft alpha only near her own outline; rvm alone leaves grey on the helmet she holds and the table
    raw = people.predict(rgb, {"crops": False, "decide": False}).alpha
    assert metrics.stray_soft_alpha(raw, raw >= 0.5) > 0.002
    assert metrics.stray_soft_alpha(alpha, alpha >= 0.5) == 0.0


def test_no_two_photo_sized_steps_of_the_default_run_without_a_report_between(people, monkeypatch):
    """A cancel is read where progress is reported. Between two reports at most one of the default's networks or
    photo-sized steps (a crop's merge, the join, the choice of people, the decided alpha: up to a second each at
    12 MP on 2 cores) begins, so a cancel waits for one step at most, never for two back to back."""
    import models.people as people_module

    events: list[str] = []

    def step(name: str, function):
        def recorded(*args, **kwargs):
            events.append(name)
            return function(*args, **kwargs)

        return recorded

    for name in ("merge_crop", "join_objects", "decide_stray_soft_alpha"):
        monkeypatch.setattr(people_module, name, step(name, getattr(people_module, name)))
    monkeypatch.setattr(people_module.Scene, "select", step("select", people_module.Scene.select))
    monkeypatch.setattr(people.matting, "predict_matte", step("rvm", people.matting.predict_matte))
    monkeypatch.setattr(people.detector, "detect", step("detect", people.detector.detect))
    monkeypatch.setattr(people.objects, "predict", step("modnet", people.objects.predict))

    prediction = people.predict(astronaut_and_small_copy()[0], None, lambda stage, f: events.append("report"))
    assert [p["cropped"] for p in prediction.info["people"]] == [True, True] and prediction.info["objects"]
    steps = [e for e in events if e != "report"]
    assert steps == ["rvm", "detect", "rvm", "merge_crop", "rvm", "merge_crop", "modnet", "join_objects", "select",
                     "decide_stray_soft_alpha"]
    between_reports = [stretch.split() for stretch in " ".join(events).split("report")]
    assert [stretch for stretch in between_reports if len(stretch) > 1] == []


def test_without_colours_the_matte_is_the_same(people):
    """A layer mask needs no colours: ``rvm`` and the default leave them out and give the same alpha, to the bit
    (the guided filter brings each plane to full size on its own)."""
    rgb = cv2.resize(astronaut(), (720, 720), interpolation=cv2.INTER_LINEAR)  # larger than rvm's view: upsampled
    for segmenter in (people.matting, people):
        whole, bare = segmenter.predict(rgb), segmenter.predict_without_colours(rgb)
        assert whole.foreground is not None and whole.foreground.shape == (720, 720, 3)
        assert bare.foreground is None and np.array_equal(whole.alpha, bare.alpha)
    assert bare.info["people"] == whole.info["people"] and bare.info["objects"]


def test_the_defaults_evidence_for_hints_is_rvm_on_the_crop_at_its_full_view(people):
    """Hints ask the default for a crop's matte the way it mattes its people (``crop_matting``): ``rvm`` at its full
    view, without the colours nobody uses there."""
    from models.people import CROP_MATTING
    from server.pipeline.refine import segmenter_evidence

    crop = np.ascontiguousarray(astronaut()[280:480, 300:480])  # the helmet she holds
    alpha = segmenter_evidence(people)(crop)
    assert alpha.shape == crop.shape[:2]
    assert np.array_equal(alpha, people.matting.predict(crop, CROP_MATTING).alpha)


# --------------------------------------------------------------------------- the clean-up, on real and drawn mattes


def soft(alpha: np.ndarray) -> np.ndarray:
    return (alpha >= metrics.SOFT_RANGE[0]) & (alpha <= metrics.SOFT_RANGE[1])


def test_cleanup_leaves_no_soft_pixel_far_from_a_core(people):
    """On rvm's own matte of the astronaut: every soft pixel left is near a confident core and the outline."""
    raw = people.matting.predict(astronaut()).alpha
    assert soft(raw).sum() > 0
    out = decide_stray_soft_alpha(raw)
    kept = out >= 0.5
    count, labels, stats, _ = cv2.connectedComponentsWithStats(kept.astype(np.uint8), connectivity=8)
    size = math.sqrt(stats[1:, cv2.CC_STAT_AREA].max())
    core = kept & (raw >= CORE_ALPHA)
    to_core = cv2.distanceTransform((~core).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outline = metrics.contour(kept) | metrics.contour(~kept)
    to_outline = cv2.distanceTransform((~outline).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    left = soft(out)
    assert left.any()  # her hair and outline stay soft
    assert to_core[left].max() <= CORE_REACH * size + 1
    assert to_outline[left].max() <= max(EDGE_BAND_INSIDE, EDGE_BAND_OUTSIDE) * size + 1
    assert np.array_equal(out[left], raw[left])  # soft values kept are the network's own
    assert set(np.unique(out[out != raw])) <= {0.0, 1.0}  # everything else is decided
    # thresholded, only dropped regions change: what is person stays person
    assert not (kept & (raw < 0.5)).any()


def test_cleanup_drops_mush_and_islands_and_keeps_the_outline():
    """A drawn person (confident disc with a soft rim), a grey smear far away and a half-kept blob without a core."""
    size = 400
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    radius = np.hypot(xx - 150, yy - 200)
    alpha = np.clip((100 - radius) / 8 + 0.5, 0, 1)  # a person: 1 inside, a soft ramp 8 px wide at r = 100
    alpha[20:60, 300:380] = 0.3  # a grey smear far from anyone
    alpha[300:340, 320:380] = 0.7  # an object half-kept as mush: ≥ 0.5 but never confident
    out = decide_stray_soft_alpha(alpha)
    assert out[20:60, 300:380].max() == 0.0 and out[300:340, 320:380].max() == 0.0
    rim = (radius > 97) & (radius < 103)
    assert np.array_equal(out[rim], alpha[rim]) and soft(out[rim]).any()  # the soft edge is kept as it was
    assert (out[radius < 80] == 1.0).all() and (out[radius > 130] == 0.0).all()


def test_cleanup_band_follows_the_persons_size():
    """The same soft ramp on a large and a small person: kept on the large one, narrowed on the small one."""
    def person(radius_px: float) -> tuple[np.ndarray, np.ndarray]:
        yy, xx = np.mgrid[:600, :600].astype(np.float32)
        radius = np.hypot(xx - 300, yy - 300)
        return np.clip((radius_px - radius) / 24 + 0.5, 0, 1), radius

    large, large_r = person(250)
    small, small_r = person(30)
    # 4-6 px beyond the outline: within the large person's band (0.04 × √area ≈ 18 px), beyond the small one's (2 px)
    far_out_large = (large_r > 250 + 4) & (large_r < 250 + 6)
    far_out_small = (small_r > 30 + 4) & (small_r < 30 + 6)
    assert soft(large[far_out_large]).all() and soft(small[far_out_small]).all()
    assert np.array_equal(decide_stray_soft_alpha(large)[far_out_large], large[far_out_large])
    assert decide_stray_soft_alpha(small)[far_out_small].max() == 0.0


# --------------------------------------------------------------------------- crops and ownership


def test_feather_weights_fade_only_at_edges_inside_the_photo():
    inner = feather_weights((10, 10, 110, 60), (200, 200))
    assert inner[0, 50] < 0.1 and inner[25, 0] < 0.1 and inner[25, 50] == 1.0
    at_border = feather_weights((0, 0, 100, 50), (50, 100))
    assert (at_border == 1.0).all()


def test_merge_crop_takes_the_larger_alpha_and_its_colours():
    alpha = np.full((100, 100), 0.2, np.float32)
    colours = np.zeros((100, 100, 3), np.float32)
    crop_alpha = np.zeros((60, 60), np.float32)
    crop_alpha[20:40, 20:40] = 1.0
    merge_crop(alpha, colours, (20, 20, 80, 80), crop_alpha, np.ones((60, 60, 3), np.float32))
    assert alpha[50, 50] == pytest.approx(1.0) and colours[50, 50].min() == pytest.approx(1.0)
    assert alpha[25, 25] == pytest.approx(0.2) and alpha[5, 5] == pytest.approx(0.2)  # never lowered


def test_ownership_splits_overlapping_people_by_their_boxes():
    adult = Person((100.0, 0.0, 300.0, 400.0), 0.9)
    child = Person((220.0, 250.0, 300.0, 400.0), 0.8)
    owner = ownership([adult, child], (400, 500))
    assert owner[325, 260] == 1 and owner[100, 200] == 0 and owner[200, 480] == -1


def test_a_crop_as_large_as_the_photo_is_not_matted_again():
    """The gain is how much larger the network sees the crop than the whole pass: 1 for the whole photo
    (skipped), the zoom for a small person, and for a photo smaller than the view the enlargement."""
    whole_photo = crop_gain((0, 0, 1000, 800), (800, 1000, 3), 448)
    assert whole_photo == pytest.approx(1.0) and whole_photo < MIN_GAIN
    assert crop_gain((100, 100, 350, 300), (800, 1000, 3), 448) == pytest.approx(4.0)
    small_photo = crop_gain((0, 0, 300, 200), (200, 300, 3), 448)
    assert small_photo == pytest.approx(448 / 300) and small_photo > MIN_GAIN
