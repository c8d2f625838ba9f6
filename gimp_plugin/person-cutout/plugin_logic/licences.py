# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""The weights' licence, asked once: before the first job with a segmenter whose licence needs consent.

ISNet as packaged by IMG.LY (and ``best``, which runs it) is AGPL-3.0; the user should know
before publishing work made with it. The licence and its notice come from
:mod:`cutout_common.vocabulary` — the table the server and install.py read too — so they are the
same whether the server is running or not. The answer is remembered in ``licences-seen.json``
beside ``config.json``, as ``segmenter: licence identifier``: the same segmenter under a new
licence is asked again, and nothing else is. A reinstall (which replaces the folder) asks once more.
Standard library only, so the tests read and write it without GIMP.
"""

from __future__ import annotations

import json
import os

from cutout_common.vocabulary import NETWORKS, SEGMENTERS

from .i18n import _
from .settings import PLUGIN_DIR

SEEN_FILE = "licences-seen.json"


def needs_notice(segmenter: str) -> bool:
    """Whether this segmenter's weights carry a licence the user must accept before using them."""
    return segmenter in SEGMENTERS and bool(SEGMENTERS[segmenter].notices)


def licence_of(segmenter: str) -> str:
    """The SPDX identifier of the segmenter's weights (all their licences), from the shared vocabulary."""
    return SEGMENTERS[segmenter].licence if segmenter in SEGMENTERS else ""


def _path(folder: str | None) -> str:
    return os.path.join(folder or PLUGIN_DIR, SEEN_FILE)


def _record(folder: str | None) -> dict:
    try:
        with open(_path(folder)) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def seen(segmenter: str, folder: str | None = None) -> bool:
    """Whether the user accepted this segmenter's current licence before."""
    return _record(folder).get(segmenter) == licence_of(segmenter)


def must_ask(segmenter: str, folder: str | None = None) -> bool:
    """Ask before a job with ``segmenter`` starts: its licence needs consent and was not accepted yet."""
    return needs_notice(segmenter) and not seen(segmenter, folder)


def remember(segmenter: str, folder: str | None = None) -> None:
    """Record that the licence was accepted (a failure to write only means it is asked again)."""
    record = _record(folder)
    record[segmenter] = licence_of(segmenter)
    path = _path(folder)
    try:
        with open(path + ".tmp", "w") as handle:
            json.dump(record, handle, indent=1)
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def title(segmenter: str) -> str:
    return _("Licence of the “%s” weights") % segmenter


def message(segmenter: str) -> str:
    """The notice: which weights, under which licence, and what that asks of the user."""
    notices = [_(NETWORKS[n].notice) for n in SEGMENTERS[segmenter].networks if NETWORKS[n].consent]
    return "\n\n".join([
        *notices,
        _("Use “%(segmenter)s” under %(licence)s? You are asked once; your answer is remembered.")
        % {"segmenter": segmenter, "licence": licence_of(segmenter)},
    ])
