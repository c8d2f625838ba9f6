"""A real, headless GIMP 3 for the test suite.

On Debian 13 GIMP 3 is a package and runs natively. Debian 12 has only GIMP 2.10,
so there the harness builds a minimal Debian 13 ("trixie") root with debootstrap
and runs GIMP inside it with ``unshare`` (a private mount namespace: every bind
mount vanishes with the process) and ``chroot``. Folders the tests use are bound
at the same path inside, so paths mean the same on both sides; the chroot shares
the host's network, so the plug-in reaches a server on 127.0.0.1.

``PERSON_CUTOUT_GIMP_ROOT=DIR`` keeps the root in DIR between local test runs.

GIMP is started with ``env -i`` (the host's Python variables would leak into the
plug-in), always with ``--quit`` and under ``timeout``. It exits 0 on success and
64 when a batch command raised.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ["gimp", "python3-gi", "gir1.2-gimp-3.0", "gir1.2-gegl-0.4", "gir1.2-babl-0.1", "python3-zmq"]
# the GUI tests run GIMP on a virtual display and drive it with xdotool (GIMP's PDB has no "undo", no menus);
# a CJK font draws the Traditional Chinese dialogs
GUI_PACKAGES = ["xvfb", "xauth", "xdotool", "fonts-wqy-microhei"]
GUI_MARKERS = ["usr/bin/xdotool", "usr/share/fonts/truetype/wqy/wqy-microhei.ttc"]
GIMP = "gimp-console-3.0"
SCREEN_SIZE = (1280, 1024)
SCREEN = f"-screen 0 {SCREEN_SIZE[0]}x{SCREEN_SIZE[1]}x24"
SUITE = "trixie"


def gimp_gui(screen_dir: Path | None = None) -> list[str]:
    """The full GIMP on an Xvfb display; with ``screen_dir`` Xvfb keeps its screen there (Xvfb_screen0, XWD)."""
    server_args = SCREEN + (f" -fbdir {screen_dir}" if screen_dir else "")
    return ["xvfb-run", "-a", "-s", server_args, "gimp-3.0", "-n", "-s"]


class GimpUnavailable(RuntimeError):
    """GIMP 3 cannot be provided on this machine (the reason is in the message)."""


def host_mirror() -> str:
    """The host's own Debian mirror (deb822 or one-line sources), else deb.debian.org."""
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[0] == "deb" and "security" not in parts[1]:
                return parts[1]
    return "http://deb.debian.org/debian"


