"""Comic layers, comic pages and Place in Panel in a real, headless GIMP 3 (see tests/gimp_harness.py).

Each scenario is one GIMP run of tests/gimp_comic_batch.py that calls the plug-in's procedures
through the PDB, as a script would; what GIMP made is measured here with numpy from the raw
pixels it wrote: layer trees, masks, the page's guides and borders, and what the page shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout_common import page_geometry
from tests.conftest import IN_CI
from tests.gimp_harness import no_server_start
from tests.test_comic import _spectrum_peak
from tests.test_gimp_plugin import REPO, gimp, home, server, workdir  # noqa: F401  (the same GIMP and server)

BATCH = REPO / "tests" / "gimp_comic_batch.py"
ASTRONAUT = REPO / "tests" / "data" / "astronaut.png"
PAGE = {"page-size": "b5", "dpi": "300", "layout": "3-tiers", "border": 1.0}
# the photo's comic layers at 150 dpi, tone at 30 lpi (not the default 60): a 5 px dot period in the
# photo; placed on the 300 dpi page they must be drawn again with a 300 / 30 = 10 px period
COMIC = {"style": "manga", "dpi": 150, "tone-lpi": 30.0}
pytestmark = pytest.mark.gimp


def run(gimp, home: Path, workdir: Path, name: str, gui: bool = False, **fields) -> dict:  # noqa: F811
    """Run gimp_comic_batch.py with one scenario; returns its report (raw pixels in workdir/name/)."""
    fields.setdefault("dump_dir", str(workdir / name))
    (workdir / name).mkdir(exist_ok=True)
    return gimp.scenario(BATCH, home, workdir, name, gui, **fields)


def rgba(entry: dict) -> np.ndarray:
    return np.fromfile(entry["file"], np.uint8).reshape(entry["height"], entry["width"], 4)


def mask(entry: dict) -> np.ndarray:
    return np.fromfile(entry["mask"]["file"], np.uint8).reshape(entry["height"], entry["width"])


def visible(state: dict) -> np.ndarray:
    return np.fromfile(state["visible"], np.uint8).reshape(state["height"], state["width"], 4)[..., :3]


def by_name(layers: list[dict]) -> dict[str, dict]:
    return {layer["name"]: layer for layer in layers}


def selfie_mask(endpoint: str, rgb: np.ndarray) -> np.ndarray:
    from cutout_common.client import Client

    height, width = rgb.shape[:2]
    with Client(endpoint, deadline=120) as client:
        reply = client.cutout(rgb.tobytes(), width, height, "RGB8", segmenter="selfie", options={"edges": "off"})
    return np.frombuffer(reply.frames["mask"], np.uint8).reshape(height, width)


def place_steps(server: str, fit: str = "fill", before: bool = False) -> list[dict]:  # noqa: F811
    """Comic Layers (manga, a fresh selfie cut-out) on the astronaut, a 3-tier page, the cut-out in panel 2."""
    place = {"run": "python-fu-person-cutout-place-in-panel", "on": "photo",
             "args": {"page": "$page", "panel": 2, "fit": fit, "endpoint": server}}
    if before:
        place["before"] = "page"
    return [
        {"run": "python-fu-person-cutout-comic-layers", "on": "photo",
         "args": {**COMIC, "segmenter": "selfie", "endpoint": server}},
        {"run": "python-fu-person-cutout-comic-page", "args": PAGE, "as": "page"},
        place,
    ]


@pytest.fixture(scope="module")
def placed(gimp, home, workdir, server) -> dict:  # noqa: F811
    report = run(gimp, home, workdir, "comic-place", input=str(ASTRONAUT), steps=place_steps(server))
    for step in report["steps"]:
        assert step["registered"], f"{step['run']} is not registered"
        assert step.get("success"), step.get("error")
    return report


def decided(mask8: np.ndarray) -> np.ndarray:
    """A mask as print needs it: inside from half (128) on."""
    return np.where(mask8 >= 128, 255, 0).astype(np.uint8)


def test_comic_layers_are_named_layers_in_a_group_masked_by_the_person(placed, server):  # noqa: F811
    photo = placed["images"]["photo"]
    group, original = photo["layers"]
    assert group["name"] == "Comic (manga)" and group["group"]
    assert [c["name"] for c in group["children"]] == ["Ink", "Tone", "Flat colour"]
    assert original["name"] == "Background" and original["mask"] is None, "the photo itself is left as it was"
    assert original["visible"], "a photo without a mask of its own is the background around the person: it stays"
    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    soft = selfie_mask(server, rgb)
    expected = decided(soft)  # ink is black or nothing along the outline: no soft edge unless asked for
    assert ((soft > 0) & (soft < 255)).any(), "the person's mask has a soft edge to decide"
    np.testing.assert_array_equal(mask(group), expected)
    layers = {c["name"]: rgba(c) for c in group["children"]}
    for name, pixels in layers.items():
        assert pixels.shape == (*rgb.shape[:2], 4), name
        assert not pixels[..., 3][expected == 0].any(), f"{name} paints outside the person"
    ink = layers["Ink"]
    strokes = ink[..., 3] > 200
    assert 0.01 < strokes.mean() < 0.5 and ink[..., :3][strokes].max() < 60, (
        "Ink: opaque dark strokes, mostly transparent"
    )
    assert (layers["Tone"][..., 3] > 200).any() and (layers["Flat colour"][..., 3][expected == 255] == 255).all()


def test_three_tier_page_has_three_panel_groups_with_borders_and_guides(placed):
    page = placed["images"]["page"]
    geometry = page_geometry.page("b5", 300)
    panels = page_geometry.layout(geometry, "3 tiers")
    assert (page["width"], page["height"]) == (geometry.width, geometry.height)
    assert page["resolution"] == pytest.approx([300, 300])
    guides = {
        "vertical": sorted(p for o, p in page["guides"] if o == "vertical"),
        "horizontal": sorted(p for o, p in page["guides"] if o == "horizontal"),
    }
    assert guides == geometry.guides()
    layers = by_name(page["layers"])
    assert [layer["name"] for layer in page["layers"]] == ["Panel 1", "Panel 2", "Panel 3", "Paper"]
    shown = visible(page)
    border = page_geometry.border_px(PAGE["border"], 300)
    for panel in panels:
        r = panel.rect
        group = layers[f"Panel {panel.order + 1}"]
        assert group["group"] and group["mask"] is not None
        assert json.loads(group["parasites"]["person-cutout-panel"])["order"] == panel.order
        line = by_name(group["children"])[f"Panel {panel.order + 1} border"]
        assert (line["offsets"], line["width"], line["height"]) == ([r.x, r.y], r.width, r.height)
        stroke = rgba(line)[..., 3] > 127
        assert (
            stroke[:border].all() and stroke[-border:].all() and stroke[:, :border].all() and stroke[:, -border:].all()
        )
        assert not stroke[border + 1 : -border - 1, border + 1 : -border - 1].any(), "the border is a frame, not a fill"
        # on the page: black frame lines along each edge, white gutter just outside
        assert shown[r.y : r.y + border, r.x + 10 : r.right - 10].max() < 30
        assert shown[r.bottom - border : r.bottom, r.x + 10 : r.right - 10].max() < 30
        assert (shown[r.y - 3, r.x : r.right] == 255).all() and (shown[r.y + 10 : r.bottom - 10, r.x - 3] == 255).all()
        if panel.order != 1:
            assert (
                shown[r.y + border + 1 : r.bottom - border - 1, r.x + border + 1 : r.right - border - 1] == 255
            ).all()


def test_place_in_panel_yields_a_layer_clipped_to_its_panel(placed):
    page = placed["images"]["page"]
    r = page_geometry.layout(page_geometry.page("b5", 300), "3 tiers")[1].rect
    panel = by_name(page["layers"])["Panel 2"]
    assert [c["name"] for c in panel["children"]] == ["Panel 2 border", "Background (placed)"]
    holder = panel["children"][1]
    assert [c["name"] for c in holder["children"]] == ["Comic (manga) copy", "Background copy"]
    comic, photo = holder["children"]
    assert [c["name"] for c in comic["children"]] == ["Ink", "Tone", "Flat colour"]
    assert photo["mask"] is not None, "the photo is placed as a cut-out (the person's mask), not with its background"
    # fit "fill" covers the panel's width: the person overhangs it above and below, where the panel's mask clips
    x, y = holder["offsets"]
    assert holder["width"] >= r.width - 2 and (y < r.y or y + holder["height"] > r.bottom)
    group_mask = mask(panel)
    gx, gy = panel["offsets"]
    inside = np.zeros_like(group_mask, bool)
    inside[r.y - gy : r.bottom - gy, r.x - gx : r.right - gx] = True
    assert (group_mask[inside] == 255).all() and (group_mask[~inside] == 0).all()
    shown = visible(page)
    empty = np.full_like(shown, 255)  # the page before: white paper and the black borders
    for group in page["layers"][:-1]:
        line = group["children"][0]
        lx, ly = line["offsets"]
        empty[ly : ly + line["height"], lx : lx + line["width"]][rgba(line)[..., 3] > 127] = 0
    art = np.zeros(shown.shape[:2], bool)
    art[max(0, y) : y + holder["height"], max(0, x) : x + holder["width"]] = True
    outside = art.copy()
    outside[r.y : r.bottom, r.x : r.right] = False
    assert outside.any(), "the placed layers reach beyond the panel"
    assert (shown[outside] == empty[outside]).all(), "nothing of the cut-out shows outside its panel"
    inner = shown[r.y + 10 : r.bottom - 10, r.x + 10 : r.right - 10]
    assert (inner.max(axis=2) < 60).mean() > 0.01, "the person's ink shows inside the panel"


def test_placed_comic_layers_are_drawn_again_at_the_page_resolution(placed):
    """The placed Tone's dots are 300 dpi / 30 lpi = 10 px apart, as printed; a scaled copy's would be 5 px × scale."""
    original = placed["images"]["photo"]["layers"][0]
    recorded = json.loads(original["parasites"]["person-cutout-comic"])["comic"]
    assert recorded["style"] == "manga" and recorded["dpi"] == 150 and recorded["tone_lpi"] == 30.0
    holder = by_name(placed["images"]["page"]["layers"])["Panel 2"]["children"][1]
    comic, photo = holder["children"]
    scale = photo["width"] / original["width"]
    expected, scaled = 300 / 30, 150 / 30 * scale
    assert abs(scaled - expected) / expected > 0.3, "the test must tell a redrawn tone from a scaled one"
    for layer in comic["children"]:  # each layer the photo's size and place, as Comic Layers… makes them
        assert (layer["offsets"], layer["width"], layer["height"]) == (
            photo["offsets"],
            photo["width"],
            photo["height"],
        )
    np.testing.assert_array_equal(mask(comic), decided(mask(photo)))  # the scaled person's mask, decided
    assert not photo["visible"], "the placed photo is the comic layers' reference, hidden below them"
    tone = rgba(by_name(comic["children"])["Tone"])[..., 3].astype(np.float32) / 255.0
    assert (tone > 0.5).mean() > 0.01
    period, _ = _spectrum_peak(tone, expected / 3, scaled * 2)
    assert abs(period - expected) / expected < 0.05, (period, expected, scaled)


def test_comic_layers_use_an_existing_mask_and_cut_out_person_adds_comic_layers(gimp, home, workdir, server):  # noqa: F811
    """With a mask painted by hand (the left half) no segmenter runs; Cut Out Person… can add comic layers.

    Both run with the layer mask selected, as GIMP leaves it after the mask is painted or made by a
    cut-out (issue 17, defect 1): a selected layer mask means its layer.
    """
    with no_server_start(home):
        report = run(
            gimp,
            home,
            workdir,
            "comic-mask",
            input=str(ASTRONAUT),
            prepare=["existing-mask"],
            steps=[
                {
                    "run": "python-fu-person-cutout-comic-layers",
                    "on": "photo",
                    "mask": True,
                    "args": {"style": "lineart", "endpoint": server},
                },
                {
                    "run": "python-fu-person-cutout",
                    "on": "photo",
                    "mask": True,
                    "args": {"segmenter": "selfie", "output": "cutout-layer", "comic": "posterize", "endpoint": server},
                },
                {"run": "python-fu-person-cutout-comic-page", "args": PAGE, "as": "page"},
                {
                    "run": "python-fu-person-cutout-place-in-panel",
                    "on": "photo",
                    "select": "Person cut-out",  # no server
                    "args": {"page": "$page", "panel": 1, "endpoint": "", "timeout": 5},
                },
                {
                    "run": "python-fu-person-cutout-comic-layers",
                    "on": "photo",
                    "before": "photo",  # no server: untouched
                    "args": {"style": "cartoon", "mask-source": "fresh", "endpoint": "", "timeout": 5},
                },
            ],
            report=["photo", "page"],
        )
    first, second, page, place, third = report["steps"]
    for step in (first, second, page, place):
        assert step.get("success"), step.get("error")
    photo = report["images"]["photo"]
    # each addition goes directly above the layer it was made from
    assert [layer["name"] for layer in photo["layers"]] == [
        "Comic (lineart)",
        "Comic (posterize)",
        "Person cut-out",
        "Background",
    ]
    lineart = photo["layers"][0]
    width = lineart["width"]
    np.testing.assert_array_equal(
        mask(lineart), np.broadcast_to(np.where(np.arange(width) < width // 2, 255, 0), mask(lineart).shape)
    )
    ink = rgba(lineart["children"][0])
    assert not ink[:, width // 2 :, 3].any() and (ink[:, : width // 2, 3] > 200).any(), (
        "ink only where the painted mask is"
    )
    posterize, cutout = photo["layers"][1], photo["layers"][2]
    assert [c["name"] for c in posterize["children"]] == ["Flat colour"]
    np.testing.assert_array_equal(mask(posterize), decided(rgba(cutout)[..., 3]))  # the same cut-out's mask, decided
    # both are cut-outs (a layer mask, a transparent layer) below comic layers: hidden, kept as reference
    assert not cutout["visible"] and not photo["layers"][3]["visible"]
    # the server is down and cannot be started: a clear message, and the image as it was
    assert not third.get("success") and "Could not start the Person Cutout server" in third.get("error", "")
    assert [layer["md5"] for layer in report["before"]["layers"]] == [layer["md5"] for layer in photo["layers"]]
    # Place in Panel without a server: placed all the same, the comic layers only scaled, and the user told so
    holder = by_name(report["images"]["page"]["layers"])["Panel 1"]["children"][1]
    comic, placed_photo = holder["children"]
    assert comic["name"] == "Comic (posterize) copy" and placed_photo["name"] == "Person cut-out copy"
    assert "only scaled, not drawn again" in (workdir / "comic-mask.log").read_text()


def test_a_photo_without_a_mask_is_placed_whole_and_the_user_is_told(gimp, home, workdir):  # noqa: F811
    """Issue 29, item 4: a photo with no mask of its own, no comic group and no transparency goes into the panel
    whole, background included, as asked — and GIMP's message says so and how to place only the person."""
    with no_server_start(home):  # nothing to draw again: no server is needed
        report = run(
            gimp,
            home,
            workdir,
            "place-whole",
            input=str(ASTRONAUT),
            report=["page"],
            steps=[
                {"run": "python-fu-person-cutout-comic-page", "args": PAGE, "as": "page"},
                {
                    "run": "python-fu-person-cutout-place-in-panel",
                    "on": "photo",
                    "args": {"page": "$page", "panel": 1, "endpoint": "", "timeout": 5},
                },
            ],
        )
    assert all(step.get("success") for step in report["steps"]), report["steps"]
    holder = by_name(report["images"]["page"]["layers"])["Panel 1"]["children"][1]
    assert [c["name"] for c in holder["children"]] == ["Background copy"] and holder["children"][0]["mask"] is None
    assert "has no mask, so the whole photo went into the panel" in (workdir / "place-whole.log").read_text()


@pytest.mark.gui
def test_undo_removes_the_placement(gimp, home, workdir, server):  # noqa: F811
    """Edit › Undo (Ctrl+Z) once in the page's window, in the real GIMP GUI: the page is as before the placement."""
    if not gimp.gui_available():
        message = "GIMP's GUI on Xvfb is not available (apt-get install xvfb xauth xdotool)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    report = run(
        gimp,
        home,
        workdir,
        "comic-undo",
        gui=True,
        input=str(ASTRONAUT),
        undo="page",
        report=["page"],
        dump_dir="",
        steps=place_steps(server, fit="whole", before=True),
    )
    assert all(step.get("success") for step in report["steps"]), report["steps"]
    assert report["windows"] >= 1, "GIMP's image window did not appear"
    after = report["images"]["page"]
    assert after["layers"] != report["before"]["layers"], "the placement changed nothing to undo"
    assert report["after_undo"] == report["before"]
