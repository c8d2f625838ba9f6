"""The plug-in in GIMP's real windows, used as an illustrator uses it (issue 17): menus, dialogs, waiting, Cancel.

GIMP 3 (not gimp-console) runs on an Xvfb display in the harness's Debian 13 root; a batch script
inside it (tests/gimp_gui_batch.py) opens menu entries by GIMP's action search, fills dialogs with
keys and clicks GIMP's Cancel, through xdotool (tests/gimp_gui.py). Every scenario runs in a copy of
the session's GIMP profile with its own config.json, so remembered dialog values and a changed
server address stay in it. Screenshots are kept beside each scenario's log
(``gimp-tests/NAME.shots/*.png``); ``PERSON_CUTOUT_PICTURES=DIR`` also writes the README's pictures
of the dialogs there. Run alone with ``pytest -m gui``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import IN_CI
from tests.gimp_harness import DEAD_ENDPOINT, SCREEN_SIZE, marker_command, plugin_config
from tests.test_gimp_plugin import REPO, gimp, home, server, workdir  # noqa: F401  (the same GIMP, profile and server)

BATCH = REPO / "tests" / "gimp_gui_batch.py"
ASTRONAUT = REPO / "tests" / "data" / "astronaut.png"
pytestmark = [pytest.mark.gimp, pytest.mark.gui]
#: the folder the dialogs' install note names in the README's pictures: a reader's, not this machine's checkout
#: (only shown: these scenarios' servers run already, so none is started in it)
READER_FOLDER = "/home/you/person-cutout"
#: GIMP 3.0.4's default image title, then the memory the image takes (%m)
TITLE_FORMAT = "%D*%f-%p.%i (%t, %o, %L) %wx%h, %m"


@pytest.fixture(autouse=True)
def gui_available(gimp):  # noqa: F811
    if not gimp.gui_available():
        message = "GIMP's GUI on Xvfb is not available (apt-get install xvfb xauth xdotool)"
        pytest.fail(message) if IN_CI else pytest.skip(message)


def gui_home(gimp, home: Path, workdir: Path, name: str, **settings) -> Path:  # noqa: F811
    """A copy of the session's GIMP home for one scenario: config.json changed by ``settings``, the image window
    the screen's size."""
    copy = workdir / f"home-{name}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(home, copy, symlinks=True)
    config = plugin_config(copy)
    config.write_text(json.dumps({**json.loads(config.read_text()), **settings}))
    screen_sized_window(gimp, copy / ".config" / "GIMP" / "3.0")
    # GIMP's own title with the image's memory after it (%m, what the status bar shows), for the page's estimate
    (copy / ".config" / "GIMP" / "3.0" / "gimprc").write_text(f'(image-title-format "{TITLE_FORMAT}")\n')
    return copy


def screen_sized_window(gimp, profile: Path) -> None:  # noqa: F811
    """The profile's sessionrc with GIMP's image window as big as the screen, as a maximised window is.

    With no window manager nobody maximises it: it opens at its remembered or default size (800 × 600),
    where the status bar cuts the progress text short ("Waiting for the server: 1…"). GIMP reads the
    size from sessionrc (the profile's, else the system's), where it keeps it between sessions.
    """
    session = profile / "sessionrc"
    text = session.read_text() if session.exists() else gimp.system_path("/etc/gimp/3.0/sessionrc").read_text()
    width, height = SCREEN_SIZE
    text, found = re.subn(
        r'(\(factory-entry "gimp-single-image-window"\)\s*\(position) -?\d+ -?\d+\)\s*\(size \d+ \d+\)',
        rf"\1 0 0)\n    (size {width} {height})",
        text,
    )
    assert found == 1, "GIMP's sessionrc has no single-window image window to size"
    session.write_text(text)


def run(gimp, home: Path, workdir: Path, name: str, timeout: float = 300, env: dict | None = None, **fields) -> dict:  # noqa: F811
    return gimp.scenario(BATCH, home, workdir, name, gui=True, timeout=timeout, env=env, **fields)


