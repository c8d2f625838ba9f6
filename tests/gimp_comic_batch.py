# Run inside GIMP 3 by python-fu-eval (tests/gimp_harness.py), like tests/gimp_batch.py, for the comic procedures.
# The scenario comes as JSON in $PC_SCENARIO; the report goes to $PC_REPORT.
# It loads a photo (image "photo"), runs PDB procedures one after another ("steps"; an image a step
# returns gets a name with "as"), then reports every image's layer tree — names, groups, offsets,
# sizes, masks, parasites, pixel hashes — and its guides, and writes raw pixels for the test to
# measure with numpy: each layer as "R'G'B'A u8", each mask as "Y u8", and the image's projection.
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
from gimp_undo import press_ctrl_z  # noqa: E402

scenario = json.loads(os.environ["PC_SCENARIO"])
report = {"steps": [], "images": {}}
images = {}
dump_dir = scenario.get("dump_dir")


def pixels(drawable, fmt):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP))


def dump(data, name):
    path = os.path.join(dump_dir, name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def describe_item(item, prefix, write):
    offsets = item.get_offsets()
    entry = {
        "name": item.get_name(),
        "group": item.is_group(),
        "width": item.get_width(),
        "height": item.get_height(),
        "offsets": [offsets.offset_x, offsets.offset_y],
        "visible": item.get_visible(),
        "parasites": {n: bytes(item.get_parasite(n).get_data()).decode() for n in item.get_parasite_list()},
        "mask": None,
    }
    data = pixels(item, "R'G'B'A u8")
    entry["md5"] = hashlib.md5(data).hexdigest()
    if write and not item.is_group():
        entry["file"] = dump(data, f"{prefix}.rgba")
    mask = item.get_mask()
    if mask is not None:
        values = pixels(mask, "Y u8")
        entry["mask"] = {"md5": hashlib.md5(values).hexdigest()}
        if write:
            entry["mask"]["file"] = dump(values, f"{prefix}.mask")
    if item.is_group():
        entry["children"] = [describe_item(c, f"{prefix}-{i}", write) for i, c in enumerate(item.get_children())]
    return entry


def describe(name, image, write=False):
    guides = []
    guide = image.find_next_guide(0)
    while guide:
        guides.append([str(image.get_guide_orientation(guide).value_nick), image.get_guide_position(guide)])
        guide = image.find_next_guide(guide)
    resolution = image.get_resolution()
    state = {
        "width": image.get_width(),
        "height": image.get_height(),
        "resolution": [resolution[1], resolution[2]] if len(resolution) > 2 else list(resolution),
        "guides": guides,
        "parasites": list(image.get_parasite_list()),
        "layers": [describe_item(layer, f"{name}-{i}", write) for i, layer in enumerate(image.get_layers())],
    }
    if write:
        visible = Gimp.Layer.new_from_visible(image, image, "visible")
        state["visible"] = dump(pixels(visible, "R'G'B'A u8"), f"{name}-visible.rgba")
        visible.delete()
    return state


def find_layer(image, name):
    """A layer anywhere in the tree by name (the photo's own layer when no name is given)."""
    if name is None:
        return photo_layer
    stack = list(image.get_layers())
    while stack:
        item = stack.pop(0)
        if item.get_name() == name:
            return item
        if item.is_group():
            stack.extend(item.get_children())
    raise KeyError(name)


photo_layer = None
if scenario.get("input"):
    photo = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(scenario["input"]))
    photo.undo_enable()  # GIMP 3.0.4's loaders, called from a plug-in, may leave undo off; File › Open does not
    images["photo"] = photo
    photo_layer = photo.get_layers()[0]
    if "existing-mask" in scenario.get("prepare", []):  # the left half of the photo, as if painted by hand
        width, height = photo_layer.get_width(), photo_layer.get_height()
        existing = photo_layer.create_mask(Gimp.AddMaskType.WHITE)
        photo_layer.add_mask(existing)
        left_half = bytes([255 if x < width // 2 else 0 for x in range(width)]) * height
        buffer = existing.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, width, height), "Y u8", left_half)
        buffer.flush()

pdb = Gimp.get_pdb()
for step in scenario["steps"]:
    procedure = pdb.lookup_procedure(step["run"])
    outcome = {"run": step["run"], "registered": procedure is not None}
    report["steps"].append(outcome)
    if procedure is None:
        break
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    if "on" in step:
        image = images[step["on"]]
        config.set_property("image", image)
        selected = find_layer(image, step.get("select"))
        if step.get("mask"):  # its layer mask selected, as GIMP leaves it after a cut-out or painting the mask
            selected = selected.get_mask()
        config.set_core_object_array("drawables", [selected])
    if step.get("before"):  # the state of an image just before this step, for the undo comparison
        report["before"] = describe(step["before"], images[step["before"]])
    for key, value in step.get("args", {}).items():
        if isinstance(value, str) and value.startswith("$"):
            value = images[value[1:]]  # another image of the scenario, by its name
        config.set_property(key, value)
    started = time.monotonic()
    result = procedure.run(config)
    outcome["seconds"] = round(time.monotonic() - started, 2)
    status = result.index(0)
    outcome["success"] = status == Gimp.PDBStatusType.SUCCESS
    if not outcome["success"]:
        outcome["error"] = str(result.index(1)) if result.length() > 1 else str(status)
        break
    if step.get("as"):
        images[step["as"]] = result.index(1)
        if step["as"] == scenario.get("undo"):
            # in a window at once, as a user has the page open: GIMP 3.0.4 showing an image only after a
            # hidden layer was put into one of its groups adds a no-op "Item visibility" step on top of
            # the plug-in's, which one Ctrl+Z then undoes instead
            Gimp.Display.new(images[step["as"]])
            Gimp.displays_flush()

for name in scenario.get("report", list(images)):
    if name in images:
        report["images"][name] = describe(name, images[name], write=bool(dump_dir))

undo = scenario.get("undo")
if undo and undo in images and all(s.get("success") for s in report["steps"]):
    # the GUI run (tests/gimp_harness.py, gui=True): the image is shown; press Ctrl+Z once in its window
    if undo not in [step.get("as") for step in scenario["steps"]]:
        Gimp.Display.new(images[undo])
        Gimp.displays_flush()
    time.sleep(3)  # let the window map
    seen = press_ctrl_z()
    report["titles"], report["windows"] = seen["titles"], seen["windows"]
    if seen["windows"]:
        report["after_undo"] = describe(undo, images[undo])

with open(os.environ["PC_REPORT"], "w") as handle:
    json.dump(report, handle, indent=1)
for name, image in images.items():
    if name != undo:
        image.delete()  # a displayed image goes with GIMP's exit
