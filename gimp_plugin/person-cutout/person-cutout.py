#!/usr/bin/env python3
# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Filters › Person Cutout › Cut Out Person…

Sends the selected layer to the Person Cutout server over ZeroMQ (``protocol.py``
and ``client.py`` beside this file are copies of the server's, put here by
install.py) and writes the answer back: a soft layer mask on the layer, a new
cut-out layer on transparent, or the person on black — in one undo step.

Only the standard library and pyzmq run here (no numpy in GIMP's Python): pixel
work is byte slicing. Nothing in the image changes until the whole answer has
arrived and been checked, so an error or a cancel leaves the image as it was.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
if os.path.isdir(os.path.join(HERE, "vendor")):  # pyzmq installed beside the plug-in by install.py,
    sys.path.append(os.path.join(HERE, "vendor"))  # used only when GIMP's Python has none of its own

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402

PROCEDURE = "python-fu-person-cutout"
SEGMENTERS = [
    ("default", "Best installed (default)"),
    ("rvm", "Robust Video Matting — hair-level alpha"),
    ("selfie", "MediaPipe Selfie — fast"),
    ("isnet", "ISNet — high resolution (AGPL-3.0)"),
    ("best", "Best — RVM + ISNet combined (slow)"),
    ("maskrcnn", "Mask R-CNN — person instances"),
    ("deeplab", "DeepLab — PASCAL VOC person"),
    ("parsing", "Human parsing — hair, face, clothes"),
]
OUTPUTS = [
    ("mask", "Layer mask on this layer"),
    ("cutout-layer", "New cut-out layer (transparent background)"),
    ("black-layer", "New layer on black"),
]
EXISTING_MASK = [
    ("replace", "Replace the existing mask"),
    ("intersect", "Combine with it (intersect)"),
    ("new-layer", "Keep it: put the result on a copy of the layer"),
]
EDGES = [("off", "Off"), ("fast", "Fast"), ("best", "Best (slow)")]

# babl formats of the pixels sent, by layer type: 8-bit, perceptual (gamma) values,
# whatever the image's precision — GIMP converts high bit depth on the way.
SEND_FORMATS = {
    (True, False): ("R'G'B' u8", "RGB8"),
    (True, True): ("R'G'B'A u8", "RGBA8"),
    (False, False): ("Y' u8", "GRAY8"),
    (False, True): ("Y'A u8", "GRAYA8"),
}
# the mask's babl format: linear "Y u8" keeps the server's 0…255 values exactly in 8-bit images
MASK_FORMAT = "Y u8"


class CutoutError(Exception):
    """A failure the user should read about (server down, bad answer, wrong layer)."""


def load_config():
    path = os.path.join(HERE, "config.json")
    if os.path.isfile(path):
        with open(path) as handle:
            return json.load(handle)
    return {"endpoint": "tcp://127.0.0.1:5555"}


def choice(values):
    result = Gimp.Choice.new()
    for index, (nick, label) in enumerate(values):
        result.add(nick, index, label, "")
    return result


# --------------------------------------------------------------------------- server


def connect(endpoint, timeout):
    """A client for a live server; starts the server from config.json when none answers."""
    try:
        import client
    except ImportError as exc:
        raise CutoutError(
            f"the Python module 'zmq' (pyzmq) is missing in GIMP's Python ({exc}); rerun install.py or install python3-zmq"
        ) from exc
    connection = client.Client(endpoint, deadline=timeout, silence_timeout=min(timeout, 120.0), retries=1)
    if ping(connection, 3.0):
        return connection
    config = load_config()
    command = config.get("server_command")
    if not command:
        raise CutoutError(f"no Person Cutout server answers at {endpoint} and none is configured to start")
    Gimp.progress_set_text("Starting the Person Cutout server…")
    try:
        log = open(os.path.join(HERE, "server.log"), "ab")
        command = list(command) + ["--endpoint", endpoint]
        subprocess.Popen(command, cwd=config.get("server_cwd") or None, stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise CutoutError(f"could not start the Person Cutout server ({' '.join(command)}): {exc}") from exc
    deadline = time.monotonic() + float(config.get("start_timeout", 120))
    while time.monotonic() < deadline:
        if ping(connection, 2.0):
            return connection
        Gimp.progress_pulse()
    log_path = os.path.join(HERE, "server.log")
    raise CutoutError(f"started the Person Cutout server but it did not answer at {endpoint}; see {log_path}")


def ping(connection, timeout):
    """Whether a server answers ``ping`` within ``timeout`` s (cheap: ``hello`` imports every model module)."""
    import client
    import protocol

    saved = connection.silence_timeout, connection.retries
    connection.silence_timeout, connection.retries = timeout, 0
    try:
        connection.request(protocol.encode_request("ping"), deadline=timeout + 1)
        return True
    except client.ServerError as exc:
        print(f"[person-cutout] no server answers at {connection.endpoint} ({exc})", file=sys.stderr, flush=True)
        return False
    finally:
        connection.silence_timeout, connection.retries = saved


def request_cutout(layer, segmenter, options, endpoint, timeout):
    """Send the layer; returns (reply, width, height). Raises CutoutError."""
    import client  # noqa: F401 - checked by connect()

    width, height = layer.get_width(), layer.get_height()
    babl_format, wire_format = SEND_FORMATS[(layer.is_rgb(), layer.has_alpha())]
    rect = Gegl.Rectangle.new(0, 0, width, height)
    pixels = bytes(layer.get_buffer().get(rect, 1.0, babl_format, Gegl.AbyssPolicy.CLAMP))
    connection = connect(endpoint, timeout)
    Gimp.progress_set_text("Cutting out the person…")

    def on_progress(stage, fraction):
        Gimp.progress_set_text(f"Person Cutout: {stage}")
        Gimp.progress_update(fraction)

    try:
        reply = connection.cutout(pixels, width, height, wire_format,
                                  segmenter=None if segmenter == "default" else segmenter,
                                  options=options, on_progress=on_progress)
    except client.ServerError as exc:
        raise CutoutError(f"Person Cutout server: {exc.message}") from exc
    finally:
        connection.close()
    mask = reply.frames.get("mask")
    if mask is None or len(mask) != width * height:
        raise CutoutError(f"the server's answer has no mask of {width}×{height} pixels")
    return reply, width, height


# --------------------------------------------------------------------------- writing results


def write_gray(drawable, data, width, height):
    buffer = drawable.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), MASK_FORMAT, data)
    buffer.flush()
    drawable.update(0, 0, width, height)


