"""The plug-in's licence question (issues 11 and 17): asked once per segmenter and licence, before the job.

``licences.py`` is standard library only, so it is tested here without GIMP; the dialog that asks is
driven in the real GIMP by tests/test_gimp_gui.py. The licence and its notice come from the shared
vocabulary, so what is asked and what is remembered do not depend on whether the server is running.
"""

from __future__ import annotations

import json

from plugin_logic import licences

from cutout_common import vocabulary


def test_only_weights_that_need_consent_are_asked_about():
    assert licences.needs_notice("isnet") and licences.needs_notice("best")
    assert not any(
        licences.needs_notice(name) for name in ("default", "rvm", "selfie", "maskrcnn", "deeplab", "parsing")
    )


def test_the_licence_and_its_words_come_from_the_vocabulary_whatever_the_server_says():
    assert licences.licence_of("isnet") == vocabulary.SEGMENTERS["isnet"].licence
    assert licences.licence_of("best") == vocabulary.SEGMENTERS["best"].licence  # all its networks' licences
    text = licences.message("best")
    assert vocabulary.NETWORKS["isnet"].notice in text and licences.licence_of("best") in text


def test_asked_once_then_remembered_and_again_for_a_new_licence(tmp_path, monkeypatch):
    assert licences.must_ask("isnet", tmp_path)
    licences.remember("isnet", tmp_path)
    assert not licences.must_ask("isnet", tmp_path) and licences.seen("isnet", tmp_path)
    assert licences.must_ask("best", tmp_path), "each segmenter is asked on its own"
    assert not licences.must_ask("rvm", tmp_path), "a licence that needs no consent is never asked"
    licences.remember("best", tmp_path)
    record = json.loads((tmp_path / licences.SEEN_FILE).read_text())
    assert record == {"isnet": licences.licence_of("isnet"), "best": licences.licence_of("best")}
    # the weights come under another licence: the remembered answer no longer holds
    monkeypatch.setattr(licences, "licence_of", lambda name: "AGPL-3.0-or-later")
    assert licences.must_ask("isnet", tmp_path)


def test_a_broken_record_means_ask_again(tmp_path):
    (tmp_path / licences.SEEN_FILE).write_text("not json")
    assert licences.must_ask("isnet", tmp_path)
    licences.remember("isnet", tmp_path)
    assert not licences.must_ask("isnet", tmp_path)
    (tmp_path / licences.SEEN_FILE).write_text("[1, 2]")
    assert licences.must_ask("isnet", tmp_path)
