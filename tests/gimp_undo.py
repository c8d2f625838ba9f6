"""Press Ctrl+Z in GIMP's image window, from a batch script running inside the GUI GIMP.

Imported by the batch scripts (tests/gimp_*batch.py) when a scenario asks for ``undo``: the
plug-in's undo group is checked the way a user undoes, with one real key press on an Xvfb
display (tests/gimp_harness.py, ``gui=True``). Standard library only (it runs in GIMP's Python).
"""

import json
import os
import subprocess
import time


def press_ctrl_z() -> dict:
    """Find the image window ("[name] (…) – GIMP"), press Ctrl+Z in it; returns the windows seen."""
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "GIMP"], capture_output=True, text=True)
    titles = {
        w: subprocess.run(["xdotool", "getwindowname", w], capture_output=True, text=True).stdout
        for w in found.stdout.split()
    }
    windows = [w for w, title in titles.items() if "[" in title]
    if windows:
        window = windows[-1]
        geometry = subprocess.run(
            ["xdotool", "getwindowgeometry", "--shell", window], capture_output=True, text=True
        ).stdout
        size = dict(line.split("=") for line in geometry.split())
        subprocess.run(
            [
                "xdotool",
                "windowfocus",
                "--sync",
                window,
                "mousemove",
                "--window",
                window,
                str(int(size["WIDTH"]) // 2),
                str(int(size["HEIGHT"]) // 2),
                "key",
                "--clearmodifiers",
                "ctrl+z",
            ],
            check=True,
            timeout=30,
        )
        time.sleep(3)  # GIMP undoes in its own process, asynchronously to this one
    return {"titles": titles, "windows": len(windows)}


def finish(scenario: dict, report: dict, image, succeeded: bool, describe) -> None:
    """End a batch scenario: with ``undo`` (the GUI run), press Ctrl+Z once in the image window and
    describe the image again; write the report; drop the image unless it is on display."""
    if scenario.get("undo") and succeeded:
        time.sleep(2)  # let the window map
        seen = press_ctrl_z()
        report["titles"], report["windows"] = seen["titles"], seen["windows"]
        if seen["windows"]:
            report["after_undo"] = describe(image)
    with open(os.environ["PC_REPORT"], "w") as handle:
        json.dump(report, handle, indent=1)
    if not scenario.get("undo"):
        image.delete()  # a displayed image goes with GIMP's exit
