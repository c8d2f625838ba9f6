"""Driving GIMP's real windows from a batch script running inside the GUI GIMP, as a person would.

Imported by tests/gimp_gui_batch.py (and run by tests/gimp_harness.py with ``gui=True``, GIMP on
an Xvfb display). Menu entries are opened the way a keyboard user opens them — GIMP's action search
(``/``, type the entry's name, Enter) — dialogs are filled through their mnemonics (Alt+letter),
and OK is Enter. There is no window manager on the display: keys go to a window named by xdotool.

Screenshots: Xvfb keeps its screen in a file (``-fbdir``), in XWD format; :func:`shot` copies it
with the geometry of the window of interest, and the test converts and crops it on its side.
Standard library only (it runs in GIMP's Python).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

SCREEN = os.environ.get("PC_SCREEN", "")  # the framebuffer file of the display (Xvfb -fbdir)
SHOTS = os.environ.get("PC_SHOTS", "")  # where screenshots go


def xdotool(*args: str) -> str:
    result = subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=30)
    return result.stdout.strip()


def windows() -> dict[str, str]:
    """Visible top-level windows: id -> title."""
    found = xdotool("search", "--onlyvisible", "--name", ".").split()
    return {w: xdotool("getwindowname", w) for w in found}


def geometry(window: str) -> dict[str, int] | None:
    """x, y, width, height of a window on the screen (None when it is gone)."""
    values = dict(line.split("=", 1) for line in xdotool("getwindowgeometry", "--shell", window).split() if "=" in line)
    if not {"X", "Y", "WIDTH", "HEIGHT"} <= set(values):
        return None
    return {
        "x": int(values["X"]),
        "y": int(values["Y"]),
        "width": int(values["WIDTH"]),
        "height": int(values["HEIGHT"]),
    }


def wait_for_window(part: str, timeout: float = 30.0, exclude: tuple[str, ...] = ()) -> str | None:
    """The newest visible window whose title contains ``part`` (and none of ``exclude``), waiting up to
    ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = [w for w, title in windows().items() if part in title and not any(x in title for x in exclude)]
        if found:
            return found[-1]
        time.sleep(0.3)
    return None


def wait_until(condition, timeout: float, step: float = 0.3) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return False


def image_window() -> str | None:
    """GIMP's image window: its title starts with the image's name in brackets or with '*['."""
    return wait_for_window("– GIMP", exclude=("Welcome",))


def press(window: str, *keys: str) -> None:
    """Key presses sent to ``window`` (no window manager gives it the focus otherwise)."""
    xdotool("windowfocus", "--sync", window)
    for key in keys:
        xdotool("key", "--clearmodifiers", "--window", window, key)
        time.sleep(0.3)


def type_text(window: str, text: str) -> None:
    """Type ``text``; characters beyond ASCII (xdotool maps each to a spare key first) go slowly, or some are lost."""
    xdotool("windowfocus", "--sync", window)
    xdotool("type", "--delay", "40" if text.isascii() else "300", text)


def open_action(name: str) -> None:
    """Run a menu entry by GIMP's action search (/ in the image window, its name, Enter)."""
    window = image_window()
    press(window, "slash")
    search = wait_for_window("Search Actions", 10)
    type_text(search, name)
    time.sleep(1.5)  # the search list fills as one types
    xdotool("key", "Return")


def run_action(name: str, title: str | None = None) -> str | None:
    """Open a menu entry by GIMP's action search; returns its dialog's window.

    ``title``: the dialog's title (default: ``name``), which tells it from other windows that come and go.
    """
    before = set(windows())
    open_action(name)
    end = time.monotonic() + 60  # the plug-in starts in a process of its own: seconds on a busy machine
    while time.monotonic() < end:
        new = [w for w, t in windows().items() if w not in before and (title or name) == t]
        if new:
            time.sleep(1.0)  # let it draw
            return new[-1]
        time.sleep(0.3)
    return None


def new_window(part: str, shown: set, timeout: float) -> str | None:
    """A window whose title contains ``part`` that was not among ``shown``, waiting up to ``timeout`` s."""
    found: list[str] = []
    wait_until(lambda: found.extend(w for w, t in windows().items() if w not in shown and part in t) or found, timeout)
    return found[-1] if found else None


def click(window: str, x: int, y: int) -> None:
    """A left click at (x, y) inside ``window``."""
    xdotool("mousemove", "--window", window, str(x), str(y))
    time.sleep(0.2)
    xdotool("click", "1")


def shot(name: str, window: str | None = None, report: dict | None = None) -> None:
    """Copy the screen now as SHOTS/NAME.xwd, with the window's place in NAME.json (the test crops to it)."""
    if not (SCREEN and SHOTS):
        return
    xdotool("mousemove", "1279", "1023")  # no pointer or tooltip over what is shown
    time.sleep(0.8)  # the last expose drawn
    shutil.copyfile(SCREEN, os.path.join(SHOTS, f"{name}.xwd"))
    box = geometry(window) if window else None  # None: the whole screen
    with open(os.path.join(SHOTS, f"{name}.json"), "w") as handle:
        json.dump({"window": box}, handle)
    if report is not None:
        report.setdefault("shots", []).append(name)


def cancel_progress(window: str) -> None:
    """Click the Cancel button GIMP's status bar shows while a plug-in's progress runs.

    No key cancels a plug-in's progress, and no window manager or accessibility tree tells where
    the button is: it is right-aligned in the status bar under the canvas, left of the right-hand
    docks, at this place in the fresh profile's default layout on the harness's 1280×1024 screen
    (the test's screenshots show it, and :func:`plugin_processes` tells whether the click landed).
    """
    box = geometry(window)
    click(window, box["width"] - 282, box["height"] - 18)


def plugin_processes(name: str = "person-cutout.py") -> int:
    """How many processes of the plug-in run now (each menu call is one)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    count += name.encode() in handle.read()
            except OSError:
                pass
    return count
