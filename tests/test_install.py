"""install.py: plan, idempotence, exact uninstall, clear failures. No GIMP needed here (see test_gimp_plugin.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import install  # noqa: E402


def run_install(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "install.py"), *args], capture_output=True, text=True,
                          timeout=300)


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and mode: what "as it was" means."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mode) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def profile(tmp_path) -> Path:
    """A used GIMP 3 profile with someone else's plug-in and settings in it."""
    profile = tmp_path / "GIMP" / "3.0"
    (profile / "plug-ins" / "someone-elses").mkdir(parents=True)
    (profile / "plug-ins" / "someone-elses" / "someone-elses.py").write_text("#!/usr/bin/env python3\n")
    (profile / "gimprc").write_text('(theme "Dark")\n')
    return profile


def plugin_args(profile: Path, record: Path, *extra: str) -> list[str]:
    # the repo's own venv python stands in for GIMP's Python: it has pyzmq, so nothing is downloaded
    return ["--skip-venv", "--skip-weights", "--gimp-profile", str(profile), "--record", str(record),
            "--gimp-python", sys.executable, *extra]


def test_dry_run_changes_nothing(profile, tmp_path):
    before = tree(profile)
    record = tmp_path / "record.json"
    result = run_install(*plugin_args(profile, record, "--dry-run"))
    assert result.returncode == 0, result.stderr
    assert "would install the plug-in" in result.stdout and "dry run" in result.stdout
    assert tree(profile) == before and not record.exists()


def test_install_is_idempotent_and_uninstall_restores_the_profile(profile, tmp_path):
    before = tree(profile)
    record = tmp_path / "record.json"
    first = run_install(*plugin_args(profile, record))
    assert first.returncode == 0, first.stderr
    installed = profile / "plug-ins" / "person-cutout"
    assert os.access(installed / "person-cutout.py", os.X_OK)
    # no code copied: GIMP starts a link to the checkout's main file, which imports the checkout's modules and
    # cutout_common, the files the server runs; the profile keeps only what is not code
    main_file = REPO / "gimp_plugin" / "person-cutout" / "person-cutout.py"
    assert (installed / "person-cutout.py").is_symlink() and (installed / "person-cutout.py").resolve() == main_file
    assert [p.name for p in installed.rglob("*.py")] == ["person-cutout.py"]
    assert not (installed / "cutout_common").exists()
    config = json.loads((installed / "config.json").read_text())
    assert config["endpoint"] == "tcp://127.0.0.1:5555"
    assert config["server_command"][:4] == [str(install.venv_python()), "-m", "server", "serve"]
    assert "already has pyzmq" in first.stdout
    # the translations, compiled where GIMP's set_i18n looks (locale/<language>/LC_MESSAGES/<domain>.mo)
    import gettext

    catalogue = gettext.translation("person-cutout", str(installed / "locale"), languages=["zh_TW"])
    assert catalogue.gettext("_1. Cut Out Person…") == "_1. 人物去背…"
    assert plugin_view(installed / "person-cutout.py") == {
        "vocabulary": str(REPO / "gimp_plugin" / "cutout_common" / "vocabulary.py"),
        "locale": str(installed / "locale"), "endpoint": config["endpoint"]}
    after_first = tree(profile)
    second = run_install(*plugin_args(profile, record))
    assert second.returncode == 0, second.stderr
    assert tree(profile) == after_first
    removed = run_install("--uninstall", "--record", str(record))
    assert removed.returncode == 0, removed.stderr
    assert tree(profile) == before and not record.exists()


