"""Comic styles and their parameters: names, defaults, ranges and units, and checking requests.

One table serves the server's ``hello`` (so the GIMP dialog can build its widgets) and
:func:`server.comic.render` (so a request gets the same defaults and limits).
Lengths are print units — points for lines, lines per inch for tone — turned into pixels
with the photo's print resolution (see :func:`server.comic.print_dpi`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .options import Option, check_options, describe

#: a style's parameters are options like any other (see :mod:`cutout_common.options`)
Param = Option


def _param(name: str, label: str, default: float, minimum: float, maximum: float, unit: str, help: str) -> Option:
    kind = "int" if isinstance(default, int) else "float"
    return Option(name, label, kind, default, minimum, maximum, unit=unit, help=help)


DPI = _param("dpi", "Print resolution", 0, 0, 2400, "dpi",
             "pixels per inch of the photo as printed; 0 = the photo's long side printed 180 mm")
LINE_WEIGHT = _param("line_weight", "Line weight", 1.0, 0.0, 6.0, "pt", "ink line width; 0 = no lines")
DETAIL = _param("detail", "Detail", 0.5, 0.0, 1.0, "", "how many of the weaker edges get a line")
OUTLINE = _param("outline", "Outline", 1.5, 0.0, 6.0, "pt", "silhouette stroke width; 0 = none")
COLOURS = _param("colours", "Number of colours", 8, 2, 16, "", "flat colours inside the person")
LEVELS = _param("levels", "Levels per channel", 4, 2, 8, "", "bands per red, green and blue channel")
SMOOTHING = _param("smoothing", "Smoothing", 1.0, 0.0, 4.0, "mm", "size of the smallest flat area")
TONE_LPI = _param("tone_lpi", "Tone frequency", 60.0, 20.0, 150.0, "lpi", "screentone lines per inch")
TONE_ANGLE = _param("tone_angle", "Tone angle", 45.0, 0.0, 90.0, "°", "screen angle")
TONE_DOT = _param("tone_dot", "Tone dot size", 25.0, 5.0, 70.0, "%",
                  "ink coverage of the light screentone, on mid-tones")
DENSE_DOT = _param("dense_dot", "Dense tone dot size", 55.0, 5.0, 70.0, "%",
                   "ink coverage of the dense screentone, on dark parts not filled black")
#: manga's tone levels are on the person's own scale (server/comic/manga.py): 0 its darkest, 1 its lightest
SHADOW = _param("shadow", "Solid black", 0.22, 0.0, 1.0, "",
                "tones of the person up to this level (0 its darkest, 1 its lightest) are filled black")
MIDTONE = _param("midtone", "Tone area", 0.45, 0.0, 1.0, "",
                 "tones up to this level get screentone: dense in the darker half, light in the lighter")


@dataclass(frozen=True)
class Style:
    name: str
    label: str
    layers: tuple[str, ...]  # top first, as they stack in the layer group
    params: tuple[Param, ...]
    help: str = ""


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style("cartoon", "Cartoon", ("Ink", "Flat colour"),
              (LINE_WEIGHT, DETAIL, OUTLINE, COLOURS, SMOOTHING, DPI),
              "smoothed flat colours picked from the person (k-means) with ink outlines"),
        Style("manga", "Manga", ("Ink", "Tone", "Flat colour"),
              (LINE_WEIGHT, DETAIL, OUTLINE, SHADOW, MIDTONE, TONE_LPI, TONE_ANGLE, TONE_DOT, DENSE_DOT, DPI),
              "black ink, solid blacks and halftone screentone on white"),
        Style("lineart", "Line art", ("Ink",), (LINE_WEIGHT, DETAIL, OUTLINE, DPI),
              "ink lines only, for inking over by hand"),
        Style("posterize", "Posterize", ("Flat colour",), (LEVELS, SMOOTHING, DPI),
              "flat colour bands"),
    )
}


def styles() -> list[dict[str, Any]]:
    """The styles with their layers and parameters (default, minimum, maximum, unit), JSON-ready."""
    return [
        {"name": s.name, "label": s.label, "help": s.help, "layers": list(s.layers), "params": describe(s.params)}
        for s in STYLES.values()
    ]


def resolve(style: str, params: dict[str, Any] | None) -> tuple[Style, dict[str, float | int]]:
    """The style and its complete parameters: defaults filled in, values checked.

    Raises :class:`~cutout_common.options.OptionError` (a ``ValueError``; a ``TypeError`` too for a value
    that is not a number), which the pipeline reports as an option error.
    """
    if style not in STYLES:
        raise ValueError(f"unknown comic style {style!r}; choose from {', '.join(STYLES)}")
    spec = STYLES[style]
    return spec, check_options(spec.params, params, f"style {style!r}")