def read_gray(drawable, width, height):
    rect = Gegl.Rectangle.new(0, 0, width, height)
    return bytes(drawable.get_buffer().get(rect, 1.0, MASK_FORMAT, Gegl.AbyssPolicy.CLAMP))


def apply_mask(image, layer, mask, width, height, policy):
    """Put the mask on ``layer`` (or a copy of it), never dropping an existing mask silently."""
    target = layer
    existing = layer.get_mask()
    if existing is not None and policy == "new-layer":
        target = layer.copy()
        image.insert_layer(target, layer.get_parent(), image.get_item_position(layer))
        target.set_name(f"{layer.get_name()} (cut out)")
        target.remove_mask(Gimp.MaskApplyMode.DISCARD)
    elif existing is not None and policy == "intersect":
        old = read_gray(existing, width, height)
        mask = bytes(map(min, old, mask))  # fuzzy intersection, in C-speed builtins
        write_gray(existing, mask, width, height)
        return target
    elif existing is not None:
        layer.remove_mask(Gimp.MaskApplyMode.DISCARD)
    new_mask = target.create_mask(Gimp.AddMaskType.WHITE)
    target.add_mask(new_mask)
    write_gray(new_mask, mask, width, height)
    return target


def add_cutout_layer(image, layer, reply, width, height, on_black):
    """A new layer above ``layer``: the person's colours (decontaminated when the server sent them)."""
    mask = reply.frames["mask"]
    colours = reply.frames.get("composite" if on_black else "foreground")
    if colours is None or len(colours) != width * height * 3:
        rect = Gegl.Rectangle.new(0, 0, width, height)
        colours = bytes(layer.get_buffer().get(rect, 1.0, "R'G'B' u8", Gegl.AbyssPolicy.CLAMP))
    rgba = bytearray(width * height * 4)
    for channel in range(3):
        rgba[channel::4] = colours[channel::3]
    rgba[3::4] = b"\xff" * (width * height) if on_black else mask
    name = "Person on black" if on_black else "Person cut-out"
    new = Gimp.Layer.new(image, name, width, height, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(new, layer.get_parent(), image.get_item_position(layer))
    offsets = layer.get_offsets()
    new.set_offsets(offsets.offset_x, offsets.offset_y)
    buffer = new.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), "R'G'B'A u8", bytes(rgba))
    buffer.flush()
    new.update(0, 0, width, height)
    if on_black:
        new.flatten()  # the server composited over black (the original platform's output): drop alpha
    return new


