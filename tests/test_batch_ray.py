"""``python -m server cutout FOLDER -o OUT --ray``: the same files as in-process, and nothing lost or redone.

On a local Ray cluster of 2 CPUs, with real photos (eight of persons-dev, read in place through
symbolic links; the bundled astronaut under eight names when ../shared is absent) and the checkout's
default segmenter: the files equal the in-process CLI's byte for byte, a corrupt photo is reported
by name while the others are written, a run interrupted with Ctrl-C resumes without rewriting what
it finished, and an actor killed mid-run (SIGKILL, as the kernel's out-of-memory killer does) has
its photos done by its replacement. The first test starts a cluster for its run (``--ray``), the
others join one this module starts (``--ray ADDRESS``), as a user joins a real cluster.

Needs Ray (``python3 install.py --with-ray``): skipped without it, failed in CI.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI, PERSONS_DEV

REPO = Path(__file__).resolve().parent.parent
ASTRONAUT = REPO / "tests" / "data" / "astronaut.png"
CLUSTER_CPUS = 2
RUN_TIMEOUT = 600  # seconds for one CLI run: a Ray start on a busy 2-core machine takes tens of seconds


def _need_ray():
    try:
        import ray
    except ImportError:
        message = "Ray is not installed (python3 install.py --with-ray)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return ray


@pytest.fixture(scope="module")
def segmenter() -> str:
    """The checkout's default segmenter when its weights are installed, else the small selfie one."""
    from models import registry

    for name in dict.fromkeys([registry.resolve(None), "selfie"]):
        if name in registry.names() and not registry.create(name, "cpu").missing_weights():
            return name
    message = "no segmenter weights installed (python3 install.py)"
    pytest.fail(message) if IN_CI else pytest.skip(message)


def _photo_folder(folder: Path, count: int) -> list[Path]:
    """``count`` real photos in ``folder``: links to persons-dev photos, or the astronaut under several names."""
    folder.mkdir(parents=True)
    if (PERSONS_DEV / "images").is_dir():
        sources = sorted((PERSONS_DEV / "images").glob("*.jpg"), key=lambda p: p.name)[:count]
        for source in sources:
            (folder / source.name).symlink_to(source.resolve())
    else:
        for index in range(count):
            (folder / f"astronaut-{index}.png").symlink_to(ASTRONAUT)
    return sorted(folder.iterdir())


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server", "cutout", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)


#: ``python -m server`` with Ctrl-C as a terminal delivers it: a runner started in the background by a
#: non-interactive shell (CI scripts) ignores SIGINT, its children inherit that, and Python then leaves it ignored
AS_FROM_A_TERMINAL = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                      "runpy.run_module('server', run_name='__main__', alter_sys=True)")


def _start(*args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", AS_FROM_A_TERMINAL, "cutout", *map(str, args)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _summary(stdout: str) -> tuple[int, int, int, int]:
    """(done, skipped, failed, total) from the run's last line."""
    found = re.search(r"(\d+) done, (\d+) skipped \(already complete\), (\d+) failed, of (\d+) photo", stdout)
    assert found, stdout
    return tuple(int(n) for n in found.groups())


def _written(folder: Path) -> dict[str, tuple[int, int]]:
    """The finished outputs in ``folder`` (not the hidden temporary files) with inode and mtime: what "not
    rewritten" means."""
    return {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.glob("*.png"))
        if not p.name.startswith(".")
    }


def _wait_for_outputs(folder: Path, count: int, process: subprocess.Popen) -> None:
    end = time.monotonic() + RUN_TIMEOUT
    while not folder.is_dir() or len(_written(folder)) < count:
        if process.poll() is not None:
            pytest.fail(f"the run ended before writing {count} output(s): {process.communicate()}")
        assert time.monotonic() < end, f"fewer than {count} output(s) after {RUN_TIMEOUT} s"
        time.sleep(0.05)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc): the cluster this test process started, and nothing else."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture(scope="module")
def cluster() -> str:
    """A local Ray cluster of 2 CPUs started by this test process (so its processes are ours): its address."""
    import logging

    ray = _need_ray()
    ray.init(address="local", num_cpus=CLUSTER_CPUS, include_dashboard=False, object_store_memory=256 * 1024**2,
             logging_level=logging.ERROR, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_ray_writes_the_in_process_files_and_reports_a_corrupt_photo(segmenter, tmp_path):
    _need_ray()
    photos = _photo_folder(tmp_path / "photos", 4)
    broken = tmp_path / "photos" / "broken.png"
    broken.write_bytes(ASTRONAUT.read_bytes()[:3000])  # a truncated PNG: its header reads, its pixels do not
    in_process = _cli(tmp_path / "photos", "-o", tmp_path / "in-process", "--segmenter", segmenter)
    assert in_process.returncode == 1, in_process.stderr  # a photo failed: both ways of running say so (issue 26)

    on_ray = _cli(tmp_path / "photos", "-o", tmp_path / "ray", "--segmenter", segmenter, "--ray")
    assert on_ray.returncode == 1, on_ray.stderr
    assert in_process.stdout.splitlines()[-1] == on_ray.stdout.splitlines()[-1]  # the same closing line
    assert re.search(r"failed: .*broken\.png: not a readable image", on_ray.stderr), on_ray.stderr
    assert "Traceback" not in on_ray.stderr
    assert _summary(on_ray.stdout) == (4, 0, 1, 5)
    assert sorted(_written(tmp_path / "ray")) == sorted(f"{p.stem}.png" for p in photos)
    for photo in photos:
        name = f"{photo.stem}.png"
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "in-process" / name).read_bytes(), name


