# Run inside the full GIMP 3 on an Xvfb display by python-fu-eval (tests/gimp_harness.py, gui=True).
# The scenario comes as JSON in $PC_SCENARIO; the report goes to $PC_REPORT; screenshots to $PC_SHOTS.
# Each scenario opens a photo in an image window and uses the plug-in as a person does: menu entries by
# GIMP's action search, dialogs by keys (tests/gimp_gui.py), waiting for what a person would wait for.
import json
import os
import sys
import time

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

sys.path.insert(0, os.environ["PC_TESTS"])  # this folder (tests/gimp_harness.py sets it)
import gimp_gui as gui  # noqa: E402

scenario = json.loads(os.environ["PC_SCENARIO"])
report = {"steps": []}
WORK = 180  # seconds a real job may take on a busy CI machine


def describe(image):
    def item(layer):
        entry = {"name": layer.get_name(), "group": layer.is_group(), "mask": layer.get_mask() is not None,
                 "visible": layer.get_visible()}
        if layer.is_group():
            entry["children"] = [item(child) for child in layer.get_children()]
        return entry

    return [item(layer) for layer in image.get_layers()]


def kinds(drawables):
    return [type(d).__name__ for d in drawables]


def show(path):
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
    image.undo_enable()  # GIMP 3.0.4's loaders, called from a plug-in, may leave undo off; File › Open does not
    Gimp.Display.new(image)
    Gimp.displays_flush()
    return image


def idle():
    """No plug-in call runs any more (a menu call is a process of its own)."""
    return gui.plugin_processes() == 0


def step(name, **fields):
    report["steps"].append({"step": name, "t": round(time.monotonic() - started, 1), **fields})


def messages():
    return [title for title in gui.windows().values() if "Message" in title]


def flow():
    """Cut Out Person…, then Draw Comic Layers… at once: no click between them, as an illustrator goes on."""
    image = show(scenario["input"])
    window = gui.image_window()
    gui.shot("image-window", window, report)
    dialog = gui.run_action("Cut Out Person")
    step("cut-out dialog", found=dialog is not None)
    gui.shot("cut-out-person", dialog, report)
    gui.press(dialog, "Return")
    layer = image.get_layers()[0]
    done = gui.wait_until(lambda: layer.get_mask() is not None and idle(), WORK)
    report["selected_after_cut_out"] = kinds(image.get_selected_drawables())
    step("cut out", done=done, messages=messages())
    gui.shot("after-cut-out", window, report)
    dialog = gui.run_action("Draw Comic Layers", "Comic Layers")
    step("comic dialog", found=dialog is not None)
    gui.shot("comic-layers", dialog, report)
    gui.press(dialog, "Return")
    done = gui.wait_until(lambda: len(image.get_layers()) > 1 and idle(), WORK)
    step("comic layers", done=done, messages=messages())
    report["layers"] = describe(image)
    gui.shot("after-comic-layers", window, report)


def cancel_then_queue():
    """Cancel a long job in GIMP's status bar; the next cut-out says it waits behind it on the server."""
    image = show(scenario["input"])
    before = describe(image)
    window = gui.image_window()
    dialog = gui.run_action("Cut Out Person")
    gui.press(dialog, "Return")
    gui.wait_until(lambda: not idle(), 10)
    time.sleep(4)  # the job runs on the server; the bar moves
    report["running_before_cancel"] = gui.plugin_processes()
    gui.shot("long-job", window, report)
    gui.cancel_progress(window)
    gui.wait_until(idle, 15)
    report["running_after_cancel"] = gui.plugin_processes()
    report["untouched_after_cancel"] = describe(image) == before
    step("cancelled")
    dialog = gui.run_action("Cut Out Person")
    gui.press(dialog, "Return")
    step("second cut-out started")
    time.sleep(5)  # connected and sent; the server says every second where it waits
    report["running_while_queued"] = gui.plugin_processes()
    gui.shot("queued", window, report)
    gui.cancel_progress(window)
    gui.wait_until(idle, 15)
    report["untouched"] = describe(image) == before


def mask_and_licence_windows(layer) -> tuple[bool, list[str]]:
    """Waits for the cut-out's mask and the plug-in's end: (done, titles of licence windows seen meanwhile)."""
    seen: list[str] = []

    def finished():
        seen.extend(t for t in gui.windows().values() if "licence" in t)
        return layer.get_mask() is not None and idle()

    return gui.wait_until(finished, WORK), sorted(set(seen))


