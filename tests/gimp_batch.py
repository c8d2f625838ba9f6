# Run inside GIMP 3 by python-fu-eval (tests/gimp_harness.py):
#     gimp-console-3.0 ... --batch-interpreter=python-fu-eval -b 'exec(open(".../gimp_batch.py").read())' --quit
# The scenario comes as JSON in $PC_SCENARIO; the report goes to $PC_REPORT.
# It loads a photo, prepares the layer (type, offsets, existing mask), snapshots every layer's
# pixels, runs python-fu-person-cutout through the PDB, and reports what changed.
import hashlib
import json
import os
import sys
import time

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

sys.path.insert(0, os.environ["PC_TESTS"])  # this folder (tests/gimp_harness.py sets it)
from gimp_undo import finish  # noqa: E402

scenario = json.loads(os.environ["PC_SCENARIO"])
report = {"steps": []}


def pixels(drawable, fmt):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP))


def describe(image):
    layers = []
    for layer in image.get_layers():
        offsets = layer.get_offsets()
        entry = {
            "name": layer.get_name(),
            "width": layer.get_width(),
            "height": layer.get_height(),
            "offsets": [offsets.offset_x, offsets.offset_y],
            "has_alpha": layer.has_alpha(),
            "visible": layer.get_visible(),
            "is_rgb": layer.is_rgb(),
            "md5": hashlib.md5(pixels(layer, "R'G'B'A float")).hexdigest(),
            "mask_md5": None,
        }
        mask = layer.get_mask()
        if mask is not None:
            entry["mask_md5"] = hashlib.md5(pixels(mask, "Y float")).hexdigest()
        layers.append(entry)
    selection = image.get_selection()  # the selection is part of what a step changes and one undo restores
    layers.append({"name": "<selection>", "empty": Gimp.Selection.is_empty(image),
                   "md5": hashlib.md5(pixels(selection, "Y u8")).hexdigest()})
    return layers


source = scenario["input"]
if not os.path.isfile(source):
    raise FileNotFoundError(source)
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(source))
layer = image.get_layers()[0]
if scenario.get("undo") and not image.undo_is_enabled():
    image.undo_enable()  # GIMP 3.0.4's JPEG loader, called from a plug-in, leaves undo off; File › Open does not
prepare = scenario.get("prepare", [])
if "gray" in prepare:
    image.convert_grayscale()
if "u16" in prepare:
    image.convert_precision(Gimp.Precision.U16_NON_LINEAR)
if "alpha" in prepare:
    layer.add_alpha()
if "offsets" in prepare:
    layer.set_offsets(13, 7)
if "existing-mask" in prepare:
    existing = layer.create_mask(Gimp.AddMaskType.WHITE)
    layer.add_mask(existing)
    width, height = layer.get_width(), layer.get_height()
    left_half = bytes([255 if x < width // 2 else 0 for x in range(width)]) * height
    buffer = existing.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), "Y u8", left_half)
    buffer.flush()
if scenario.get("sent_pixels"):  # what the plug-in will send, for comparison with the server's own run
    fmt = {(True, False): "R'G'B' u8", (True, True): "R'G'B'A u8", (False, False): "Y' u8", (False, True): "Y'A u8"}
    with open(scenario["sent_pixels"], "wb") as handle:
        handle.write(pixels(layer, fmt[(layer.is_rgb(), layer.has_alpha())]))

report["before"] = describe(image)
report["layer_type"] = {"rgb": layer.is_rgb(), "alpha": layer.has_alpha(), "precision": str(image.get_precision())}

if scenario.get("undo"):  # the GUI run: the image in a window, as a user has it
    Gimp.Display.new(image)
    Gimp.displays_flush()

procedure = Gimp.get_pdb().lookup_procedure("python-fu-person-cutout")
report["registered"] = procedure is not None
report["procedures"] = {}  # each menu entry as GIMP registered it: its label and menu
for name in ("python-fu-person-cutout", "python-fu-person-cutout-hints-layer", "python-fu-person-cutout-refine",
             "python-fu-person-cutout-comic-layers", "python-fu-person-cutout-place-in-panel",
             "python-fu-person-cutout-comic-page"):
    entry = Gimp.get_pdb().lookup_procedure(name)
    if entry is not None:
        report["procedures"][name] = {"label": entry.get_menu_label(), "paths": list(entry.get_menu_paths())}
        edges = entry.find_argument("edges")  # the help GIMP shows for the Edges drop-down
        if edges is not None:
            report["procedures"][name]["edges_help"] = edges.get_blurb()


def run(args):
    """One call of the procedure with ``args``; (success, error, seconds)."""
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    for key, value in args.items():
        config.set_property(key, value)
    started = time.monotonic()
    result = procedure.run(config)
    seconds = round(time.monotonic() - started, 2)
    status = result.index(0)
    error = str(result.index(1)) if status != Gimp.PDBStatusType.SUCCESS and result.length() > 1 else None
    return status, error, seconds


if procedure is not None:
    for extra in scenario.get("runs", []):  # several calls instead of one, each reported (error, seconds)
        status, error, seconds = run({**scenario.get("args", {}), **extra})
        report.setdefault("runs", []).append({"success": status == Gimp.PDBStatusType.SUCCESS, "error": error,
                                              "seconds": seconds})
if procedure is not None and not scenario.get("runs"):
    status, error, _seconds = run(scenario.get("args", {}))
    report["status"] = status.value_nick if hasattr(status, "value_nick") else str(status)
    report["success"] = status == Gimp.PDBStatusType.SUCCESS
    if error is not None:
        report["error"] = error
if procedure is not None:
    report["after"] = describe(image)
    mask = layer.get_mask()
    copies = [x for x in image.get_layers() if x.get_name().endswith("(cut out)")]
    target = copies[0].get_mask() if copies else mask
    if target is not None and scenario.get("mask_out"):
        with open(scenario["mask_out"], "wb") as handle:
            handle.write(pixels(target, "Y u8"))
    if scenario.get("selection_out"):  # the image's selection channel, image-sized
        with open(scenario["selection_out"], "wb") as handle:
            handle.write(pixels(image.get_selection(), "Y u8"))
    if scenario.get("visible_out"):  # what GIMP renders: the image's projection, mask applied
        visible = Gimp.Layer.new_from_visible(image, image, "visible")
        with open(scenario["visible_out"], "wb") as handle:
            handle.write(pixels(visible, "R'G'B'A u8"))
        visible.delete()
    if scenario.get("png_out"):  # GIMP's own PNG export merges the visible layers and applies the mask
        Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(scenario["png_out"]), None)
    for extra in image.get_layers():
        if extra.get_name() in ("Person cut-out", "Person on black") and scenario.get("layer_out"):
            with open(scenario["layer_out"], "wb") as handle:
                handle.write(pixels(extra, "R'G'B'A u8"))

finish(scenario, report, image, bool(report.get("success")), describe)