def test_an_interrupted_run_resumes_without_redoing_what_it_finished(segmenter, cluster, tmp_path):
    photos = 32  # enough that a Ctrl-C after the first two outputs lands mid-run even when photos take 0.1 s
    _photo_folder(tmp_path / "photos", photos)
    out = tmp_path / "out"
    run = _start(tmp_path / "photos", "-o", out, "--segmenter", segmenter, "--ray", cluster)
    _wait_for_outputs(out, 2, run)
    run.send_signal(signal.SIGINT)  # Ctrl-C
    _, stderr = run.communicate(timeout=RUN_TIMEOUT)
    assert run.returncode == 130, stderr
    assert "interrupted:" in stderr and "run again to resume" in stderr
    finished = _written(out)
    assert 2 <= len(finished) < photos, "the interruption came too late to test a resumption"

    resumed = _cli(tmp_path / "photos", "-o", out, "--segmenter", segmenter, "--ray", cluster)
    assert resumed.returncode == 0, resumed.stderr
    assert _summary(resumed.stdout) == (photos - len(finished), len(finished), 0, photos)
    now = _written(out)
    assert len(now) == photos
    assert {name: now[name] for name in finished} == finished, (
        "a photo finished before the interruption was written again"
    )
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [], "temporary files were left behind"


def test_a_killed_actor_has_its_photos_done_by_another(segmenter, cluster, tmp_path):
    _photo_folder(tmp_path / "photos", 8)
    out = tmp_path / "out"
    run = _start(tmp_path / "photos", "-o", out, "--segmenter", segmenter, "--ray", cluster)
    _wait_for_outputs(out, 1, run)
    actors = [pid for pid in _descendants(os.getpid()) if "PhotoCutter" in _command_line(pid)]
    assert len(actors) == 1, [_command_line(pid) for pid in actors]
    before = _written(out)
    os.kill(actors[0], signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=RUN_TIMEOUT)
    assert len(before) < 8, "the actor had finished its work before it was killed"
    assert run.returncode == 0, stderr
    assert _summary(stdout) == (8, 0, 0, 8)
    after = _written(out)
    assert len(after) == 8
    assert {name: after[name] for name in before} == before, "a photo finished before the death was written again"
    assert not Path(f"/proc/{actors[0]}").exists()


def test_a_refusal_every_photo_would_meet_stops_the_run(cluster, tmp_path):
    _photo_folder(tmp_path / "photos", 2)
    run = _cli(tmp_path / "photos", "-o", tmp_path / "out", "--segmenter", "nope", "--ray", cluster)
    assert run.returncode == 2 and "unknown segmenter 'nope'" in run.stderr and "stopped" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists() or not _written(tmp_path / "out")


def test_help_and_a_missing_ray_need_no_ray(tmp_path):
    """Ray is imported only when --ray is given: with ``import ray`` failing, help works and --ray says what to
    install."""
    script = (
        "import sys; sys.modules['ray'] = None\n"  # any `import ray` now raises ImportError
        "from server.commands.main import main\n"
        "try:\n    main(['cutout', '--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0\n"
        f"sys.exit(main(['cutout', {str(ASTRONAUT)!r}, '-o', {str(tmp_path / 'x.png')!r}, '--ray']))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert "--ray [ADDRESS]" in result.stdout
    assert result.returncode == 2 and "install.py --with-ray" in result.stderr, result.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(("resources", "nodes", "device", "flags", "expected"), [
    ({"CPU": 32.0, "GPU": 4.0}, [32.0], "auto", {}, (4, 1.0, 1.0, "cuda")),  # a GPU each
    ({"CPU": 32.0, "GPU": 4.0}, [32.0], "auto", {"actors": 2, "cpus": 4.0}, (2, 4.0, 1.0, "cuda")),
    ({"CPU": 32.0, "GPU": 4.0}, [32.0], "cpu", {}, (8, 4.0, 0.0, "cpu")),  # GPUs left alone when asked
    ({"CPU": 2.0}, [2.0], "auto", {}, (1, 2.0, 0.0, "cpu")),  # this machine: one actor on both cores
    ({"CPU": 24.0}, [16.0, 8.0], "auto", {}, (6, 4.0, 0.0, "cpu")),
    ({"CPU": 2.0}, [2.0], "auto", {"actors": 2, "cpus": 1.0}, (2, 1.0, 0.0, "cpu")),
])
def test_actors_get_a_gpu_each_when_the_cluster_has_gpus(monkeypatch, resources, nodes, device, flags, expected):
    ray = _need_ray()
    from server.commands import cutout_ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: resources)
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True, "Resources": {"CPU": cpus}} for cpus in nodes])
    shape = cutout_ray.actor_shape(device, flags.get("actors"), flags.get("cpus"))
    assert (shape.actors, shape.cpus, shape.gpus, shape.device) == expected


def test_cuda_asked_of_a_cluster_without_gpus_is_refused(monkeypatch):
    ray = _need_ray()
    from server.commands import cutout_ray
    from server.commands.errors import CliError

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0})
    with pytest.raises(CliError, match="no GPU"):
        cutout_ray.actor_shape("cuda")
