# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""The comic styles as procedure arguments and request options, from the server's own style table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cutout_common import comic_styles

from .i18n import N_, _

STYLE_NAMES = list(comic_styles.STYLES)
#: labels that must say more than the table's: what 0 means is not a tooltip's business
LABELS = {"dpi": N_("Print resolution (dpi, 0 = long side 18 cm)")}
#: each parameter's access key (Alt+key) in the Draw Comic Layers… dialog: unique there, and none of its other
#: rows' (St_yle, _Mask, Se_gmenter, Server a_ddress, _Timeout) nor GIMP's own buttons' (_Reset, _Cancel, _OK,
#: _Load Saved Settings, _Save Settings) — GIMP warns about a row without one, or one taken twice
MNEMONICS = {"line_weight": "w", "detail": "e", "outline": "u", "colours": "b", "smoothing": "h", "dpi": "p",
             "shadow": "k", "midtone": "a", "tone_lpi": "f", "tone_angle": "n", "tone_dot": "z", "dense_dot": "i",
             "levels": "v"}
#: the access keys the dialog's other rows and GIMP's buttons use
TAKEN = frozenset("ymgdtrcols")


def style_names() -> list[tuple[str, str]]:
    """(style, its name in the user's language), for choices that need no explanation."""
    return [(s.name, _(s.label)) for s in comic_styles.STYLES.values()]


def style_choices() -> list[tuple[str, str]]:
    return [(s.name, f"{_(s.label)} — {_(s.help)}") for s in comic_styles.STYLES.values()]


def param_label(param) -> str:
    """The dialog's label of a style parameter: its name and unit in the user's language, with its access key."""
    if param.name in LABELS:
        label = _(LABELS[param.name])
    else:
        label = f"{_(param.label)} ({param.unit})" if param.unit else _(param.label)
    return with_mnemonic(label, MNEMONICS.get(param.name))


def with_mnemonic(label: str, key: str | None) -> str:
    """``label`` with ``key`` underlined (GTK's ``_``), or ``(_K)`` after it when the words (a translation) lack
    the letter, as GNOME's translations do."""
    if not key:
        return label
    found = label.lower().find(key)
    return f"{label[:found]}_{label[found:]}" if found >= 0 else f"{label} (_{key.upper()})"


def styles_with(param) -> tuple[str, ...]:
    """The styles that have ``param``: the dialog greys it out for the others."""
    return tuple(s.name for s in comic_styles.STYLES.values() if any(p.name == param.name for p in s.params))


def all_params() -> list:
    """Every parameter of every style once, in table order (the procedure's arguments)."""
    seen: dict[str, Any] = {}
    for style in comic_styles.STYLES.values():
        for param in style.params:
            seen.setdefault(param.name, param)
    return list(seen.values())


def argument_name(param) -> str:
    """PDB argument names use dashes: ``line_weight`` -> ``line-weight``."""
    return param.name.replace("_", "-")


def style_option(style: str, value_of: Callable[[str], Any]) -> dict:
    """The ``comic`` option of a request: the style and the values of its own parameters.

    ``value_of(argument_name)`` reads the procedure's argument (``config.get_property``).
    """
    # the group's mask applies the soft edge; layers multiplied by it too would get mask² edges
    option = {"style": style, "soft_edges": False}
    for param in comic_styles.STYLES[style].params:
        value = value_of(argument_name(param))
        option[param.name] = int(value) if param.kind == "int" else float(value)
    return option


def full_option(option: dict) -> dict:
    """``option`` with every parameter of its style filled in (its defaults), as recorded on a group."""
    params = comic_styles.STYLES[option["style"]].params
    return {"soft_edges": False, **{p.name: p.default for p in params}, **option}


def recorded_option(info: dict) -> dict:
    """The comic option a group was made with; a group made before it was recorded gets its style's defaults."""
    return dict(info.get("comic") or full_option({"style": info["style"]}))
