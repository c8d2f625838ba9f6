#!/usr/bin/env python3
"""Install Person Cutout: the server environment, the model weights and the GIMP 3 plug-in.

    python3 install.py                      # everything, default models (selfie, rvm, centernet)
    python3 install.py --models selfie,rvm,isnet --yes
    python3 install.py --with-ray           # also Ray, for batch cut-outs on a cluster (cutout --ray)
    python3 install.py --dry-run            # print the plan, change nothing
    python3 install.py --uninstall          # remove exactly what was installed

Standard library only, so it runs with any Python >= 3.10 before anything else exists.
Every step says what it did; running it again skips what is already done.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent
VENV = REPO / ".venv"
RECORD = REPO / ".install-record.json"
PLUGIN_NAME = "person-cutout"
PLUGIN_SOURCE = REPO / "gimp_plugin" / PLUGIN_NAME
# the standard-library package the server and the plug-in share, imported from the checkout by both: the server
# through the .pth file (see step_paths), the plug-in from beside its own code (person-cutout.py); never copied
COMMON = REPO / "gimp_plugin" / "cutout_common"
# the server environment imports the checkout's packages in place (no copies, no build step)
PATH_FILE = "person-cutout.pth"
# optional, large: Ray for `cutout --ray` and `bench batch`, installed only with --with-ray
RAY_REQUIREMENTS = REPO / "requirements-ray.txt"
MIN_FREE_BYTES = 8 * 1024**3  # torch's CUDA build and the weights


sys.path.insert(0, str(COMMON.parent))  # the names, titles and licences the server and the plug-in use
from translations import catalogue  # noqa: E402  (the plug-in's messages; compiled here, no gettext tools needed)

from cutout_common import vocabulary  # noqa: E402
from cutout_common.protocol import DEFAULT_ENDPOINT  # noqa: E402

#: the weights installed when no --models are given: the vocabulary's default set (what the default segmenter needs)
DEFAULT_MODELS = ",".join(vocabulary.DEFAULT_MODELS)


class InstallError(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"[install] {message}", flush=True)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def default_gimp_profile() -> Path:
    """GIMP 3's profile folder on this system."""
    system = platform.system()
    if system == "Windows":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData/Roaming")) / "GIMP" / "3.0"
    if system == "Darwin":
        return Path.home() / "Library" / "Application Support" / "GIMP" / "3.0"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "GIMP" / "3.0"


# --------------------------------------------------------------------------- steps


