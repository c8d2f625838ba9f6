# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Comic layers in GIMP: the server's ``layer:<Name>`` frames as editable layers in a masked group.

The group sits above the photo layer, holds ``Ink``, ``Tone`` and ``Flat colour`` (whichever
the style has, top first) and is masked by the person's mask, so an artist can repaint any
layer, hide it, or refine the mask, as with layers drawn by hand. The group carries a parasite
naming the photo layer (by tattoo), which is how *Place in Panel…* finds the comic layers of a
cut-out, and the full comic option it was made with, which is how Place in Panel… draws the
layers again at the page's resolution.
"""

from __future__ import annotations

import json

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp  # noqa: E402
from server_link import MASK_FORMAT, write_pixels  # noqa: E402

from cutout_common import comic_styles  # noqa: E402

COMIC_PARASITE = "person-cutout-comic"
STYLE_NAMES = list(comic_styles.STYLES)


def style_choices() -> list[tuple[str, str]]:
    return [(s.name, f"{s.label} — {s.help}") for s in comic_styles.STYLES.values()]


def all_params() -> list:
    """Every parameter of every style once, in table order (the procedure's arguments)."""
    seen = {}
    for style in comic_styles.STYLES.values():
        for param in style.params:
            seen.setdefault(param.name, param)
    return list(seen.values())


def argument_name(param) -> str:
    """PDB argument names use dashes: ``line_weight`` -> ``line-weight``."""
    return param.name.replace("_", "-")


def style_options(style: str, config) -> dict:
    """The ``comic`` option of a request: the style and the values of its own parameters."""
    # the group's mask applies the soft edge; layers multiplied by it too would get mask² edges
    options = {"style": style, "soft_edges": False}
    for param in comic_styles.STYLES[style].params:
        value = config.get_property(argument_name(param))
        options[param.name] = int(value) if param.kind == "int" else float(value)
    return options


def layer_frames(reply) -> list[tuple[str, bytes]]:
    """(name, RGBA8 bytes) of the reply's comic layers, in frame order (top first)."""
    named = [f["name"] for f in reply.header.get("frames", [])]
    return [(n.split(":", 1)[1], reply.frames[n]) for n in named if n.startswith("layer:")]


def checked_frames(reply, width: int, height: int) -> list[tuple[str, bytes]]:
    """The comic layers of a reply, each checked to be ``width``×``height`` RGBA; raises ValueError.

    Called before anything is added, so a bad answer leaves the image untouched.
    """
    frames = layer_frames(reply)
    if not frames:
        raise ValueError("the server's answer has no comic layers")
    for name, rgba in frames:
        if len(rgba) != width * height * 4:
            raise ValueError(f"comic layer {name!r} is not {width}×{height} RGBA")
    return frames


def full_option(option: dict) -> dict:
    """``option`` with every parameter of its style filled in (its defaults), as recorded on a group."""
    params = comic_styles.STYLES[option["style"]].params
    return {"soft_edges": False, **{p.name: p.default for p in params}, **option}


def add_comic_group(image, photo, reply, option: dict):
    """The comic layers in a new group above ``photo``, masked by the reply's mask; returns the group.

    ``option`` is the request's ``comic`` option, recorded so the group can be drawn again.
    """
    style = option["style"]
    width, height = photo.get_width(), photo.get_height()
    frames = checked_frames(reply, width, height)
    offsets = photo.get_offsets()
    group = Gimp.GroupLayer.new(image, f"Comic ({style})")
    image.insert_layer(group, photo.get_parent(), image.get_item_position(photo))
    for position, (name, rgba) in enumerate(frames):
        layer = Gimp.Layer.new(image, name, width, height, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, group, position)
        layer.set_offsets(offsets.offset_x, offsets.offset_y)
        write_pixels(layer, "R'G'B'A u8", rgba)
    mask = group.create_mask(Gimp.AddMaskType.WHITE)
    group.add_mask(mask)
    write_pixels(mask, MASK_FORMAT, reply.frames["mask"])
    tag = json.dumps({"photo": photo.get_tattoo(), "style": style, "comic": full_option(option)}).encode()
    group.attach_parasite(Gimp.Parasite.new(COMIC_PARASITE, Gimp.PARASITE_PERSISTENT, tag))
    return group


def comic_info(item) -> dict | None:
    """The parasite of a comic group made by :func:`add_comic_group`, or None."""
    parasite = item.get_parasite(COMIC_PARASITE)
    if parasite is None:
        return None
    try:
        return json.loads(bytes(parasite.get_data()).decode())
    except ValueError:
        return None


def recorded_option(info: dict) -> dict:
    """The comic option a group was made with; a group made before it was recorded gets its style's defaults."""
    return dict(info.get("comic") or full_option({"style": info["style"]}))


def replace_layers(group, reply, photo) -> None:
    """The group's layers redrawn: the reply's pixels at ``photo``'s size and place, names and order kept.

    The group's mask becomes the reply's mask (the person's, at that size).
    """
    width, height = photo.get_width(), photo.get_height()
    frames = dict(checked_frames(reply, width, height))
    layers = group.get_children()
    extra = [x.get_name() for x in layers if x.get_name() not in frames]
    if extra:  # checked first: a group half redrawn would be worse than one only scaled
        raise ValueError(f"{group.get_name()} holds layers the style does not draw ({', '.join(extra)})")
    offsets = photo.get_offsets()
    for layer in layers:
        layer.resize(width, height, 0, 0)
        layer.set_offsets(offsets.offset_x, offsets.offset_y)
        write_pixels(layer, "R'G'B'A u8", frames[layer.get_name()])
    if group.get_mask() is not None:
        group.remove_mask(Gimp.MaskApplyMode.DISCARD)
    group.add_mask(group.create_mask(Gimp.AddMaskType.WHITE))
    write_pixels(group.get_mask(), MASK_FORMAT, reply.frames["mask"])