# --------------------------------------------------------------------------- the procedure


def run_cutout(procedure, run_mode, image, drawables, config, data):
    layers = [d for d in drawables if isinstance(d, Gimp.Layer) and not isinstance(d, Gimp.LayerMask)]
    if len(layers) != 1:
        return fail(procedure, "select exactly one layer to cut the person out of")
    layer = layers[0]
    if layer.is_group():
        return fail(procedure, "select a layer, not a layer group")

    if run_mode == Gimp.RunMode.INTERACTIVE:
        gi.require_version("GimpUi", "3.0")
        from gi.repository import GimpUi

        GimpUi.init(PROCEDURE)
        dialog = GimpUi.ProcedureDialog.new(procedure, config, "Cut Out Person")
        dialog.fill(None)
        if not dialog.run():
            dialog.destroy()
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        dialog.destroy()

    segmenter = config.get_property("segmenter")
    output = config.get_property("output")
    policy = config.get_property("existing-mask")
    edges = config.get_property("edges")
    endpoint = config.get_property("endpoint") or load_config().get("endpoint", "tcp://127.0.0.1:5555")
    timeout = float(config.get_property("timeout"))

    Gimp.progress_init("Person Cutout")
    try:
        options = {"edges": edges}
        if output == "black-layer":
            options["background"] = "black"
        reply, width, height = request_cutout(layer, segmenter, options, endpoint, timeout)
    except CutoutError as exc:
        return fail(procedure, str(exc))

    image.undo_group_start()  # one undo step removes everything below
    try:
        if output == "mask":
            apply_mask(image, layer, reply.frames["mask"], width, height, policy)
        else:
            add_cutout_layer(image, layer, reply, width, height, on_black=(output == "black-layer"))
    finally:
        image.undo_group_end()
    Gimp.progress_end()
    Gimp.displays_flush()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def fail(procedure, message):
    print(f"[person-cutout] {message}", file=sys.stderr, flush=True)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error.new_literal(GLib.quark_from_string("person-cutout"), message, 0))


class PersonCutout(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROCEDURE]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run_cutout, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("Cut Out _Person…")
        procedure.add_menu_path("<Image>/Filters/Person Cutout")
        procedure.set_documentation(
            "Cut the person out of the layer with a deep segmenter",
            "Sends the layer to the Person Cutout server and adds a soft layer mask that keeps the person, "
            "or a new cut-out layer (transparent or on black). One undo step removes it.",
            name,
        )
        procedure.set_attribution("Person Cutout authors", "GPL-3.0-or-later", "2026")
        flags = GObject.ParamFlags.READWRITE
        procedure.add_choice_argument("segmenter", "_Segmenter", "Which network finds the person",
                                      choice(SEGMENTERS), "default", flags)
        procedure.add_choice_argument("output", "_Output", "What to create", choice(OUTPUTS), "mask", flags)
        procedure.add_choice_argument("existing-mask", "_Existing mask", "When the layer already has a mask",
                                      choice(EXISTING_MASK), "replace", flags)
        procedure.add_choice_argument("edges", "_Edges", "Alpha matting refinement of hair and soft edges",
                                      choice(EDGES), "off", flags)
        procedure.add_string_argument("endpoint", "Server endpoint", "Empty: the one install.py configured",
                                      "", flags)
        procedure.add_double_argument("timeout", "Timeout (s)", "How long to wait for the server",
                                      5.0, 3600.0, 600.0, flags)
        return procedure


Gimp.main(PersonCutout.__gtype__, sys.argv)