def step_venv(dry_run: bool) -> None:
    requirements = REPO / "requirements.txt"
    marker = VENV / ".requirements-installed"
    wanted = requirements.read_text()
    if marker.is_file() and marker.read_text() == wanted and venv_python().exists():
        say(f"server environment {VENV} is up to date")
        return
    free = shutil.disk_usage(REPO).free
    if free < MIN_FREE_BYTES:
        raise InstallError(f"only {free / 1024**3:.1f} GB free on {REPO}; the server environment needs about 8 GB")
    if dry_run:
        say(f"would create {VENV} and pip install -r {requirements.name} (torch==2.14.1, torchvision==0.29.1, ...)")
        return
    if not venv_python().exists():
        say(f"creating the server environment {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    say("installing the server's requirements (torch, torchvision, OpenCV, pyzmq, ...); this takes a few minutes")
    run([str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(requirements)])
    dev = REPO / "requirements-dev.txt"
    if dev.is_file():
        run([str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(dev)])
    marker.write_text(wanted)
    say("server environment ready")


def step_ray(dry_run: bool) -> None:
    """Ray into the server environment (``--with-ray``): optional, because it is large and only batches need it."""
    marker = VENV / ".requirements-ray-installed"
    wanted = RAY_REQUIREMENTS.read_text()
    if marker.is_file() and marker.read_text() == wanted and venv_python().exists():
        say("Ray is up to date in the server environment")
        return
    if dry_run:
        say(f"would pip install -r {RAY_REQUIREMENTS.name} into {VENV} (Ray, for cutout --ray; about 500 MB)")
        return
    if not venv_python().exists():
        raise InstallError(
            f"--with-ray installs into the server environment, but {VENV} does not exist (drop --skip-venv)"
        )
    say("installing Ray (cutout --ray); this takes a minute or two")
    run([str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(RAY_REQUIREMENTS)])
    marker.write_text(wanted)
    say("Ray ready: python -m server cutout FOLDER -o OUT --ray")


def step_paths(dry_run: bool) -> None:
    """Put the checkout and its shared package on the server environment's import path (a .pth file)."""
    wanted = f"{REPO}\n{COMMON.parent}\n"
    if dry_run:
        say(f"would put {REPO} and {COMMON.parent} on the server environment's path ({PATH_FILE})")
        return
    found = subprocess.run([str(venv_python()), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        raise InstallError(f"cannot ask {venv_python()} for its site-packages: {found.stderr.strip()}")
    target = Path(found.stdout.strip()) / PATH_FILE
    if not target.is_file() or target.read_text() != wanted:
        target.write_text(wanted)
        say(f"the server environment imports the checkout in place ({target})")


def step_weights(models: str, mirror: Path | None, accept: bool, dry_run: bool) -> None:
    try:
        names = vocabulary.networks_of([m.strip() for m in models.split(",") if m.strip()])
    except KeyError as exc:
        raise InstallError(exc.args[0]) from None
    for name in names:
        network = vocabulary.NETWORKS[name]
        if network.notice:
            say(f"licence: {network.notice}")
        if network.consent and not accept and not dry_run:
            if not sys.stdin.isatty() or input("Install it under that licence? [y/N] ").strip().lower() != "y":
                raise InstallError(f"{name} needs its {network.licence} licence accepted: pass --yes or answer y")
    command = [str(venv_python()), "-m", "models.install", "install", "--models", ",".join(names)]
    if mirror is not None:
        command += ["--weights-dir", str(mirror)]
    if dry_run:
        say(f"would install weights: {' '.join(command[1:])}")
        return
    say(f"installing model weights: {', '.join(names)}")
    run(command, cwd=REPO)


def gimp_python_candidates() -> list[str]:
    """Interpreters GIMP 3 may use for Python plug-ins (the system's python3 on Linux)."""
    if platform.system() == "Windows":
        return []  # GIMP for Windows bundles its own Python with pyzmq support via --target
    return ["/usr/bin/python3"]


def step_plugin(profile: Path, gimp_python: str | None, endpoint: str, dry_run: bool, record: dict) -> None:
    if not (profile.is_dir() or profile.parent.is_dir()):
        raise InstallError(
            f"no GIMP 3 profile at {profile} (is GIMP 3 installed and started once?); pass --gimp-profile DIR"
        )
    plugins = profile / "plug-ins"
    target = plugins / PLUGIN_NAME
    main_file = PLUGIN_SOURCE / f"{PLUGIN_NAME}.py"
    if dry_run:
        say(f"would install the plug-in into {target}: a link to {main_file}, whose code runs from the checkout")
        say(f"would write {target / 'config.json'} (endpoint {endpoint}, server started with {venv_python()})")
        return
    created = []
    for folder in (profile, plugins):
        if not folder.exists():
            folder.mkdir()
            created.append(str(folder))
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    target.mkdir()
    link_main_file(main_file, target / main_file.name)
    main_file.chmod(main_file.stat().st_mode | 0o111)  # as git keeps it; GIMP runs only executable plug-ins
    install_translations(target)
    config = {
        "endpoint": endpoint,
        "server_command": [str(venv_python()), "-m", "server", "serve"],  # the plug-in adds --endpoint
        "server_cwd": str(REPO),
        "start_timeout": 120,
    }
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    say(f"plug-in installed in {target}")
    ensure_pyzmq(target, gimp_python)
    record["plugin"] = str(target)
    record["created_folders"] = created + record.get("created_folders", [])


def link_main_file(main_file: Path, link: Path) -> None:
    """The plug-in's main file in GIMP's profile as a symbolic link to the checkout's: GIMP starts it there, and it
    imports the plug-in's modules and ``cutout_common`` from the checkout, the files the server runs (no copies)."""
    try:
        link.symlink_to(main_file)
    except OSError as exc:  # Windows without the privilege to create symbolic links
        link.parent.rmdir()
        raise InstallError(
            f"cannot create the link {link} -> {main_file} ({exc}). The plug-in runs from this checkout and is "
            "never copied: allow symbolic links (on Windows: Settings › For developers › Developer Mode, or run "
            "install.py as administrator) and run install.py again") from None


def install_translations(target: Path) -> None:
    """Each ``gimp_plugin/translations/<language>.po`` compiled to ``locale/<language>/LC_MESSAGES/person-cutout.mo``.

    That is the folder and domain GIMP binds for the plug-in (its ``do_set_i18n``); the compiler is the
    standard library's part of msgfmt (catalogue.compile_po), so no gettext tools are needed here.
    """
    languages = catalogue.translations()
    for language, po in languages.items():
        folder = target / "locale" / language / "LC_MESSAGES"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{catalogue.DOMAIN}.mo").write_bytes(catalogue.compile_po(po.read_text(encoding="utf-8")))
    say(f"translations installed: {', '.join(languages) or 'none'}")


def ensure_pyzmq(target: Path, gimp_python: str | None) -> None:
    """Make ``import zmq`` work in GIMP's Python: its own package if present, else a copy beside the plug-in."""
    candidates = [gimp_python] if gimp_python else gimp_python_candidates()
    for python in candidates:
        if not python or not Path(python).exists():
            continue
        probe = subprocess.run(
            [python, "-c", "import sys, zmq; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0:
            say(f"GIMP's Python ({python}) already has pyzmq")
            return
        version = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        ).stdout.strip()
        if version:
            vendor = target / "vendor"
            say(f"installing pyzmq for GIMP's Python {version} into {vendor}")
            run([str(venv_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--only-binary=:all:",
                 "--python-version", version, "--target", str(vendor), "pyzmq"])
            return
    say("could not find GIMP's Python; if GIMP reports 'No module named zmq', install your distribution's "
        "python3-zmq package or rerun with --gimp-python PATH")


def uninstall(record_path: Path, dry_run: bool) -> None:
    if not record_path.is_file():
        say(f"nothing recorded as installed in {record_path}; nothing to remove")
        return
    record = json.loads(record_path.read_text())
    plugin = record.get("plugin")
    if plugin and Path(plugin).exists():
        say(f"{'would remove' if dry_run else 'removing'} {plugin}")
        if not dry_run:
            shutil.rmtree(plugin)
    for folder in reversed(record.get("created_folders", [])):
        path = Path(folder)
        if path.is_dir() and not any(path.iterdir()):
            say(f"{'would remove' if dry_run else 'removing'} empty {path} (created by the install)")
            if not dry_run:
                path.rmdir()
    if record.get("venv") and VENV.exists():
        say(f"{'would remove' if dry_run else 'removing'} the server environment {VENV}")
        if not dry_run:
            shutil.rmtree(VENV)
    if record.get("weights"):
        weights = REPO / "weights"
        if weights.exists():
            say(f"{'would remove' if dry_run else 'removing'} {weights}")
            if not dry_run:
                shutil.rmtree(weights)
    if not dry_run:
        record_path.unlink()
    say("uninstalled")


def run(command: list[str], cwd: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd)
    if result.returncode != 0:
        raise InstallError(f"this step failed (exit {result.returncode}): {' '.join(command)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default=DEFAULT_MODELS, help="weights to install (default: %(default)s; isnet is opt-in)"
    )
    parser.add_argument(
        "--weights-dir", type=Path, default=None, metavar="DIR", help="install weights offline from this mirror"
    )
    parser.add_argument(
        "--gimp-profile", type=Path, default=None, metavar="DIR", help="GIMP 3 profile (default: the system's)"
    )
    parser.add_argument("--gimp-python", default=None, metavar="PATH", help="the Python GIMP runs plug-ins with")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help="where the plug-in finds the server")
    parser.add_argument(
        "--with-ray", action="store_true", help="also install Ray, for batch cut-outs on a cluster (cutout --ray)"
    )
    parser.add_argument("--skip-venv", action="store_true", help="do not create or update .venv")
    parser.add_argument("--skip-weights", action="store_true", help="do not install model weights")
    parser.add_argument("--skip-plugin", action="store_true", help="do not touch the GIMP profile")
    parser.add_argument(
        "--yes", action="store_true", help="accept the licences shown (needed for isnet when not interactive)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    parser.add_argument("--uninstall", action="store_true", help="remove what this script installed")
    parser.add_argument("--record", type=Path, default=RECORD, help="where the list of installed things is kept")
    args = parser.parse_args(argv)

    if sys.version_info < (3, 10):  # noqa: UP036 - the point is to say so on an old Python
        print(
            f"[install] error: Python {platform.python_version()} is too old; use Python 3.10 or newer", file=sys.stderr
        )
        return 2
    try:
        if args.uninstall:
            uninstall(args.record, args.dry_run)
            return 0
        record = json.loads(args.record.read_text()) if args.record.is_file() else {}
        if not args.skip_venv:
            step_venv(args.dry_run)
            step_paths(args.dry_run)
            record["venv"] = True
        elif not venv_python().exists() and not args.dry_run and not (args.skip_weights and args.skip_plugin):
            raise InstallError(f"--skip-venv given but {VENV} does not exist")
        if args.with_ray:
            step_ray(args.dry_run)
        if not args.skip_weights:
            step_weights(args.models, args.weights_dir, args.yes, args.dry_run)
            record["weights"] = True
        if not args.skip_plugin:
            step_plugin(
                args.gimp_profile or default_gimp_profile(), args.gimp_python, args.endpoint, args.dry_run, record
            )
        if not args.dry_run:
            args.record.write_text(json.dumps(record, indent=2) + "\n")
    except InstallError as exc:
        print(f"[install] error: {exc}", file=sys.stderr)
        return 1
    say("done" if not args.dry_run else "dry run: nothing was changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
