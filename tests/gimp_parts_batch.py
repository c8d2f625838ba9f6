# Run inside GIMP 3 by python-fu-eval (tests/gimp_harness.py), for tests/test_gimp_parts.py:
#     gimp-console-3.0 ... --batch-interpreter=python-fu-eval -b 'exec(open(".../gimp_parts_batch.py").read())' --quit
# The scenario comes as JSON in $PC_SCENARIO; the report goes to $PC_REPORT.
# It loads a photo, enlarges the canvas and moves the layer (so channels and layer differ in size and
# place), then runs python-fu-person-cutout once per entry of "runs", each after its own preparation
# (a rectangle selection, none, a path), and reports the image (layers, channels, paths, selection)
# before and after each run; the channels' and masks' raw pixels go to dump_dir. With "undo" (the GUI
# run) it presses Ctrl+Z once in the image window after the last run and reports the image again.
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
dump = scenario["dump_dir"]
report = {"runs": []}


def pixels(drawable, fmt):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP))


def describe(image):
    state = {"width": image.get_width(), "height": image.get_height(), "layers": [], "channels": []}
    for layer in image.get_layers():
        offsets = layer.get_offsets()
        mask = layer.get_mask()
        state["layers"].append({
            "name": layer.get_name(), "width": layer.get_width(), "height": layer.get_height(),
            "offsets": [offsets.offset_x, offsets.offset_y],
            "md5": hashlib.md5(pixels(layer, "R'G'B'A float")).hexdigest(),
            "mask_md5": hashlib.md5(pixels(mask, "Y float")).hexdigest() if mask is not None else None,
        })
    for channel in image.get_channels():
        state["channels"].append({
            "name": channel.get_name(), "width": channel.get_width(), "height": channel.get_height(),
            "visible": channel.get_visible(), "md5": hashlib.md5(pixels(channel, "Y float")).hexdigest(),
        })
    state["paths"] = [path.get_name() for path in image.get_paths()]
    state["selection"] = list(Gimp.Selection.bounds(image))[1:]
    return state


source = scenario["input"]
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(source))
layer = image.get_layers()[0]
if scenario.get("undo") and not image.undo_is_enabled():
    image.undo_enable()
grow = scenario.get("grow")  # [dw, dh]: a larger canvas, the layer moved to "offsets"
if grow:
    image.resize(image.get_width() + grow[0], image.get_height() + grow[1], 0, 0)
if scenario.get("offsets"):
    layer.set_offsets(*scenario["offsets"])
with open(os.path.join(dump, "sent.rgb"), "wb") as handle:  # what the plug-in sends (an RGB layer)
    handle.write(pixels(layer, "R'G'B' u8"))

if scenario.get("undo"):  # the GUI run: the image in a window, as a user has it
    Gimp.Display.new(image)
    Gimp.displays_flush()

procedure = Gimp.get_pdb().lookup_procedure("python-fu-person-cutout")
report["registered"] = procedure is not None
for index, run in enumerate(scenario["runs"] if procedure is not None else []):
    Gimp.Selection.none(image)
    for path in image.get_paths():
        image.remove_path(path)
    if run.get("select"):
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *run["select"])
    if run.get("path"):  # anchors [[x, y], ...]: one Bézier stroke with its controls on the anchors
        path = Gimp.Path.new(image, "Person")
        image.insert_path(path, None, 0)
        points = [v for x, y in run["path"] for v in (x, y, x, y, x, y)]
        path.stroke_new_from_points(Gimp.PathStrokeType.BEZIER, points, False)
    entry = {"before": describe(image)}
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    for key, value in run["args"].items():
        config.set_property(key, value)
    result = procedure.run(config)
    status = result.index(0)
    entry["success"] = status == Gimp.PDBStatusType.SUCCESS
    if not entry["success"] and result.length() > 1:
        entry["error"] = str(result.index(1))
    entry["after"] = describe(image)
    folder = os.path.join(dump, str(index))
    os.makedirs(folder, exist_ok=True)
    for channel in image.get_channels():
        with open(os.path.join(folder, f"channel-{channel.get_name()}.gray"), "wb") as handle:
            handle.write(pixels(channel, "Y u8"))
    if layer.get_mask() is not None:
        with open(os.path.join(folder, "mask.gray"), "wb") as handle:
            handle.write(pixels(layer.get_mask(), "Y u8"))
    report["runs"].append(entry)

finish(scenario, report, image, bool(report["runs"] and report["runs"][-1]["success"]), describe)