def licence():
    """A segmenter whose weights need consent: asked as soon as it is picked, never while the job runs; once."""
    image = show(scenario["input"])
    layer = image.get_layers()[0]
    window = gui.image_window()
    dialog = gui.run_action("Cut Out Person")
    shown = set(gui.windows())
    gui.press(dialog, "alt+g", *["Down"] * scenario["downs"])  # the segmenter, picked with the keyboard
    question = gui.wait_for_window("licence", 15)
    report["asked_in_dialog"] = question is not None and question not in shown and dialog in gui.windows()
    report["untouched_while_asked"] = layer.get_mask() is None  # the dialog is still open: nothing was sent
    gui.shot("licence", question, report)
    if question is None:
        return
    gui.press(question, "Return")  # Use it
    gui.wait_until(lambda: question not in gui.windows(), 10)
    gui.press(dialog, "alt+o")
    report["done"], report["asked_during_job"] = mask_and_licence_windows(layer)
    step("first cut-out", messages=messages())
    layer.remove_mask(Gimp.MaskApplyMode.DISCARD)
    Gimp.displays_flush()
    dialog = gui.run_action("Cut Out Person")  # the segmenter remembered; its licence answered once
    gui.press(dialog, "alt+o")
    report["done_again"], report["asked_again"] = mask_and_licence_windows(layer)
    gui.shot("after-licence", window, report)


def endpoints():
    """A mistyped and an unreachable server address, typed into the dialog: GIMP's message comes at once."""
    image = show(scenario["input"])
    before = describe(image)
    for name, endpoint in scenario["endpoints"].items():
        dialog = gui.run_action("Cut Out Person")
        gui.press(dialog, "alt+d", "ctrl+a")
        gui.type_text(dialog, endpoint)
        shown = set(gui.windows())
        start = time.monotonic()
        gui.press(dialog, "alt+o")
        message = None
        end = time.monotonic() + 20
        while message is None and time.monotonic() < end:
            message = next((w for w, t in gui.windows().items() if w not in shown and "Message" in t), None)
            time.sleep(0.1)
        report[name] = {"seconds": round(time.monotonic() - start, 2) if message else None}
        gui.shot(f"{name}-message", message, report)
        if message:
            gui.press(message, "Return")
            gui.wait_until(lambda m=message: m not in gui.windows(), 10)
        gui.wait_until(idle, 10)
    report["untouched"] = describe(image) == before


def dialogs():
    """The dialogs as a user first sees them, for the README; the comic page and the photo both open."""
    page_procedure = Gimp.get_pdb().lookup_procedure("python-fu-person-cutout-comic-page")
    config = page_procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    for key, value in {"page-size": "b5", "dpi": "300", "layout": "3-tiers"}.items():
        config.set_property(key, value)
    page = page_procedure.run(config).index(1)
    Gimp.Display.new(page)
    show(scenario["input"])  # the photo's window comes last: the menu entries run on it
    window = gui.image_window()
    time.sleep(1)
    # the menu first, while the image window is drawn whole (no window manager repaints it after a dialog)
    gui.press(window, "alt+r", "Up", "Right")  # Filters, its last entry (Person Cutout), its submenu
    time.sleep(1)
    gui.shot("filters-menu", None, report)
    gui.press(window, "Escape", "Escape")
    time.sleep(1)
    for name, action, title in (("comic-page", "Comic Page", "Comic Page"),
                                ("comic-layers-manga", "Draw Comic Layers", "Comic Layers"),
                                ("place-in-panel", "Place in Panel", "Place in Panel"),
                                ("cut-out-person", "Cut Out Person", "Cut Out Person")):
        dialog = gui.run_action(action, title)
        report[name] = gui.geometry(dialog) if dialog else None
        gui.shot(name, dialog, report)
        if name == "comic-layers-manga":  # another style: its own parameters only
            gui.press(dialog, "alt+y", "Down")
            time.sleep(1)
            report["comic-layers-lineart"] = gui.geometry(dialog)
            gui.shot("comic-layers-lineart", dialog, report)
        gui.press(dialog, "Escape")
        gui.wait_until(lambda d=dialog: d not in gui.windows(), 10)


def chinese():
    """GIMP with LANGUAGE=zh_TW: the plug-in registers its menu entry and draws its dialog in Traditional Chinese."""
    show(scenario["input"])
    procedure = Gimp.get_pdb().lookup_procedure("python-fu-person-cutout")
    report["registered_label"] = procedure.get_menu_label() if procedure else None
    dialog = gui.run_action("人物", "人物去背")  # the search finds the translated entry by its first word
    report["dialog"] = gui.geometry(dialog) if dialog else None
    gui.shot("cut-out-person-zh", dialog, report)
    if dialog:
        gui.press(dialog, "Escape")


started = time.monotonic()
try:
    {"flow": flow, "cancel-queue": cancel_then_queue, "licence": licence, "endpoints": endpoints, "dialogs": dialogs,
     "zh": chinese}[scenario["scenario"]]()
finally:
    report["seconds"] = round(time.monotonic() - started, 1)
    with open(os.environ["PC_REPORT"], "w") as handle:
        json.dump(report, handle, indent=1)
