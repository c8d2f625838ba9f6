"""Comic styles and their parameters: names, defaults, ranges and units, and checking requests.

One table serves the server's ``hello`` (so the GIMP dialog can build its widgets) and
:func:`server.comic.render` (so a request gets the same defaults and limits).
Lengths are print units — points for lines, lines per inch for tone — turned into pixels
with the photo's print resolution (see :func:`server.comic.print_dpi`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    default: float | int
    minimum: float | int
    maximum: float | int
    unit: str = ""
    help: str = ""

    @property
    def kind(self) -> str:
        return "int" if isinstance(self.default, int) else "float"


DPI = Param("dpi", "Print resolution", 0, 0, 2400, "dpi",
            "pixels per inch of the photo as printed; 0 = the photo's long side printed 180 mm")
LINE_WEIGHT = Param("line_weight", "Line weight", 1.0, 0.0, 6.0, "pt", "ink line width; 0 = no lines")
DETAIL = Param("detail", "Detail", 0.5, 0.0, 1.0, "", "how many of the weaker edges get a line")
OUTLINE = Param("outline", "Outline", 1.5, 0.0, 6.0, "pt", "silhouette stroke width; 0 = none")
COLOURS = Param("colours", "Number of colours", 8, 2, 16, "", "flat colours inside the person")
LEVELS = Param("levels", "Levels per channel", 4, 2, 8, "", "bands per red, green and blue channel")
SMOOTHING = Param("smoothing", "Smoothing", 1.0, 0.0, 4.0, "mm", "size of the smallest flat area")
TONE_LPI = Param("tone_lpi", "Tone frequency", 60.0, 20.0, 150.0, "lpi", "screentone lines per inch")
TONE_ANGLE = Param("tone_angle", "Tone angle", 45.0, 0.0, 90.0, "°", "screen angle")
TONE_DOT = Param("tone_dot", "Tone dot size", 25.0, 5.0, 70.0, "%", "ink coverage of the screentone")
SHADOW = Param("shadow", "Solid black", 0.08, 0.0, 0.5, "", "darkest share of the person filled black")
MIDTONE = Param("midtone", "Tone area", 0.35, 0.0, 1.0, "", "share of the person, after the blacks, that gets tone")


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
              (LINE_WEIGHT, DETAIL, OUTLINE, SHADOW, MIDTONE, TONE_LPI, TONE_ANGLE, TONE_DOT, DPI),
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
        {
            "name": s.name, "label": s.label, "help": s.help, "layers": list(s.layers),
            "params": [{**asdict(p), "type": p.kind} for p in s.params],
        }
        for s in STYLES.values()
    ]


def resolve(style: str, params: dict[str, Any] | None) -> tuple[Style, dict[str, float | int]]:
    """The style and its complete parameters: defaults filled in, values checked.

    Raises ``ValueError`` (unknown style or parameter, value out of range) or ``TypeError``
    (not a number), which the pipeline reports as an option error.
    """
    if style not in STYLES:
        raise ValueError(f"unknown comic style {style!r}; choose from {', '.join(STYLES)}")
    spec = STYLES[style]
    known = {p.name: p for p in spec.params}
    params = dict(params or {})
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"style {style!r} has no parameter {', '.join(unknown)}; it has {', '.join(known)}")
    values: dict[str, float | int] = {}
    for name, p in known.items():
        value = params.get(name, p.default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, not {value!r}")
        if p.kind == "int":
            if float(value) != int(value):
                raise ValueError(f"{name} must be a whole number, not {value!r}")
            value = int(value)
        if not p.minimum <= value <= p.maximum:
            raise ValueError(f"{name}={value} out of range {p.minimum}–{p.maximum}")
        values[name] = value
    return spec, values
