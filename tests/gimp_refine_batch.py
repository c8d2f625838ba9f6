# Run inside GIMP 3 by python-fu-eval (tests/gimp_harness.py), for tests/test_gimp_refine.py:
#     gimp-3.0 ... --batch-interpreter=python-fu-eval -b 'exec(open(".../gimp_refine_batch.py").read())' --quit
# The scenario comes as JSON in $PC_SCENARIO; the report goes to $PC_REPORT.
# It loads a photo, gives its layer the mask in mask_in (raw GRAY8), runs Add Hints Layer, paints the
# strokes in stroke_in (raw RGBA8 at the layer's size) on the Hints layer, then runs Refine Cut-out… with
# the Hints layer selected, as an artist who has just painted has it. The masks before and after go to
# mask_before / mask_out (raw GRAY8); with "undo" (the GUI run) Ctrl+Z is pressed once and the image
# described again.
import hashlib
import json
import os
import sys

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

sys.path.insert(0, os.environ["PC_TESTS"])  # this folder (tests/gimp_harness.py sets it)
from gimp_undo import finish  # noqa: E402

scenario = json.loads(os.environ["PC_SCENARIO"])
report = {}


def pixels(drawable, fmt):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP))


def put(drawable, fmt, data):
    buffer = drawable.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height()), fmt, data)
    buffer.flush()
    drawable.update(0, 0, drawable.get_width(), drawable.get_height())


def describe(image):
    layers = []
    for layer in image.get_layers():
        mask = layer.get_mask()
        layers.append({
            "name": layer.get_name(), "visible": layer.get_visible(), "mode": str(layer.get_mode()),
            "filters": [effect.get_name() for effect in layer.get_filters()],
            "width": layer.get_width(), "height": layer.get_height(),
            "md5": hashlib.md5(pixels(layer, "R'G'B'A float")).hexdigest(),
            "mask_md5": hashlib.md5(pixels(mask, "Y float")).hexdigest() if mask is not None else None,
        })
    return layers


def run_procedure(name, image, drawables, args):
    procedure = Gimp.get_pdb().lookup_procedure(name)
    if procedure is None:
        return False, f"{name} is not registered"
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", drawables)
    for key, value in args.items():
        config.set_property(key, value)
    result = procedure.run(config)
    succeeded = result.index(0) == Gimp.PDBStatusType.SUCCESS
    return succeeded, None if succeeded or result.length() < 2 else str(result.index(1))


image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(scenario["input"]))
photo = image.get_layers()[0]
if scenario.get("undo") and not image.undo_is_enabled():
    image.undo_enable()
mask = photo.create_mask(Gimp.AddMaskType.WHITE)
photo.add_mask(mask)
with open(scenario["mask_in"], "rb") as handle:
    put(mask, "Y u8", handle.read())
if scenario.get("undo"):  # the GUI run: the image in a window, as a user has it
    Gimp.Display.new(image)
    Gimp.displays_flush()

added, report["hints_error"] = run_procedure("python-fu-person-cutout-hints-layer", image, [photo], {})
hints = [x for x in image.get_layers() if x.get_name() == "Hints"]
report["hints_added"] = added and len(hints) == 1
report["layer_names"] = [x.get_name() for x in image.get_layers()]
if report["hints_added"]:
    hints_layer = hints[0]
    report["hints_transparent"] = set(pixels(hints_layer, "R'G'B'A u8")[3::4]) == {0}
    report["selected"] = [x.get_name() for x in image.get_selected_layers()]
    with open(scenario["stroke_in"], "rb") as handle:  # the artist's strokes, as the brush leaves them
        put(hints_layer, "R'G'B'A u8", handle.read())
    if scenario.get("select"):  # a rectangle selection, for the option "the selection is the person"
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *scenario["select"])
    with open(scenario["mask_before"], "wb") as handle:
        handle.write(pixels(photo.get_mask(), "Y u8"))
    report["before"] = describe(image)
    report["success"], report["error"] = run_procedure(
        "python-fu-person-cutout-refine", image, [hints_layer], scenario.get("args", {}))
    report["after"] = describe(image)
    if photo.get_mask() is not None:
        with open(scenario["mask_out"], "wb") as handle:
            handle.write(pixels(photo.get_mask(), "Y u8"))

finish(scenario, report, image, bool(report.get("success")), describe)
