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
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

sys.path.insert(0, os.environ["PC_TESTS"])  # this folder (tests/gimp_harness.py sets it)
sys.path.append(os.path.join(os.path.dirname(os.environ["PC_TESTS"]), "gimp_plugin"))  # cutout_common's client
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


def new_page(size="b5", dpi="300", layout="3-tiers"):
    """A comic page made by Comic Page… (as a script makes it: the same code as the dialog's OK), in a window."""
    procedure = Gimp.get_pdb().lookup_procedure("python-fu-person-cutout-comic-page")
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    for key, value in {"page-size": size, "dpi": dpi, "layout": layout}.items():
        config.set_property(key, value)
    page = procedure.run(config).index(1)
    Gimp.Display.new(page)
    Gimp.displays_flush()
    return page


def layer_names(layers):
    return [layer.get_name() for layer in layers]


def mask_bytes(layer):
    mask = layer.get_mask()
    rect = Gegl.Rectangle.new(0, 0, mask.get_width(), mask.get_height())
    return bytes(mask.get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.CLAMP))


def spot(photo, mask, keep, dark, size=24, step=16):
    """The top-left of a size × size square where the mask keeps (or hides) everything and, with ``dark``, the
    photo is dark: where a hint stroke would be hardest to see in Overlay mode. Searched from the bottom right,
    where the astronaut's helmet and the black table are."""
    width, height = photo.get_width(), photo.get_height()
    rect = Gegl.Rectangle.new(0, 0, width, height)
    grey = bytes(photo.get_buffer().get(rect, 1.0, "Y' u8", Gegl.AbyssPolicy.CLAMP))
    for y in reversed(range(0, height - size, step)):
        for x in reversed(range(0, width - size, step)):
            rows = [range((y + r) * width + x, (y + r) * width + x + size) for r in range(size)]
            values = [mask[i] for row in rows for i in row]
            if not (min(values) >= 230 if keep else max(values) <= 20):
                continue
            if dark and max(grey[i] for row in rows for i in row) > 70:
                continue
            return x, y
    return None


def disc(layer, centre, radius, colour):
    """A filled disc of ``colour`` (0 or 255) painted on ``layer``, as a brush dot leaves it."""
    cx, cy = centre
    size = 2 * radius + 1
    data = bytearray(size * size * 4)
    for y in range(size):
        for x in range(size):
            if (x - radius) ** 2 + (y - radius) ** 2 <= radius * radius:
                data[(y * size + x) * 4:(y * size + x) * 4 + 4] = bytes([colour, colour, colour, 255])
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(cx - radius, cy - radius, size, size), "R'G'B'A u8", bytes(data))
    buffer.flush()
    layer.update(cx - radius, cy - radius, size, size)
    Gimp.displays_flush()


def hint_strokes(photo, hints):
    """A white dot over what the mask hides and a black dot on a dark part it keeps, each shot before and after."""
    mask = mask_bytes(photo)
    hidden, dark = spot(photo, mask, keep=False, dark=False), spot(photo, mask, keep=True, dark=True)
    report["strokes"] = {"radius": 8, "hidden": hidden, "dark": dark}
    if hidden is None or dark is None:
        return
    window = gui.image_window()
    gui.shot("hints-before", window, report)
    disc(hints, (hidden[0] + 12, hidden[1] + 12), 8, 255)
    gui.shot("hints-white", window, report)
    disc(hints, (dark[0] + 12, dark[1] + 12), 8, 0)
    gui.shot("hints-black", window, report)


def comic_group(image):
    groups = [layer for layer in image.get_layers() if layer.is_group()]
    return groups[0] if groups else None


def flow():
    """The afternoon's flow with no click between the steps: Cut Out Person…, Add Hints Layer (its message, two
    strokes that must show), Draw Comic Layers… with the Hints layer still selected, Place in Panel… with the
    comic group's last layer selected, then one Ctrl+Z on the photo."""
    page = new_page()
    image = show(scenario["input"])
    photo = image.get_layers()[0]
    window = gui.image_window()
    gui.shot("image-window", window, report)
    dialog = gui.run_action("Cut Out Person")
    step("cut-out dialog", found=dialog is not None)
    gui.shot("cut-out-person", dialog, report)
    gui.press(dialog, "Return")
    done = gui.wait_until(lambda: photo.get_mask() is not None and idle(), WORK)
    report["selected_after_cut_out"] = kinds(image.get_selected_drawables())
    step("cut out", done=done, messages=messages())
    gui.shot("after-cut-out", window, report)

    shown = set(gui.windows())
    gui.open_action("Add Hints Layer")
    message = gui.new_window("Message", shown, 60)
    report["hints_message"] = message is not None
    gui.shot("hints-message", message, report)
    if message:
        gui.press(message, "Return")
        gui.wait_until(lambda: message not in gui.windows(), 10)
    gui.wait_until(idle, 30)
    report["selected_after_hints"] = layer_names(image.get_selected_layers())
    hints = [layer for layer in image.get_layers() if layer.get_name() == "Hints"]
    if hints:
        hint_strokes(photo, hints[0])

    dialog = gui.run_action("Draw Comic Layers", "Comic Layers")
    step("comic dialog", found=dialog is not None)
    gui.shot("comic-layers", dialog, report)
    gui.press(dialog, "Return")
    done = gui.wait_until(lambda: comic_group(image) is not None and idle(), WORK)
    step("comic layers", done=done, messages=messages())
    report["layers"] = describe(image)
    group = comic_group(image)
    if group is not None:
        parasite = group.get_parasite("person-cutout-comic")
        recorded = json.loads(bytes(parasite.get_data()).decode()) if parasite is not None else {}
        report["comic_photo_is_the_photo"] = recorded.get("photo") == photo.get_tattoo()
        kept = mask_bytes(group)
        report["comic_mask_kept"] = sum(1 for value in kept if value >= 128) / len(kept)
    report["selected_after_comic"] = layer_names(image.get_selected_layers())
    gui.shot("after-comic-layers", window, report)

    dialog = gui.run_action("Place in Panel")
    gui.shot("place-in-panel", dialog, report)
    gui.press(dialog, "Return")
    panel = page.get_layers()[0]
    done = gui.wait_until(lambda: len(panel.get_children()) > 1 and idle(), WORK)
    step("placed", done=done, messages=messages())
    report["placed"] = describe(page)[0]

    shown = set(gui.windows())
    gui.press(window, "ctrl+z")  # the photo's window: Draw Comic Layers… was its last step
    report["undone"] = gui.wait_until(lambda: comic_group(image) is None, 30)
    found = gui.new_window("Message", shown, 3)  # what is tested: no message comes with the undo
    report["undo_message"] = found is not None
    gui.shot("undo-message", found, report)


