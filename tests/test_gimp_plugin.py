"""The GIMP 3 plug-in in a real, headless GIMP 3 (see tests/gimp_harness.py), and install.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout_common import vocabulary
from cutout_common.client import Client
from server.transport.service import Server, ServerConfig
from tests.conftest import IN_CI, stems
from tests.gimp_harness import DEAD_ENDPOINT, Gimp, GimpUnavailable, configured, marker_command, no_server_start

REPO = Path(__file__).resolve().parent.parent
BATCH = REPO / "tests" / "gimp_batch.py"
pytestmark = pytest.mark.gimp


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """One folder for every GIMP test module (they import these fixtures), so the root is built once."""
    path = tmp_path_factory.getbasetemp() / "gimp-tests"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def gimp(workdir, persons_dev) -> Gimp:
    try:
        provided = Gimp.provide(workdir)
    except GimpUnavailable as exc:
        if IN_CI:
            pytest.fail(f"GIMP 3 could not be provided: {exc}")
        pytest.skip(f"GIMP 3 could not be provided: {exc}")
    provided.binds = [workdir, persons_dev.resolve(), REPO]
    return provided


def install(profile: Path, record: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        str(REPO / "install.py"),
        "--skip-venv",
        "--skip-weights",
        "--gimp-profile",
        str(profile),
        "--record",
        str(record),
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def home(workdir) -> Path:
    """A GIMP home with the plug-in installed by install.py."""
    home = workdir / "home"
    profile = home / ".config" / "GIMP" / "3.0"
    profile.mkdir(parents=True, exist_ok=True)
    result = install(profile, workdir / "record.json")
    assert result.returncode == 0, result.stderr
    return home


@pytest.fixture(scope="session")
def server():
    from models.paths import weights_dir
    from models.selfie import SelfieSegmenter

    if SelfieSegmenter(weights_dir()).missing_weights():
        pytest.fail("selfie weights missing") if IN_CI else pytest.skip("selfie weights missing (python install.py)")
    running = Server(ServerConfig(endpoint="tcp://127.0.0.1:*"))
    with running:
        yield running.endpoint


def scenario(gimp: Gimp, home: Path, workdir: Path, name: str, gui: bool = False, **fields) -> dict:
    """Run gimp_batch.py with one scenario; returns its report."""
    return gimp.scenario(BATCH, home, workdir, name, gui, **fields)


def photo(persons_dev: Path, index: int = 3) -> Path:
    return persons_dev / "images" / f"{stems(persons_dev)[index]}.jpg"


def server_mask(
    endpoint: str, pixels: bytes, width: int, height: int, fmt: str, segmenter: str | None = "selfie"
) -> np.ndarray:
    with Client(endpoint, deadline=120) as client:
        reply = client.cutout(pixels, width, height, fmt, segmenter=segmenter, options={"edges": "off"})
    return np.frombuffer(reply.frames["mask"], np.uint8).reshape(height, width)


def test_plugin_registers(gimp, home, workdir):
    report = scenario(gimp, home, workdir, "register", input=str(REPO / "tests" / "data" / "astronaut.png"))
    assert report["registered"], "python-fu-person-cutout is not registered: GIMP skipped the plug-in"
    entries = report["procedures"]
    # issue 17, defect 8, and issue 29, item 10: GIMP sorts a plug-in's submenu by the collation of its labels, so
    # they must sort in the order of the work — in any language and collation: the step's number leads
    work = [
        "python-fu-person-cutout",
        "python-fu-person-cutout-hints-layer",
        "python-fu-person-cutout-refine",
        "python-fu-person-cutout-comic-layers",
        "python-fu-person-cutout-place-in-panel",
    ]
    assert all(entries[name]["paths"] == ["<Image>/Filters/Person Cutout"] for name in work), entries
    labels = [entries[name]["label"].replace("_", "") for name in work]
    assert sorted(labels, key=str.casefold) == labels, labels
    assert [label.split(".")[0] for label in labels] == ["1", "2", "3", "4", "5"], labels
    assert entries["python-fu-person-cutout-comic-page"]["paths"] == ["<Image>/File/Create"]
    # issue 28, item 3: the Edges help says what each mode is for, in the vocabulary's words (Cut Out and Refine)
    for name in ("python-fu-person-cutout", "python-fu-person-cutout-refine"):
        assert all(f"{mode.label}: {mode.help}" in entries[name]["edges_help"] for mode in vocabulary.EDGE_MODES)


@pytest.mark.parametrize(
    "prepare, fmt",
    [([], "RGB8"), (["alpha"], "RGBA8"), (["gray"], "GRAY8"), (["offsets"], "RGB8"), (["u16"], "RGB8")],
    ids=["rgb", "rgba", "gray", "offsets", "16-bit"],
)
def test_layer_mask_equals_the_servers_mask(gimp, home, workdir, persons_dev, server, prepare, fmt):
    name = "mask-" + ("-".join(prepare) or "rgb")
    sent, mask_out, visible_out = (workdir / f"{name}.{kind}" for kind in ("sent", "mask", "visible"))
    source = photo(persons_dev)
    report = scenario(
        gimp,
        home,
        workdir,
        name,
        input=str(source),
        prepare=prepare,
        sent_pixels=str(sent),
        mask_out=str(mask_out),
        visible_out=str(visible_out) if not prepare else "",
        png_out=str(workdir / f"{name}.png") if not prepare else "",
        args={"segmenter": "selfie", "output": "mask", "endpoint": server},
    )
    assert report["success"], report.get("error")
    width, height = Image.open(source).size
    after = report["after"]
    assert [layer["name"] for layer in after] == [layer["name"] for layer in report["before"]]
    assert after[0]["mask_md5"] is not None and after[0]["md5"] == report["before"][0]["md5"]
    if "offsets" in prepare:
        assert after[0]["offsets"] == [13, 7]
    gimp_mask = np.frombuffer(mask_out.read_bytes(), np.uint8).reshape(height, width)
    expected = server_mask(server, sent.read_bytes(), width, height, fmt)
    difference = np.abs(gimp_mask.astype(int) - expected.astype(int))
    # "Y u8" is the mask channel's own (linear) format in 8-bit images, so the bytes are stored as sent;
    # a 16-bit image stores v as v * 257, which reads back as v: no rounding anywhere
    assert difference.max() == 0, f"max difference {difference.max()}"
    assert ((expected > 10) & (expected < 245)).sum() > 0, "the mask has soft values to check"
    if not prepare:
        # the mask means opacity as GIMP renders it: the projection's alpha is the server's mask, soft values included
        visible = np.frombuffer(visible_out.read_bytes(), np.uint8).reshape(height, width, 4)
        np.testing.assert_array_equal(visible[..., 3], expected)
        exported = np.asarray(Image.open(workdir / f"{name}.png").convert("RGBA"))  # File › Export As… PNG
        np.testing.assert_array_equal(exported[..., 3], expected)


def test_default_segmenter_on_the_astronaut_and_the_readme_picture(gimp, home, workdir, server):
    """The dialog's defaults (segmenter "default" = the server's, rvm) in GIMP, exported as PNG by GIMP.

    With PERSON_CUTOUT_PICTURES=DIR the test also writes DIR/before-after.jpg, the README's picture:
    the photo beside GIMP's export over a checkerboard, so the picture is what the plug-in made.
    """
    from models.paths import weights_dir
    from models.rvm import RobustVideoMatting

    if RobustVideoMatting(weights_dir()).missing_weights():
        pytest.fail("rvm weights missing") if IN_CI else pytest.skip("rvm weights missing (python install.py)")
    source = REPO / "tests" / "data" / "astronaut.png"
    sent, png = workdir / "default.sent", workdir / "default.png"
    report = scenario(
        gimp,
        home,
        workdir,
        "default",
        input=str(source),
        sent_pixels=str(sent),
        png_out=str(png),
        args={"endpoint": server},
    )
    assert report["success"], report.get("error")
    exported = np.asarray(Image.open(png).convert("RGBA"))
    original = np.asarray(Image.open(source).convert("RGB"))
    expected = server_mask(server, sent.read_bytes(), 512, 512, "RGB8", segmenter=None)
    np.testing.assert_array_equal(exported[..., 3], expected)
    opaque = expected == 255  # where GIMP composites nothing, its export holds the photo's own colours
    np.testing.assert_array_equal(exported[..., :3][opaque], original[opaque])
    # the astronaut is found: her suit and face kept, the sky-blue corners above her shoulders not
    assert (expected[250:480, 60:250] > 127).mean() > 0.95 and (expected[60:250, 160:260] > 127).mean() > 0.9
    assert (expected[:40, :60] < 20).all() and (expected[:40, 400:] < 20).all()

    pictures = os.environ.get("PERSON_CUTOUT_PICTURES")
    if pictures:
        from server.demos import over_checkerboard

        over = over_checkerboard(exported[..., :3], exported[..., 3] / 255.0)
        side_by_side = np.concatenate([original, over], axis=1)
        Image.fromarray(side_by_side).save(Path(pictures) / "before-after.jpg", quality=85)


def test_cutout_and_black_layers(gimp, home, workdir, persons_dev, server):
    source = photo(persons_dev)
    width, height = Image.open(source).size
    for output, layer_name in (("cutout-layer", "Person cut-out"), ("black-layer", "Person on black")):
        layer_out, sent = workdir / f"{output}.rgba", workdir / f"{output}.sent"
        report = scenario(
            gimp,
            home,
            workdir,
            output,
            input=str(source),
            layer_out=str(layer_out),
            sent_pixels=str(sent),
            args={"segmenter": "selfie", "output": output, "endpoint": server},
        )
        assert report["success"], report.get("error")
        names = [layer["name"] for layer in report["after"]]
        assert names == [layer_name, report["before"][0]["name"], "<selection>"]
        assert report["after"][-1] == report["before"][-1], "the selection is left as it was"
        added = report["after"][0]
        assert (added["width"], added["height"]) == (width, height)
        assert report["after"][1]["md5"] == report["before"][0]["md5"], "the photo layer must not change"
        # issue 29, item 12: the photo under the new layer is hidden, or the canvas looks as before
        assert added["visible"] and not report["after"][1]["visible"], report["after"]
        rgba = np.frombuffer(layer_out.read_bytes(), np.uint8).reshape(height, width, 4).astype(int)
        # GIMP's JPEG decoder is the reference: PIL's decodes a few pixels differently
        original = np.frombuffer(sent.read_bytes(), np.uint8).reshape(height, width, 3).astype(int)
        expected = server_mask(server, sent.read_bytes(), width, height, "RGB8").astype(int)
        if output == "cutout-layer":
            assert added["has_alpha"]
            assert np.abs(rgba[..., 3] - expected).max() == 0
            assert np.abs(rgba[..., :3] - original).max() == 0  # selfie sends no foreground: the photo's colours
        else:
            assert not added["has_alpha"]
            composite = np.rint(original * expected[..., None] / 255.0)
            assert np.abs(rgba[..., :3] - composite).max() <= 1


def test_existing_mask_policies(gimp, home, workdir, persons_dev, server):
    source = photo(persons_dev)
    width, height = Image.open(source).size
    left_half = np.zeros((height, width), np.uint8)
    left_half[:, : width // 2] = 255
    sent = workdir / "policy.sent"
    for policy in ("replace", "intersect", "new-layer"):
        mask_out = workdir / f"policy-{policy}.mask"
        report = scenario(
            gimp,
            home,
            workdir,
            f"policy-{policy}",
            input=str(source),
            prepare=["existing-mask"],
            mask_out=str(mask_out),
            sent_pixels=str(sent),
            args={"segmenter": "selfie", "output": "mask", "existing-mask": policy, "endpoint": server},
        )
        assert report["success"], report.get("error")
        expected = server_mask(server, sent.read_bytes(), width, height, "RGB8")
        result = np.frombuffer(mask_out.read_bytes(), np.uint8).reshape(height, width)
        if policy == "replace":
            np.testing.assert_array_equal(result, expected)
        elif policy == "intersect":
            np.testing.assert_array_equal(result, np.minimum(expected, left_half))
        else:
            assert [layer["name"] for layer in report["after"]][2:] == ["<selection>"], "one layer is added"
            assert report["after"][1]["mask_md5"] == report["before"][0]["mask_md5"], "the original mask is kept"
            np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("precision", [[], ["u16"]], ids=["8-bit", "16-bit"])
def test_selection_output_is_the_servers_mask_and_changes_no_layer(gimp, home, workdir, persons_dev, server,
                                                                   precision):
    """Output *Selection (soft)*: the image's selection becomes the person's soft mask, placed at the layer's
    offsets, replacing what was selected; no layer, mask or pixel changes."""
    name = "selection-offsets-" + ("-".join(precision) or "u8")
    sent, selection_out = workdir / f"{name}.sent", workdir / f"{name}.selection"
    source = photo(persons_dev)
    report = scenario(gimp, home, workdir, name, input=str(source), prepare=["offsets", *precision],
                      sent_pixels=str(sent),
                      selection_out=str(selection_out),
                      args={"segmenter": "selfie", "output": "selection", "endpoint": server})
    assert report["success"], report.get("error")
    before, after = report["before"], report["after"]
    assert before[-1]["empty"] and not after[-1]["empty"]
    assert after[:-1] == before[:-1], "a layer, mask or pixel changed"
    width, height = Image.open(source).size
    expected = server_mask(server, sent.read_bytes(), width, height, "RGB8")
    selection = np.frombuffer(selection_out.read_bytes(), np.uint8).reshape(height, width)  # the image's size
    np.testing.assert_array_equal(selection[7:, 13:], expected[: height - 7, : width - 13])  # layer at (13, 7)
    assert selection[:7].max() == 0 and selection[:, :13].max() == 0
    assert ((expected > 10) & (expected < 245)).sum() > 0, "the mask has soft values to check: the selection is soft"


@pytest.mark.gui
@pytest.mark.parametrize(
    "output, prepare, policy, comic",
    [
        ("mask", ["existing-mask"], "new-layer", "none"),
        ("black-layer", ["alpha"], "replace", "none"),
        ("mask", [], "replace", "posterize"),
        ("selection", [], "replace", "none"),
    ],  # the comic layers hide the masked photo below them: in the same step
    ids=["mask-on-a-copy", "black-layer", "mask-and-comic-layers", "selection"],
)
def test_one_undo_step_removes_everything(gimp, home, workdir, persons_dev, server, output, prepare, policy, comic):
    """Edit › Undo (Ctrl+Z) once, in the real GIMP GUI on a virtual display: the image is as before."""
    if not gimp.gui_available():
        message = "GIMP's GUI on Xvfb is not available (apt-get install xvfb xauth xdotool)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    report = scenario(
        gimp,
        home,
        workdir,
        f"undo-{output}-{comic}",
        gui=True,
        input=str(photo(persons_dev)),
        prepare=prepare,
        undo=True,
        args={"segmenter": "selfie", "output": output, "existing-mask": policy, "comic": comic, "endpoint": server},
    )
    assert report["success"], report.get("error")
    assert report["after"] != report["before"], "the procedure changed nothing to undo"
    assert report["windows"] >= 1, "GIMP's image window did not appear"
    assert report["after_undo"] == report["before"]


@pytest.fixture(scope="module")
def doubles_server():
    """A server with the test doubles: "brightness" gives a black photo an all-black mask (nobody found)."""
    from tests import doubles

    running = Server(ServerConfig(endpoint="tcp://127.0.0.1:*"), factory=doubles.factory, names=["brightness"])
    with running:
        yield running.endpoint


@pytest.fixture
def silent_server():
    """An address where a "server" answers ping, takes a job, reports one progress and then says nothing more:
    a server that died in the middle of the job, as the plug-in sees it."""
    import json
    import threading

    import zmq

    from cutout_common import protocol

    context = zmq.Context.instance()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            if not router.poll(100):
                continue
            identity, header, *_frames = router.recv_multipart()
            request = json.loads(header)
            if request["op"] == "ping":
                router.send_multipart([identity, *protocol.encode_result(request["id"], pong=True)])
            elif request["op"] not in ("cancel", "hello"):
                router.send_multipart([identity, *protocol.encode_progress(request["id"], "segment", 0.1)])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{port}"
    stop.set()
    thread.join(5)
    router.close(0)


def test_nobody_found_and_a_server_gone_silent_are_said_and_change_nothing(
    gimp, home, workdir, doubles_server, silent_server
):
    """Issue 29, items 6 and 7, in one GIMP: a photo with nobody in it is refused ("No person was found") for every
    output, instead of an all-black mask or layer; a server that stops answering mid-job is said once, with the
    next step and where its log is."""
    black = workdir / "nobody.png"
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(black)
    runs = [
        {"endpoint": doubles_server, "output": "mask"},
        {"endpoint": doubles_server, "output": "black-layer"},
        {"endpoint": doubles_server, "output": "mask", "comic": "posterize"},
        {"endpoint": ""},
    ]
    with configured(home, endpoint=silent_server, silence_timeout=2, server_command=marker_command(workdir / "m")):
        report = scenario(
            gimp,
            home,
            workdir,
            "messages",
            input=str(black),
            args={"segmenter": "brightness", "timeout": 60},
            runs=runs,
        )
    *nobody, silent = report["runs"]
    for run in nobody:
        assert not run["success"] and "No person was found in the layer “Background”" in run["error"], report["runs"]
    assert not silent["success"] and silent["seconds"] < 30, silent
    assert silent["error"].count("stopped answering") == 1 and silent["error"].count(silent_server) == 1, silent
    assert "Run the command again" in silent["error"] and "server.log" in silent["error"], silent
    assert report["after"] == report["before"]


def test_unreachable_server_leaves_the_image_untouched(gimp, home, workdir, persons_dev):
    with no_server_start(home):  # the configured endpoint is down and its server command cannot run
        report = scenario(
            gimp,
            home,
            workdir,
            "unreachable",
            input=str(photo(persons_dev)),
            args={"segmenter": "selfie", "output": "cutout-layer", "endpoint": "", "timeout": 5},
        )
    assert report["registered"] and not report["success"]
    assert "Could not start the Person Cutout server" in report.get("error", "")
    assert report["after"] == report["before"]


def test_wrong_endpoints_are_told_at_once_and_start_no_server(gimp, home, workdir, persons_dev):
    """Issue 17, defect 4: a server is started only for the configured local endpoint; anything else says why.

    The server command only writes down that it ran (and exits, as a server that cannot bind does):
    a malformed, a remote and another local endpoint start nothing and fail within 5 s; the
    configured one starts it once, and its exit is reported at once, not after start_timeout.
    """
    import socket

    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        free = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    marker = workdir / "server-started.txt"
    marker.unlink(missing_ok=True)
    runs = [{"endpoint": "localhost:5555"}, {"endpoint": "tcp://192.0.2.1:5555"}, {"endpoint": free}, {"endpoint": ""}]
    with configured(home, endpoint=DEAD_ENDPOINT, server_command=marker_command(marker), start_timeout=120):
        report = scenario(
            gimp,
            home,
            workdir,
            "endpoints",
            input=str(photo(persons_dev)),
            args={"segmenter": "selfie", "output": "cutout-layer", "timeout": 30},
            runs=runs,
        )
    malformed, remote, other_port, dead = report["runs"]
    assert "is not a server address" in malformed["error"] and "tcp://HOST:PORT" in malformed["error"]
    assert "another computer" in remote["error"]
    assert DEAD_ENDPOINT in other_port["error"] and free in other_port["error"]
    assert all(run["seconds"] < 5 and not run["success"] for run in (malformed, remote, other_port)), report["runs"]
    assert "stopped as it started" in dead["error"] and "no server here" in dead["error"]
    assert dead["seconds"] < 20, "a server that exits at once is reported at once, not after start_timeout"
    assert marker.read_text().split() == ["--endpoint", DEAD_ENDPOINT], "one server, for the configured endpoint only"
    assert report["after"] == report["before"]


def test_uninstall_leaves_a_used_profile_as_it_was(gimp, workdir):
    """Install, let GIMP register the plug-in, uninstall: GIMP no longer knows it and none of our files remain."""
    home = workdir / "home-uninstall"
    profile = home / ".config" / "GIMP" / "3.0"
    profile.mkdir(parents=True, exist_ok=True)
    astronaut = str(REPO / "tests" / "data" / "astronaut.png")
    assert not scenario(gimp, home, workdir, "uninstall-0", input=astronaut)["registered"]
    before = sorted(str(p.relative_to(profile)) for p in profile.rglob("*"))  # the profile as GIMP wrote it
    record = workdir / "record-uninstall.json"
    assert install(profile, record).returncode == 0
    assert scenario(gimp, home, workdir, "uninstall-1", input=astronaut)["registered"]
    removed = subprocess.run(
        [sys.executable, str(REPO / "install.py"), "--uninstall", "--record", str(record)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert removed.returncode == 0, removed.stderr
    assert sorted(str(p.relative_to(profile)) for p in profile.rglob("*")) == before
    assert not scenario(gimp, home, workdir, "uninstall-2", input=astronaut)["registered"]
    mentions = [p.name for p in profile.rglob("*") if p.is_file() and b"person-cutout" in p.read_bytes()]
    assert mentions == [], f"GIMP's profile still mentions the plug-in in {mentions}"
