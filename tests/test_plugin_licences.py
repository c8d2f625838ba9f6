"""The plug-in's licence notice (issue 11): shown once per segmenter and licence, remembered beside config.json.

``licences.py`` is standard library only, so it is tested here without GIMP; the dialog itself only
calls it (tests/test_gimp_*.py run the plug-in non-interactively, where it never shows).
"""

from __future__ import annotations

import json

from plugin_logic import licences


def test_only_copyleft_weights_get_a_notice():
    assert licences.needs_notice("isnet") and licences.needs_notice("best")
    assert not any(licences.needs_notice(name) for name in ("default", "rvm", "selfie", "maskrcnn", "deeplab", "parsing"))


def test_the_servers_licence_is_shown_when_it_answers():
    hello = {"segmenters": [{"name": "isnet", "licence": "AGPL-3.0"}, {"name": "rvm", "licence": "GPL-3.0"}]}
    assert licences.licence_of("isnet", hello) == "AGPL-3.0"
    assert licences.licence_of("best", None).startswith("AGPL-3.0")  # no server yet: the built-in line
    assert "AGPL-3.0" in licences.message("isnet", "AGPL-3.0")


def test_shown_once_then_remembered_and_again_for_a_new_licence(tmp_path):
    assert not licences.seen("isnet", "AGPL-3.0", tmp_path)
    licences.remember("isnet", "AGPL-3.0", tmp_path)
    assert licences.seen("isnet", "AGPL-3.0", tmp_path)
    assert not licences.seen("best", "AGPL-3.0", tmp_path), "each segmenter is shown once on its own"
    assert not licences.seen("isnet", "AGPL-3.0-or-later", tmp_path), "a changed licence is shown again"
    licences.remember("best", "AGPL-3.0", tmp_path)
    assert json.loads((tmp_path / licences.SEEN_FILE).read_text()) == {"isnet": "AGPL-3.0", "best": "AGPL-3.0"}


def test_a_broken_record_means_show_it_again(tmp_path):
    (tmp_path / licences.SEEN_FILE).write_text("not json")
    assert not licences.seen("isnet", "AGPL-3.0", tmp_path)
    licences.remember("isnet", "AGPL-3.0", tmp_path)
    assert licences.seen("isnet", "AGPL-3.0", tmp_path)
