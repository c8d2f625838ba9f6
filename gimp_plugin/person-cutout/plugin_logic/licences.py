# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""The weights' licence, shown once: the first time a segmenter with a copyleft licence is chosen.

ISNet as packaged by IMG.LY (and ``best``, which runs it) is AGPL-3.0; the user should know
before publishing work made with it. What was shown is remembered in ``licences-seen.json``
beside ``config.json`` in the plug-in's folder, as ``segmenter: licence`` — a new licence for
the same segmenter is shown again. A reinstall (which replaces the folder) shows it once more.
Standard library only, so the tests read and write it without GIMP.
"""

from __future__ import annotations

import json
import os

from cutout_common.vocabulary import SEGMENTERS

from .settings import PLUGIN_DIR

SEEN_FILE = "licences-seen.json"


def needs_notice(segmenter: str) -> bool:
    """Whether this segmenter's weights carry a licence the user is told about."""
    return segmenter in SEGMENTERS and bool(SEGMENTERS[segmenter].notices)


def licence_of(segmenter: str, hello: dict | None) -> str:
    """The licence the server's ``hello`` lists for ``segmenter`` (it may be another version), else the vocabulary's."""
    for entry in (hello or {}).get("segmenters", []):
        if entry.get("name") == segmenter and entry.get("licence"):
            return entry["licence"]
    return SEGMENTERS[segmenter].licence if segmenter in SEGMENTERS else ""


def _path(folder: str | None) -> str:
    return os.path.join(folder or PLUGIN_DIR, SEEN_FILE)


def seen(segmenter: str, licence: str, folder: str | None = None) -> bool:
    try:
        with open(_path(folder)) as handle:
            return json.load(handle).get(segmenter) == licence
    except (OSError, ValueError, AttributeError):
        return False


def remember(segmenter: str, licence: str, folder: str | None = None) -> None:
    """Record that the licence was shown (a failure to write only means it is shown again)."""
    path = _path(folder)
    try:
        with open(path) as handle:
            record = json.load(handle)
        if not isinstance(record, dict):
            record = {}
    except (OSError, ValueError):
        record = {}
    record[segmenter] = licence
    try:
        with open(path + ".tmp", "w") as handle:
            json.dump(record, handle, indent=1)
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def message(segmenter: str, licence: str) -> str:
    return (
        f"The weights of the segmenter '{segmenter}' are licensed under {licence}.\n\n"
        "Read that licence before you redistribute the weights or offer a service that runs them. "
        "This notice is shown once."
    )