def busy(endpoint):
    """Whether the server runs or queues a job (its hello's queue), as any client may ask it."""
    from cutout_common.client import Client

    with Client(endpoint, deadline=5, silence_timeout=5) as probe:
        queue = probe.hello()["queue"]
    return queue["running"] > 0 or queue["in_flight"] > 0


def cancel_then_cut_out():
    """Cancel a long job in GIMP's status bar: the server is free within a second or two, and the next cut-out
    runs at once instead of waiting behind it."""
    image = show(scenario["input"])
    layer = image.get_layers()[0]
    before = describe(image)
    window = gui.image_window()
    dialog = gui.run_action("Cut Out Person")
    gui.press(dialog, "Return")
    report["job_started"] = gui.wait_until(lambda: busy(scenario["endpoint"]), 60)
    report["running_before_cancel"] = gui.plugin_processes()
    gui.shot("long-job", window, report)
    gui.cancel_progress(window)
    clicked = time.monotonic()
    gui.wait_until(idle, 15)
    report["running_after_cancel"] = gui.plugin_processes()
    report["untouched_after_cancel"] = describe(image) == before
    report["freed"] = gui.wait_until(lambda: not busy(scenario["endpoint"]), 20, 0.1)
    report["freed_seconds"] = round(time.monotonic() - clicked, 2)
    step("cancelled")
    started = time.monotonic()
    dialog = gui.run_action("Cut Out Person")
    gui.press(dialog, "Return")
    report["second_done"] = gui.wait_until(lambda: layer.get_mask() is not None and idle(), WORK)
    report["second_seconds"] = round(time.monotonic() - started, 1)
    gui.shot("second-cut-out", window, report)


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
    page = new_page()
    size = f"{page.get_width()}x{page.get_height()}"
    titled = []  # the page's window title: its memory, as the status bar shows it (the profile's title format)
    gui.wait_until(lambda: titled.extend(t for t in gui.windows().values() if size in t and "B" in t) or titled, 30)
    report["page_title"] = titled[-1] if titled else None
    show(scenario["input"])  # the photo's window comes last: the menu entries run on it
    window = gui.image_window()
    time.sleep(1)
    # the menu first, while the image window is drawn whole (no window manager repaints it after a dialog)
    gui.press(window, "alt+r", "Up", "Right")  # Filters, its last entry (Person Cutout), its submenu
    time.sleep(1)
    gui.shot("filters-menu", None, report)
    gui.press(window, "Escape", "Escape")
    time.sleep(1)
    for name, action, title in (
        ("comic-page", "Comic Page", "Comic Page"),
        ("comic-layers-manga", "Draw Comic Layers", "Comic Layers"),
        ("place-in-panel", "Place in Panel", "Place in Panel"),
        ("refine-cutout", "Refine Cut-out", "Refine Cut-out"),
        ("cut-out-person", "Cut Out Person", "Cut Out Person"),
    ):
        dialog = gui.run_action(action, title)
        report[name] = gui.geometry(dialog) if dialog else None
        gui.shot(name, dialog, report)
        if name == "comic-layers-manga":  # another style: its own parameters only
            gui.press(dialog, "alt+y", "Down")
            time.sleep(1)
            report["comic-layers-lineart"] = gui.geometry(dialog)
            gui.shot("comic-layers-lineart", dialog, report)
        if name == "cut-out-person":  # a new layer as the output: what to do with an existing mask does not apply
            gui.press(dialog, "alt+u", "Down")
            time.sleep(1)
            gui.shot("cut-out-person-new-layer", dialog, report)
            gui.press(dialog, "alt+u", "Up")  # as it was, so no other run remembers the change
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
    {
        "flow": flow,
        "cancel": cancel_then_cut_out,
        "licence": licence,
        "endpoints": endpoints,
        "dialogs": dialogs,
        "zh": chinese,
    }[scenario["scenario"]]()
finally:
    report["seconds"] = round(time.monotonic() - started, 1)
    with open(os.environ["PC_REPORT"], "w") as handle:
        json.dump(report, handle, indent=1)
