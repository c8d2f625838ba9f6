"""The plug-in's GIMP-free logic (gimp_plugin/person-cutout/plugin_logic), without GIMP.

The GIMP modules only read layers, call these functions and write the results back; the real GIMP
tests (tests/test_gimp_*.py) check that wiring. Here: bytes, geometry, the server's answer, settings.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from plugin_logic import (
    comic_options,
    errors,
    pages,
    persons,
    pixel_bytes,
    placement,
    progress,
    replies,
    segmenters,
    settings,
)

from cutout_common import comic_styles, page_geometry, vocabulary


def test_interleave_puts_colours_and_alpha_in_rgba_order():
    colours = bytes([1, 2, 3, 4, 5, 6])
    assert pixel_bytes.interleave(colours, bytes([7, 8])) == bytes([1, 2, 3, 7, 4, 5, 6, 8])
    assert pixel_bytes.opaque(colours) == bytes([1, 2, 3, 255, 4, 5, 6, 255])
    assert pixel_bytes.alpha_of(bytes([1, 2, 3, 7, 4, 5, 6, 8])) == bytes([7, 8])
    with pytest.raises(ValueError):
        pixel_bytes.interleave(colours, bytes([7]))


def test_darkest_is_the_per_pixel_minimum():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, 1000, dtype=np.uint8), rng.integers(0, 256, 1000, dtype=np.uint8)
    assert pixel_bytes.darkest(a.tobytes(), b.tobytes()) == np.minimum(a, b).tobytes()
    with pytest.raises(ValueError):
        pixel_bytes.darkest(b"\x00", b"\x00\x00")


@pytest.mark.parametrize("offset", [(0, 0), (3, 2), (-2, -1), (6, 4), (-5, 0), (40, 40)])
def test_a_plane_lands_at_its_offset_clipped_to_the_canvas(offset):
    plane = np.arange(1, 5 * 4 + 1, dtype=np.uint8).reshape(4, 5)
    canvas = np.zeros((7, 9), np.uint8)
    ox, oy = offset
    for y in range(4):  # the reference: pixel by pixel
        for x in range(5):
            if 0 <= y + oy < 7 and 0 <= x + ox < 9:
                canvas[y + oy, x + ox] = plane[y, x]
    placed = pixel_bytes.on_canvas(plane.tobytes(), 5, 4, offset, (9, 7))
    assert placed == canvas.tobytes()


def test_person_bounds_find_the_half_opaque_box_or_the_whole_photo():
    mask = np.zeros((10, 12), np.uint8)
    mask[2:7, 3:9] = 128
    mask[8, 0] = 127  # under 50 %: not the person
    assert placement.person_bounds(mask.tobytes(), 12, 10) == (3, 2, 9, 7)
    assert placement.person_bounds(np.zeros((10, 12), np.uint8).tobytes(), 12, 10) == (0, 0, 12, 10)
    assert placement.person_bounds(None, 12, 10) == (0, 0, 12, 10)


def test_whole_fits_inside_and_fill_covers_the_panel():
    panel = {"x": 100, "y": 50, "width": 200, "height": 400}
    bounds = (10, 10, 110, 60)  # 100 × 50, not touching the photo's bottom (layer 200 × 100)
    scale, x, y = placement.placement(bounds, (200, 100), panel, "whole")
    assert scale == pytest.approx(2.0)  # the width limits: 100 px → 200 px
    assert (x + 10 * scale, y + 10 * scale) == pytest.approx((100, 50 + (400 - 100) / 2))  # centred
    scale, x, y = placement.placement(bounds, (200, 100), panel, "fill")
    assert scale == pytest.approx(8.0)  # the height: 50 px → 400 px


def test_a_bust_cut_by_the_photos_bottom_stands_on_the_panels_bottom():
    panel = {"x": 0, "y": 0, "width": 300, "height": 300}
    scale, x, y = placement.placement((50, 20, 150, 100), (200, 100), panel, "whole")
    assert y + 100 * scale == pytest.approx(300, abs=1)


def reply(frames: dict[str, bytes], order: list[str] | None = None):
    names = order or list(frames)
    return SimpleNamespace(frames=frames, header={"frames": [{"name": n} for n in names]})


def test_answers_are_checked_before_anything_is_written():
    good = reply({"mask": bytes(6), "foreground": bytes(18), "part:Hair": bytes(6), "layer:Ink": bytes(24),
                  "layer:Tone": bytes(24)})
    assert replies.checked_mask(good, 3, 2) == bytes(6)
    assert replies.checked_colours(good, "foreground", 3, 2) == bytes(18)
    assert replies.checked_colours(good, "composite", 3, 2) is None
    assert replies.part_frames(good, 3, 2) == [("Hair", bytes(6))]
    assert [name for name, _ in replies.comic_frames(good, 3, 2)] == ["Ink", "Tone"]  # frame order kept
    with pytest.raises(replies.AnswerError):
        replies.checked_mask(reply({"mask": bytes(5)}), 3, 2)
    with pytest.raises(replies.AnswerError):
        replies.part_frames(reply({"mask": bytes(6)}), 3, 2)
    with pytest.raises(replies.AnswerError):
        replies.comic_frames(reply({"mask": bytes(6), "layer:Ink": bytes(20)}), 3, 2)


def test_style_options_come_from_the_servers_table():
    names = [p.name for p in comic_options.all_params()]
    assert len(names) == len(set(names)) and "line_weight" in names and "tone_lpi" in names
    values = {"line-weight": 2.0, "detail": 0.5, "outline": 1.0, "colours": 6.0, "smoothing": 1.0, "dpi": 300.0}
    option = comic_options.style_option("cartoon", values.__getitem__)
    assert option["style"] == "cartoon" and option["soft_edges"] is False
    assert option["colours"] == 6 and isinstance(option["colours"], int) and option["line_weight"] == 2.0
    comic_styles.resolve("cartoon", {k: v for k, v in option.items() if k not in ("style", "soft_edges")})
    full = comic_options.full_option({"style": "lineart", "line_weight": 3.0})
    assert full["line_weight"] == 3.0 and full["outline"] == comic_styles.OUTLINE.default
    assert comic_options.recorded_option({"style": "lineart"}) == comic_options.full_option({"style": "lineart"})


def test_settings_come_from_config_json_or_the_default(tmp_path):
    assert settings.endpoint_or_configured("", tmp_path) == settings.DEFAULT_ENDPOINT
    (tmp_path / settings.CONFIG_FILE).write_text(json.dumps({"endpoint": "tcp://127.0.0.1:6000"}))
    assert settings.endpoint_or_configured("", tmp_path) == "tcp://127.0.0.1:6000"
    assert settings.endpoint_or_configured("ipc:///tmp/x", tmp_path) == "ipc:///tmp/x"
    (tmp_path / settings.CONFIG_FILE).write_text("{broken")
    with pytest.raises(ValueError, match="install Person Cutout again"):
        settings.load_config(tmp_path)


@pytest.mark.parametrize("endpoint", ["localhost:5555", "127.0.0.1:5555", "tcp://127.0.0.1", "tcp://*:5555",
                                      "tcp://127.0.0.1:*", "tcp://127.0.0.1:0", "http://127.0.0.1:5555", "ipc://",
                                      "tcp://0.0.0.0:5555@127.0.0.1", ""])
def test_an_endpoint_that_cannot_be_a_server_is_refused_in_words(endpoint):
    with pytest.raises(settings.EndpointError, match="tcp://HOST:PORT"):
        settings.checked_endpoint(endpoint)


def test_a_server_is_started_only_for_the_configured_local_endpoint():
    config = {"endpoint": "tcp://127.0.0.1:5555", "server_command": ["python", "-m", "server", "serve"]}
    assert settings.checked_endpoint(" tcp://127.0.0.1:5555 ") == "tcp://127.0.0.1:5555"
    assert settings.may_start_server("tcp://127.0.0.1:5555", config)
    assert not settings.may_start_server("tcp://127.0.0.1:5556", config), "a mistyped port: a server nobody stops"
    assert not settings.may_start_server("tcp://192.0.2.1:5555", {**config, "endpoint": "tcp://192.0.2.1:5555"})
    assert not settings.may_start_server("tcp://127.0.0.1:5555", {"endpoint": "tcp://127.0.0.1:5555"}), "no command"
    assert "another computer" in settings.no_server_message("tcp://192.0.2.1:5555", config)
    wrong_port = settings.no_server_message("tcp://127.0.0.1:5556", config)
    assert "tcp://127.0.0.1:5555" in wrong_port and "empty" in wrong_port
    assert "install Person Cutout again" in settings.no_server_message("tcp://127.0.0.1:5555", {})


def test_the_bar_never_runs_backwards_and_each_stage_has_its_share():
    bar = progress.Progress(("segment", "edges", "comic"))
    shown = [
        bar.update(stage, fraction)[1]
        for stage, fraction in [
            ("load", 0.0),
            ("segment", 0.5),
            ("segment", 1.0),
            ("edges", 0.0),
            ("edges", 0.3),
            ("edges", 0.2),
            ("stopping", 0.0),
            ("segment (cpu fallback)", 0.0),
            ("comic", 0.0),
            ("comic", 1.0),
        ]
    ]
    assert shown == sorted(shown), shown
    assert (
        shown[1] == pytest.approx(1 / 6) and shown[4] == pytest.approx(1 / 3 + 0.1) and shown[-1] == pytest.approx(1.0)
    )
    assert bar.update("starting", 0.0)[0] is None, "a heartbeat before the work says nothing new"
    second = progress.Progress(("comic",), 0.5, 1.0)  # Place in Panel…: the second of two groups
    assert second.update("comic", 0.0)[1] == pytest.approx(0.5) and second.update("comic", 0.5)[1] == pytest.approx(
        0.75
    )
    assert progress.Progress(("comic",)).first()[0] == "Drawing the comic layers…"


def test_loading_the_segmenter_moves_the_bar_only_within_the_start_of_its_stage():
    """The server reports loading from 0 to 1 (seconds on a first request): the bar moves, says so, and is not full
    for a stage whose segmenting has not begun."""
    bar = progress.Progress(("segment", "edges"))
    text, loaded = bar.update("load", 1.0)
    assert text == "Loading the segmenter…" and loaded == pytest.approx(0.5 * progress.LOAD_SHARE)
    assert bar.update("load", 0.5)[1] == loaded  # never back
    assert bar.update("segment", 0.5) == ("Finding the person…", pytest.approx(0.25))


def test_a_waiting_request_says_how_many_jobs_must_finish_before_it():
    # ahead: requests waiting before it; one more is running, or it would not wait
    assert progress.queue_text(0) == "Waiting for the server: 1 job ahead"
    assert progress.queue_text(2) == "Waiting for the server: 3 jobs ahead"
    text, fraction = progress.Progress().queued(0)
    assert text == progress.queue_text(0) and fraction == 0.0


def test_segmenters_without_weights_are_named_with_a_command_to_add_them():
    hello = {
        "segmenters": [
            {"name": "rvm", "installed": True},
            {"name": "isnet", "installed": False},
            {"name": "best", "installed": False},
            {"name": "selfie", "installed": True},
        ]
    }
    assert segmenters.not_installed(hello) == ["isnet", "best"]
    assert segmenters.not_installed(None) == [], "without a server nothing is known, nothing is greyed"
    assert segmenters.install_command(["isnet", "best"]) == "python3 install.py --models isnet,rvm,centernet,modnet"
    note = segmenters.install_note(["isnet"], "/opt/person-cutout")
    assert "ISNet" in note and "/opt/person-cutout" in note and "python3 install.py --models isnet" in note
    assert segmenters.install_note([], None) == ""
    assert [nick for nick, _ in segmenters.choices()] == ["default", *vocabulary.SEGMENTERS]


def test_the_page_size_line_gives_pixels_and_memory():
    line = pages.summary("b4-manga", 600, lambda page: page_geometry.layout(page, "3 tiers"))
    assert line.startswith("6071 × 8598 px (52.2 megapixels)")
    page = page_geometry.page("b4-manga", 600)
    panels = page_geometry.layout(page, "3 tiers")
    assert pages.human_bytes(pages.page_bytes(page, panels)) in line
    assert pages.human_bytes(page.width * page.height * 4) in line  # one more full-page RGBA layer
    assert "do not fit" in pages.summary(
        "a4", 300, lambda page: page_geometry.layout(page, None, rows=20, columns=20, gutter_mm=(20.0, 20.0))
    )


def test_each_style_shows_its_own_parameters_and_dpi_says_what_0_means():
    for param in comic_options.all_params():
        having = comic_options.styles_with(param)
        assert having == tuple(s.name for s in comic_styles.STYLES.values() if param in s.params)
    assert comic_options.styles_with(comic_styles.COLOURS) == ("cartoon",)
    assert comic_options.styles_with(comic_styles.TONE_LPI) == ("manga",)
    assert "0 =" in comic_options.param_label(comic_styles.DPI)
    assert comic_options.param_label(comic_styles.LINE_WEIGHT) == "Line _weight (pt)"


def test_every_comic_parameter_has_its_own_access_key():
    """Issue 29, item 13: GIMP warned "no mnemonic for property tone-lpi" and the like for each parameter."""
    keys = [comic_options.MNEMONICS.get(param.name) for param in comic_options.all_params()]
    assert None not in keys, "a parameter without an access key: add it to comic_options.MNEMONICS"
    assert len(set(keys)) == len(keys) and not set(keys) & comic_options.TAKEN, keys
    for param in comic_options.all_params():
        label = comic_options.param_label(param)
        assert label.count("_") == 1 and "(_" not in label, f"{label}: the key is a letter of the English words"
    assert comic_options.with_mnemonic("線寬 (pt)", "w") == "線寬 (pt) (_W)"


def test_a_decided_mask_is_inside_from_half_on():
    mask = bytes(range(256))
    assert pixel_bytes.decided(mask) == bytes([0] * 128 + [255] * 128)


@pytest.mark.parametrize(
    "stages, later",
    [
        (("segment", "edges"), "edges"),
        (("segment", "comic"), "comic"),
        (("refine", "edges"), "edges"),
        (("comic",), "comic"),
    ],
)
def test_the_text_never_goes_back_to_an_earlier_stage(stages, later):
    """Issue 29, item 9: the server's last stage, "encode", is no segmenter's step: after the edges or the comic
    layers the text stays theirs, and the bar ends full."""
    bar = progress.Progress(stages)
    texts = [bar.update(stage, 0.5)[0] for stage in stages]
    text, fraction = bar.update("encode", 1.0)
    assert text in (None, texts[-1]), f"after {later} the text went back to {text!r}"
    assert fraction == pytest.approx(1.0)
    assert bar.update("segment", 0.9)[0] is None, "a late report of an earlier stage keeps the text shown"


def test_a_server_that_stopped_answering_is_said_once_with_the_next_step(tmp_path):
    """Issue 29, item 7: the client's words ("… stopped answering …; it may have stopped") were wrapped in the
    plug-in's own saying the same: now once, with what to do next and where the server's log is."""
    client_words = (
        "the Person Cutout server at tcp://127.0.0.1:5555 stopped answering (nothing for 10 s while it "
        "worked on the request); it may have stopped"
    )
    configured = {"endpoint": "tcp://127.0.0.1:5555", "server_command": ["python", "-m", "server", "serve"]}
    text = errors.server_error_text("unreachable", client_words, {}, "tcp://127.0.0.1:5555", configured)
    assert text.count("stopped answering") == 1 and text.count("tcp://127.0.0.1:5555") == 1, text
    assert "again" in text and errors.SERVER_LOG in text, "the next step: run it again; and where the log is"
    elsewhere = errors.server_error_text("unreachable", client_words, {}, "tcp://127.0.0.1:6000", configured)
    assert "stopped answering" in elsewhere and errors.SERVER_LOG not in elsewhere, "another server's log is not ours"
    remote = errors.server_error_text("unreachable", client_words, {}, "tcp://192.0.2.1:5555", configured)
    assert "that computer" in remote


def test_a_mask_that_keeps_nobody_is_told_apart():
    """Issue 29, item 6: an all-black answer (or one faint everywhere) means nobody; one pixel from half on is one."""
    assert not replies.person_found(bytes(1000)) and not replies.person_found(bytes([127]) * 1000)
    assert replies.person_found(bytes(999) + bytes([128]))
    assert "No person was found" in replies.nobody_found("Background") and "“Background”" in replies.nobody_found(
        "Background"
    )


@pytest.mark.parametrize(
    "preset, dpi, layout, shown",
    [("b4-manga", 600, "3 tiers", 857.6e6), ("b5", 300, "3 tiers", 126.6e6), ("a4", 300, "1 panel", 182.2e6)],
)
def test_the_page_memory_is_what_gimps_status_bar_shows(preset, dpi, layout, shown):
    """Issue 29, item 14: the dialog said about 599 MB for a page GIMP 3.0.4's status bar showed as 857.6 MB (the
    figures here were read from it; tests/test_gimp_gui.py reads it again for the page it makes)."""
    page = page_geometry.page(preset, dpi)
    assert pages.page_bytes(page, page_geometry.layout(page, layout)) == pytest.approx(shown, rel=0.002)


def test_the_person_choices_are_the_servers_and_say_what_they_do(monkeypatch):
    """Issue 29, item 11: "All people" promised passers-by it did not always give; the choices come from the
    server's vocabulary (a new one appears by itself, the first is the default) and say what they do."""
    values = [value for value, _label in persons.choices()]
    assert values == [*vocabulary.PERSON_CHOICES, "under-selection"]
    labels = dict(persons.choices())
    assert labels["all"] == "Everyone the detector finds" and labels["largest"] == "The largest person"
    assert persons.default() == vocabulary.PERSON_CHOICES[0]
    monkeypatch.setattr(vocabulary, "PERSON_CHOICES", ("subjects", "all", "largest"))  # as the lead plans it
    assert persons.choices()[0] == ("subjects", "The photo's subject(s)") and persons.default() == "subjects"
    monkeypatch.setattr(vocabulary, "PERSON_CHOICES", ("all", "largest", "tallest"))  # words not written yet
    assert ("tallest", "Tallest") in persons.choices()


def test_a_photo_without_a_cut_out_is_told_apart():
    """Issue 29, item 4: Place in Panel… says so when it places a whole photo (no mask, or one that keeps all)."""
    assert placement.whole_photo(None) and placement.whole_photo(bytes([128, 255, 200]))
    assert not placement.whole_photo(bytes([255, 0, 255]))
