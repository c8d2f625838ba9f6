# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Checking the server's answer before anything in the image changes.

Every frame the plug-in will write is checked for its size here first, so a bad or partial
answer is an error and the image stays as it was.
"""

from __future__ import annotations

from .i18n import _

PART_PREFIX = "part:"
LAYER_PREFIX = "layer:"


class AnswerError(ValueError):
    """The server's answer lacks something the plug-in needs, or has it at the wrong size."""


def checked_mask(reply, width: int, height: int) -> bytes:
    mask = reply.frames.get("mask")
    if mask is None or len(mask) != width * height:
        raise AnswerError(_("The server's answer has no mask of %(width)d×%(height)d pixels.")
                          % {"width": width, "height": height})
    return mask


#: a mask value from which a pixel is the person's (as GIMP's decided mask and the comic group's cut it)
HALF = 128
_BELOW_HALF = bytes(range(HALF))


def person_found(mask: bytes) -> bool:
    """Whether the mask keeps anything: at least one pixel at half opacity or more.

    A segmenter that finds nobody answers with an all-black mask; written into the image it would
    hide the whole layer (or make an empty layer) without a word.
    """
    return bool(mask.translate(None, _BELOW_HALF))


def nobody_found(layer_name: str) -> str:
    """The message when the mask keeps nothing: what happened, that nothing changed, and what to try."""
    return _("No person was found in the layer “%s”, so nothing was changed. Try another segmenter.") % layer_name


def checked_colours(reply, name: str, width: int, height: int) -> bytes | None:
    """An RGB8 frame (``foreground``, ``composite``) if the answer has it at the right size."""
    colours = reply.frames.get(name)
    return colours if colours is not None and len(colours) == width * height * 3 else None


def part_frames(reply, width: int, height: int) -> list[tuple[str, bytes]]:
    """The reply's part masks as (label, layer-sized GRAY8 bytes), in the server's order; checked."""
    parts = [(name[len(PART_PREFIX):], data) for name, data in reply.frames.items() if name.startswith(PART_PREFIX)]
    if not parts:
        raise AnswerError(_("The server sent no body-part masks (is its “parsing” segmenter up to date?)."))
    for label, data in parts:
        if len(data) != width * height:
            raise AnswerError(_("The server's part mask “%(label)s” is not %(width)d×%(height)d pixels.")
                              % {"label": label, "width": width, "height": height})
    return parts


def layer_frames(reply) -> list[tuple[str, bytes]]:
    """(name, RGBA8 bytes) of the reply's comic layers, in frame order (top first)."""
    named = [f["name"] for f in reply.header.get("frames", [])]
    return [(n[len(LAYER_PREFIX):], reply.frames[n]) for n in named if n.startswith(LAYER_PREFIX)]


def comic_frames(reply, width: int, height: int) -> list[tuple[str, bytes]]:
    """The comic layers of a reply, each checked to be ``width``×``height`` RGBA."""
    frames = layer_frames(reply)
    if not frames:
        raise AnswerError(_("The server's answer has no comic layers."))
    for name, rgba in frames:
        if len(rgba) != width * height * 4:
            raise AnswerError(_("The comic layer “%(name)s” is not %(width)d×%(height)d pixels.")
                              % {"name": name, "width": width, "height": height})
    return frames