def read_xwd(path: Path) -> np.ndarray:
    """An Xvfb screen file (XWD, 32 bits per pixel, ZPixmap) as H×W×3 RGB."""
    data = path.read_bytes()
    fields = np.frombuffer(data[:100], ">u4")
    header_size, width, height = int(fields[0]), int(fields[4]), int(fields[5])
    byte_order, bytes_per_line, colours = int(fields[7]), int(fields[12]), int(fields[19])
    rows = np.frombuffer(data, np.uint8, bytes_per_line * height, header_size + colours * 12).reshape(
        height, bytes_per_line
    )
    pixels = rows[:, : width * 4].reshape(height, width, 4)
    return pixels[..., [2, 1, 0]] if byte_order == 0 else pixels[..., [1, 2, 3]]


def screenshots(workdir: Path, name: str) -> dict[str, np.ndarray]:  # noqa: F811
    """The scenario's screenshots, each cropped to its window, also written as PNG beside them (test artefacts)."""
    found = {}
    for xwd in sorted((workdir / f"{name}.shots").glob("*.xwd")):
        box = json.loads(xwd.with_suffix(".json").read_text())["window"]
        picture = read_xwd(xwd)
        if box:
            picture = picture[max(box["y"], 0) : box["y"] + box["height"], max(box["x"], 0) : box["x"] + box["width"]]
        Image.fromarray(picture).save(xwd.with_suffix(".png"), optimize=True)
        xwd.unlink()  # 5 MB each: the PNG is the artefact
        found[xwd.stem] = picture
    return found


def readme_pictures(shots: dict[str, np.ndarray], names: dict[str, str], crops: dict | None = None) -> None:
    """With PERSON_CUTOUT_PICTURES=DIR: the README's pictures as GIMP drew them, in DIR/screenshots/.

    ``names``: shot -> file name; ``crops``: shot -> (top, bottom, left, right) of the part shown,
    negative from the far edge, as for slices.
    """
    folder = os.environ.get("PERSON_CUTOUT_PICTURES")
    if not folder:
        return
    target = Path(folder) / "screenshots"
    target.mkdir(exist_ok=True)
    for shot, file_name in names.items():
        if shot in shots:
            top, bottom, left, right = (crops or {}).get(shot, (None, None, None, None))
            Image.fromarray(np.ascontiguousarray(shots[shot][top:bottom, left:right])).save(
                target / file_name, optimize=True
            )


def plugin_lines(workdir: Path, name: str) -> list[str]:  # noqa: F811
    return [line for line in (workdir / f"{name}.log").read_text().splitlines() if line.startswith("[person-cutout]")]


def dialog_warnings(workdir: Path, name: str) -> list[str]:  # noqa: F811
    """What GIMP's log says against the plug-in's dialogs (issue 29, item 13): GimpProcedureDialog's warnings
    about access keys (``no mnemonic for property``, ``duplicate mnemonic``) and the CRITICALs of GIMP's widget
    libraries, which only plug-ins' dialogs use here."""
    lines = (workdir / f"{name}.log").read_text().splitlines()
    return [
        line
        for line in lines
        if "mnemonic" in line
        or ("CRITICAL" in line and "LibGimp" in line)
        or ("CRITICAL" in line and "person-cutout" in line)
    ]


def changes(before: np.ndarray, after: np.ndarray, threshold: int = 60) -> np.ndarray:
    """Where the screen changed clearly (by more than ``threshold`` in a channel) between two shots."""
    return np.abs(before.astype(int) - after.astype(int)).max(axis=2) > threshold


#: a part of GIMP's canvas, inside its rulers and scroll bars, in the fresh profile's layout on the 1280 × 1024 screen
CANVAS = (slice(110, 960), slice(220, 1020))