def _run(command: list[str], timeout: float, what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise GimpUnavailable(f"{what} failed ({result.returncode}): {(result.stderr or result.stdout)[-1500:]}")


@dataclass
class Gimp:
    """How to start GIMP 3 here: natively, or inside ``root`` via unshare + chroot."""

    root: Path | None
    binds: list[Path] = field(default_factory=list)

    @classmethod
    def provide(cls, workdir: Path) -> Gimp:
        """Native GIMP 3 if present; else build a trixie root under ``workdir`` (about a minute)."""
        if shutil.which(GIMP):
            return cls(root=None)
        if os.geteuid() != 0:
            raise GimpUnavailable("GIMP 3 is not installed and building a Debian 13 root needs root")
        if not shutil.which("debootstrap") or not shutil.which("unshare"):
            raise GimpUnavailable(
                "GIMP 3 is not installed and debootstrap/unshare are missing (apt-get install debootstrap)"
            )
        root = Path(os.environ.get("PERSON_CUTOUT_GIMP_ROOT") or workdir / "gimp3root")  # a kept root, for local runs
        mirror = host_mirror()
        if not (root / "usr" / "bin" / "apt-get").exists():  # idempotent: each step is skipped once done
            _run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
                    SUITE,
                    str(root),
                    mirror,
                ],
                900,
                "debootstrap of Debian 13",
            )
            (root / "etc" / "apt" / "sources.list").write_text(f"deb {mirror} {SUITE} main\n")
        if not (root / "usr" / "bin" / GIMP).exists() or not all((root / marker).exists() for marker in GUI_MARKERS):
            cls(root=root).chroot_shell(
                "apt-get update -qq && apt-get install -y -qq --no-install-recommends "
                + " ".join(PACKAGES + GUI_PACKAGES)
                + " && apt-get clean",
                timeout=1200,
                what="installing GIMP 3 in the Debian 13 root",
            )
        return cls(root=root)

    def chroot_shell(self, script: str, timeout: float, what: str) -> None:
        assert self.root is not None
        inner = (
            "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive sh -c "
            + shlex.quote(script)
        )
        _run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "bash",
                "-c",
                self._mounts() + f"exec chroot {self.root} {inner}",
            ],
            timeout,
            what,
        )

    def _mounts(self) -> str:
        root = self.root
        lines = [f"mount -t proc proc {root}/proc", f"mount --rbind /dev {root}/dev"]
        for path in self.binds:
            lines.append(f"mkdir -p {shlex.quote(str(root) + str(path))}")
            lines.append(f"mount --bind {shlex.quote(str(path))} {shlex.quote(str(root) + str(path))}")
        return " && ".join(lines) + " && "

    def system_path(self, path: str) -> Path:
        """Where GIMP's system file ``path`` (absolute, as GIMP sees it) is on this machine."""
        return Path(path) if self.root is None else self.root / path.lstrip("/")

    def gui_available(self) -> bool:
        """Whether the GUI on a virtual display can run (always in the Debian 13 root; natively if installed)."""
        return self.root is not None or all(shutil.which(tool) for tool in ("xvfb-run", "xdotool", "gimp-3.0"))

    def batch(
        self,
        script: Path,
        home: Path,
        env: dict[str, str],
        timeout: float = 300,
        gui: bool = False,
        screen_dir: Path | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``script`` with GIMP's python-fu-eval batch interpreter; returns the finished process.

        ``gui``: the full GIMP on an Xvfb display instead of gimp-console (for what only the GUI can do);
        ``screen_dir``: where Xvfb keeps the screen, for screenshots (tests/gimp_gui.py).
        """
        variables = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "PC_TESTS": str(Path(script).parent),
            **env,
        }
        start = gimp_gui(screen_dir) if gui else [GIMP, "-i"]
        gimp = [
            *start,
            "-d",
            "-f",
            "--batch-interpreter=python-fu-eval",
            "-b",
            f'exec(open("{script}").read())',
            "--quit",
        ]
        command = ["env", "-i", *(f"{k}={v}" for k, v in variables.items()), *gimp]
        if self.root is None:
            return subprocess.run(["timeout", str(int(timeout)), *command], capture_output=True, text=True)
        shell = self._mounts() + f"exec chroot {self.root} " + " ".join(shlex.quote(c) for c in command)
        return subprocess.run(
            ["timeout", str(int(timeout)), "unshare", "--mount", "--propagation", "private", "--", "bash", "-c", shell],
            capture_output=True,
            text=True,
        )

    def scenario(
        self,
        batch: Path,
        home: Path,
        workdir: Path,
        name: str,
        gui: bool = False,
        timeout: float = 240,
        env: dict[str, str] | None = None,
        **fields,
    ) -> dict:
        """Run the batch script ``batch`` with one scenario (``fields`` as JSON); returns the report it wrote.

        GIMP's and the plug-in's messages are kept in ``workdir/NAME.log`` for a failing test. A GUI
        scenario's screenshots go to ``workdir/NAME.shots/`` (``PC_SHOTS``; see tests/gimp_gui.py).
        """
        import pytest

        report = workdir / f"{name}.report.json"
        report.unlink(missing_ok=True)
        variables = {"PC_SCENARIO": json.dumps(fields), "PC_REPORT": str(report), **(env or {})}
        screen_dir = None
        if gui:
            screen_dir, shots = workdir / f"{name}.screen", workdir / f"{name}.shots"
            for folder in (screen_dir, shots):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
            variables.update(PC_SCREEN=str(screen_dir / "Xvfb_screen0"), PC_SHOTS=str(shots))
        result = self.batch(batch, home, variables, timeout=timeout, gui=gui, screen_dir=screen_dir)
        (workdir / f"{name}.log").write_text(result.stderr)
        if not report.exists():
            pytest.fail(f"GIMP did not finish the scenario (rc {result.returncode}):\n{result.stderr[-3000:]}")
        return json.loads(report.read_text())


def plugin_config(home: Path) -> Path:
    return home / ".config" / "GIMP" / "3.0" / "plug-ins" / "person-cutout" / "config.json"


@contextlib.contextmanager
def configured(home: Path, **settings) -> Iterator[None]:
    """The installed plug-in's config.json with ``settings`` changed, restored afterwards."""
    config = plugin_config(home)
    saved = config.read_text()
    config.write_text(json.dumps({**json.loads(saved), **settings}))
    try:
        yield
    finally:
        config.write_text(saved)


#: where nothing answers (the discard port), for tests of a server that is down
DEAD_ENDPOINT = "tcp://127.0.0.1:9"


def no_server_start(home: Path) -> contextlib.AbstractContextManager:
    """config.json with a dead endpoint and a server command that cannot start, restored afterwards."""
    return configured(home, endpoint=DEAD_ENDPOINT, server_command=["/nonexistent/python", "-m", "server", "serve"])


def marker_command(marker: Path) -> list[str]:
    """A server command that only appends its arguments to ``marker`` and exits: shows whether a server was started."""
    return ["/bin/sh", "-c", f'echo "$@" >> {shlex.quote(str(marker))}; echo "no server here"; exit 3', "server"]