def plugin_view(main_file: Path) -> dict:
    """What the plug-in started as GIMP starts it (``main_file`` in the profile) finds, without GIMP: the path logic
    of person-cutout.py up to its first GIMP import, then where cutout_common, the translations and the settings
    come from. This Python stands in for GIMP's, without site-packages (where the server's .pth file would add the
    checkout), so only the plug-in's own path logic can find cutout_common."""
    source = main_file.read_text()
    code = source[: source.index("import gi")] + textwrap.dedent("""
        import json
        from cutout_common import vocabulary
        from plugin_logic import i18n, settings
        print(json.dumps({"vocabulary": vocabulary.__file__, "locale": i18n.LOCALE_DIR,
                          "endpoint": settings.load_config()["endpoint"]}))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PERSON_CUTOUT_PLUGIN_DIR")}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", f"__file__ = {str(main_file)!r}\n" + code],
                            capture_output=True, text=True, timeout=60, env=env, cwd=main_file.parent)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_uninstall_removes_folders_it_created_only(tmp_path):
    profile = tmp_path / "GIMP" / "3.0"  # GIMP's folder exists, the profile does not yet
    profile.parent.mkdir()
    record = tmp_path / "record.json"
    assert run_install(*plugin_args(profile, record)).returncode == 0
    assert (profile / "plug-ins" / "person-cutout").is_dir()
    assert run_install("--uninstall", "--record", str(record)).returncode == 0
    assert list(profile.parent.iterdir()) == []


def test_missing_gimp_profile_is_a_clear_error(tmp_path):
    result = run_install(*plugin_args(tmp_path / "no" / "such" / "GIMP" / "3.0", tmp_path / "record.json"))
    assert result.returncode == 1
    assert "no GIMP 3 profile" in result.stderr and "--gimp-profile" in result.stderr


def test_old_python_is_refused(monkeypatch, capsys):
    monkeypatch.setattr(sys, "version_info", (3, 9, 18, "final", 0))
    assert install.main(["--dry-run", "--skip-venv", "--skip-weights", "--skip-plugin"]) == 2
    assert "too old" in capsys.readouterr().err


def test_no_disk_space_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(install, "VENV", tmp_path / "venv")  # not the real one: forces the venv step
    monkeypatch.setattr(install.shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=10**12, used=10**12 - 10**9, free=10**9))
    assert install.main(["--skip-weights", "--skip-plugin", "--record", str(tmp_path / "r.json")]) == 1
    assert "only 0.9 GB free" in capsys.readouterr().err
    assert not (tmp_path / "venv").exists()


def test_weights_step_passes_models_and_mirror_to_fetch(monkeypatch, tmp_path):
    commands = []
    monkeypatch.setattr(install, "run", lambda command, cwd=None: commands.append(command))
    install.step_weights("selfie,rvm", tmp_path / "mirror", accept=False, dry_run=False)
    assert commands == [[str(install.venv_python()), "-m", "models.install", "install", "--models", "selfie,rvm",
                         "--weights-dir", str(tmp_path / "mirror")]]


def test_isnet_needs_its_licence_accepted(monkeypatch, capsys):
    monkeypatch.setattr(install, "run", lambda command, cwd=None: pytest.fail("must not fetch without consent"))
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    with pytest.raises(install.InstallError, match="AGPL"):
        install.step_weights("selfie,isnet", None, accept=False, dry_run=False)
    assert "AGPL-3.0" in capsys.readouterr().out


def test_with_ray_plans_ray_only_when_asked(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(install, "VENV", tmp_path / "venv")  # not the real one, where Ray may be installed already
    quiet = ["--skip-venv", "--skip-weights", "--skip-plugin", "--dry-run", "--record", str(tmp_path / "r.json")]
    assert install.main(quiet) == 0
    assert "requirements-ray.txt" not in capsys.readouterr().out
    assert install.main([*quiet, "--with-ray"]) == 0
    assert "would pip install -r requirements-ray.txt" in capsys.readouterr().out
    assert not (tmp_path / "venv").exists()


def test_with_ray_installs_the_pinned_requirements_into_the_server_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(install, "VENV", tmp_path / "venv")
    install.venv_python().parent.mkdir(parents=True)
    install.venv_python().touch()
    commands = []
    monkeypatch.setattr(install, "run", lambda command, cwd=None: commands.append(command))
    install.step_ray(dry_run=False)
    assert commands == [[str(install.venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r",
                         str(install.REPO / "requirements-ray.txt")]]
    assert "ray[data]==" in (install.REPO / "requirements-ray.txt").read_text(), "Ray is pinned to one release"
    install.step_ray(dry_run=False)  # the second time: up to date, nothing run
    assert len(commands) == 1


def test_with_ray_needs_the_server_environment(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(install, "VENV", tmp_path / "venv")
    monkeypatch.setattr(install, "run", lambda command, cwd=None: pytest.fail("nothing to install into"))
    arguments = ["--skip-venv", "--skip-weights", "--skip-plugin", "--with-ray", "--record", str(tmp_path / "r.json")]
    assert install.main(arguments) == 1
    assert "--skip-venv" in capsys.readouterr().err