def image_box(shot: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the image on the screen: where GIMP's canvas differs from its padding colour
    (the docks around it, whose thumbnails also change, are left out)."""
    canvas = shot[CANVAS]
    rows, columns = np.nonzero(np.any(canvas != canvas[5, 5], axis=2))
    top, left = CANVAS[0].start, CANVAS[1].start
    return top + rows.min(), top + rows.max() + 1, left + columns.min(), left + columns.max() + 1


def test_the_flow_from_cut_out_to_panel_with_no_click_between(gimp, home, workdir, server):  # noqa: F811
    """The afternoon's flow in GIMP's window, each step right after the last, with no click between them.

    Issue 17, defect 1: after Cut Out Person… GIMP selects the new layer mask. Issue 29: Add Hints Layer says what
    to do next (item 10) and its strokes show, a white one over what the mask hides and a black one on a dark part
    it keeps (item 2; in Overlay mode neither did); Draw Comic Layers… with the Hints layer still selected draws the
    photo's comic layers (item 3), Place in Panel… with *Flat colour* selected places the whole cut-out (item 4),
    and Ctrl+Z takes the comic layers away without "Can't undo Attach Parasite to Item" (item 1).
    """
    profile = gui_home(gimp, home, workdir, "flow", endpoint=server, server_cwd=READER_FOLDER)
    report = run(gimp, profile, workdir, "flow", scenario="flow", input=str(ASTRONAUT))
    shots = screenshots(workdir, "flow")
    steps = {step["step"]: step for step in report["steps"]}
    assert steps["cut out"]["done"] and not steps["cut out"]["messages"], report
    assert report["selected_after_cut_out"] == ["LayerMask"], "GIMP selects the new mask: the case to handle"

    assert report["hints_message"], "Add Hints Layer said nothing about what to do next"
    assert report["selected_after_hints"] == ["Hints"]
    strokes = report["strokes"]
    assert strokes["hidden"] and strokes["dark"], f"no place on the astronaut to test a stroke: {strokes}"
    area = np.pi * strokes["radius"] ** 2
    box = image_box(shots["hints-before"])
    image = (slice(*box[:2]), slice(*box[2:]))
    assert box[1] - box[0] >= 500 and box[3] - box[2] >= 500, f"the 512 px image is not shown whole at 100 %: {box}"
    white = changes(shots["hints-before"][image], shots["hints-white"][image])
    black = changes(shots["hints-white"][image], shots["hints-black"][image])
    assert white.sum() > 0.5 * area, f"a white stroke over the masked-away part: {white.sum()} of {area:.0f} px show"
    assert black.sum() > 0.5 * area, f"a black stroke on a dark kept part: {black.sum()} of {area:.0f} px show"

    assert steps["comic layers"]["done"] and not steps["comic layers"]["messages"], plugin_lines(workdir, "flow")
    assert report["comic_photo_is_the_photo"], "Draw Comic Layers… drew the Hints layer, not the photo"
    assert report["comic_mask_kept"] > 0.05, f"the comic group's mask keeps {report['comic_mask_kept']:.1%}"
    hints, group, photo = report["layers"]
    assert group["name"] == "Comic (manga)" and [c["name"] for c in group["children"]] == ["Ink", "Tone", "Flat colour"]
    assert photo["name"] == "Background" and photo["mask"] and not photo["visible"]
    assert report["selected_after_comic"] == ["Flat colour"], "GIMP leaves the group's last layer selected"

    assert steps["placed"]["done"] and not steps["placed"]["messages"], plugin_lines(workdir, "flow")
    holder = report["placed"]["children"][1]
    assert [c["name"] for c in holder["children"]] == ["Comic (manga) copy", "Background copy"], holder

    assert report["undone"], "Ctrl+Z did not take the comic layers away"
    assert not report["undo_message"], "GIMP said something at Ctrl+Z (Can't undo Attach Parasite to Item?)"
    assert dialog_warnings(workdir, "flow") == []
    readme_pictures(
        shots,
        {
            "cut-out-person": "dialog-cut-out-person.png",
            "hints-message": "message-hints.png",
            "hints-black": "hint-strokes.png",
        },
        {"hints-black": box},
    )


class LongOnce:
    """A segmenter whose first job takes a minute (stopped within a quarter of a second when cancelled) and whose
    later jobs take no time: the long Edges: Best job an illustrator cancels, then the small cut-out after it."""

    def __new__(cls, weights, device):
        from models.base import no_progress
        from tests.doubles import Long

        class Once(Long):
            first = True

            def predict(self, rgb, options=None, progress=no_progress):
                if Once.first:
                    Once.first = False
                    return super().predict(rgb, options, progress)
                return super(Long, self).predict(rgb, options, progress)

        return Once(weights, device)


@pytest.fixture(scope="module")
def once_long_server():
    """A server whose first job takes a minute and the others none, stopped with the module."""
    from server.transport.service import Server, ServerConfig

    running = Server(
        ServerConfig(endpoint="tcp://127.0.0.1:*"),
        factory=lambda name, device, weights: LongOnce(weights or Path("/nonexistent"), device),
        names=["rvm", "selfie"],
    )
    with running:
        yield running.endpoint


def test_cancel_frees_the_server_and_the_next_cut_out_runs_at_once(gimp, home, workdir, once_long_server):  # noqa: F811
    """Issue 29, item 8: GIMP's Cancel stops the plug-in at once (it kills it); its cancel watcher tells the server,
    which is free within a second or two, so the next small cut-out does not wait behind the cancelled job."""
    report = run(
        gimp,
        gui_home(gimp, home, workdir, "cancel", endpoint=once_long_server),
        workdir,
        "cancel",
        scenario="cancel",
        input=str(ASTRONAUT),
        endpoint=once_long_server,
    )
    screenshots(workdir, "cancel")
    assert report["job_started"] and report["running_before_cancel"] == 1
    assert report["running_after_cancel"] == 0 and report["untouched_after_cancel"], "GIMP's Cancel stops the call"
    assert report["freed"] and report["freed_seconds"] < 3.0, f"the server was busy {report['freed_seconds']} s on"
    assert report["second_done"], report
    lines = plugin_lines(workdir, "cancel")
    second = max(i for i, line in enumerate(lines) if "Loading the segmenter" in line)  # the second call's lines
    assert not [line for line in lines[second:] if "Waiting for the server" in line], lines


def test_a_licence_is_asked_when_its_segmenter_is_picked_never_during_the_job(gimp, home, workdir, server):  # noqa: F811
    """Defect 5: isnet's AGPL weights: the question comes while the dialog is open, before the job, and only once."""
    from cutout_common import vocabulary
    from models.isnet import ISNetSegmenter
    from models.paths import weights_dir

    if ISNetSegmenter(weights_dir()).missing_weights():
        message = "isnet weights missing (python install.py --models isnet)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    profile = gui_home(gimp, home, workdir, "licence", endpoint=server, server_cwd=READER_FOLDER)
    (plugin_config(profile).parent / "licences-seen.json").unlink(missing_ok=True)  # nothing answered yet
    downs = list(vocabulary.SEGMENTERS).index("isnet") + 1  # the dialog lists "default" first, then the vocabulary
    report = run(gimp, profile, workdir, "licence", scenario="licence", input=str(ASTRONAUT), downs=downs)
    shots = screenshots(workdir, "licence")
    assert report["asked_in_dialog"], "no licence question while the dialog was open"
    assert report["untouched_while_asked"], "the image changed before the question was answered"
    assert report["done"] and report["asked_during_job"] == [], report
    assert report["done_again"] and report["asked_again"] == [], "asked again after it was answered"
    seen = json.loads((plugin_config(profile).parent / "licences-seen.json").read_text())
    assert "isnet" in seen, seen
    assert dialog_warnings(workdir, "licence") == []
    readme_pictures(shots, {"licence": "licence-question.png"})


def test_a_wrong_server_address_is_told_in_a_gimp_message_within_5_s(gimp, home, workdir):  # noqa: F811
    """Defect 4: typed into the dialog, a malformed or an unreachable address gets GIMP's message at once, and no
    server."""
    marker = workdir / "gui-server-started.txt"
    marker.unlink(missing_ok=True)
    endpoints = {"malformed": "localhost:5555", "unreachable": "tcp://192.0.2.1:5555"}
    report = run(
        gimp,
        gui_home(gimp, home, workdir, "endpoints", endpoint=DEAD_ENDPOINT, server_command=marker_command(marker)),
        workdir,
        "endpoints",
        scenario="endpoints",
        input=str(ASTRONAUT),
        endpoints=endpoints,
    )
    shots = screenshots(workdir, "endpoints")
    for name in endpoints:
        assert report[name]["seconds"] is not None and report[name]["seconds"] < 5, report
    lines = "\n".join(plugin_lines(workdir, "endpoints"))
    assert "“localhost:5555” is not a server address" in lines and "tcp://192.0.2.1:5555" in lines
    assert not marker.exists(), "no server is started for an address that is not the configured one"
    assert report["untouched"]
    readme_pictures(shots, {"malformed-message": "message-endpoint.png"})


def test_the_dialogs_show_only_what_applies(gimp, home, workdir, server):  # noqa: F811
    """Issue 17, defects 6–8, as a user sees them: a page chooser, the page's size, each style's own parameters,
    the menu. Issue 29: the page's memory as GIMP counts it (item 14), Existing mask greyed out for the outputs
    that make a new layer, no warning in GIMP's log from the dialogs (item 13), Refine's instructions (item 10)."""
    from plugin_logic import pages

    from cutout_common import page_geometry

    profile = gui_home(gimp, home, workdir, "dialogs", endpoint=server, server_cwd=READER_FOLDER)
    report = run(gimp, profile, workdir, "dialogs", scenario="dialogs", input=str(ASTRONAUT))
    shots = screenshots(workdir, "dialogs")
    for name in ("comic-page", "comic-layers-manga", "place-in-panel", "refine-cutout", "cut-out-person"):
        assert report[name] is not None, f"the {name} dialog did not open"
    manga, lineart = report["comic-layers-manga"], report["comic-layers-lineart"]
    assert lineart["height"] < manga["height"], "line art has 4 parameters, manga 10: the others are not shown"
    assert "filters-menu" in shots

    shown = re.search(r", ([\d.]+)\s*MB – GIMP$", report["page_title"] or "")
    assert shown, f"no memory in the page's title: {report['page_title']!r}"
    page = page_geometry.page("b5", 300)  # as the scenario makes it
    estimate = pages.page_bytes(page, page_geometry.layout(page, "3 tiers"))
    assert estimate == pytest.approx(float(shown.group(1)) * 1e6, rel=0.01), "the dialog's estimate is not GIMP's"

    dialog = shots["cut-out-person"]
    labels = slice(0, dialog.shape[1] // 5)  # the labels, left of the choices: only a greyed-out label changes there
    greyed = changes(dialog[:, labels], shots["cut-out-person-new-layer"][:, labels], threshold=30)
    assert greyed.sum() > 50, "Existing mask is not greyed out when the output is a new layer"
    assert dialog_warnings(workdir, "dialogs") == []
    readme_pictures(
        shots,
        {
            "comic-page": "dialog-comic-page.png",
            "comic-layers-lineart": "dialog-comic-layers.png",
            "place-in-panel": "dialog-place-in-panel.png",
            "refine-cutout": "dialog-refine-cutout.png",
            "filters-menu": "menu.png",
        },
        {"filters-menu": (0, 610, 360, 880)},
    )  # the Filters menu and its Person Cutout submenu


def test_the_dialog_speaks_traditional_chinese(gimp, home, workdir, server):  # noqa: F811
    """Defect 9: with GIMP's language zh_TW the plug-in's dialog is in Traditional Chinese (a CJK font draws it)."""
    profile = gui_home(gimp, home, workdir, "zh", endpoint=server, server_cwd=READER_FOLDER)
    report = run(gimp, profile, workdir, "zh", scenario="zh", input=str(ASTRONAUT), env={"LANGUAGE": "zh_TW"})
    shots = screenshots(workdir, "zh")
    assert report["registered_label"] == "_1. 人物去背…"
    assert report["dialog"] is not None, "the dialog titled 人物去背 did not open"
    assert dialog_warnings(workdir, "zh") == [], "the translated labels keep one access key each"
    readme_pictures(shots, {"cut-out-person-zh": "dialog-cut-out-person-zh_TW.png"})
