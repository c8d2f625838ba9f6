"""``python -m server cutout FOLDER -o OUT --ray [ADDRESS]``: the same cut-outs, on a Ray cluster.

Ray Data streams the photos' *paths* (never their pixels) through ``map_batches`` to a pool of
actors; each actor holds one loaded segmenter (``cutters.local``) on its own GPU when the cluster
has GPUs, on CPUs otherwise, and reads, cuts out and writes each photo itself with
:func:`server.commands.cutout_files.cut_out_photo` — the function the in-process loop calls — so the
files are the same. Only a short row per photo (its name, what became of it, an error message)
comes back; the driver holds the list of paths (a few hundred bytes a photo) and nothing grows
with the photos' sizes. Inputs and outputs must therefore be on storage every node sees under the
same path.

Nothing lost, nothing redone:

* outputs are renamed into place whole, so one that exists is complete: a photo whose outputs all
  exist is skipped (an interrupted run resumes), unless ``--overwrite`` asks for every photo again;
* a photo that fails (not a readable photo, a bug, out of memory inside Python) is reported by name
  with its error and the others carry on;
* an actor that dies (killed, out of memory, a crash in a native library) is restarted and its
  unfinished batches are given to an actor again: Ray Data's actor pools do so without limit (their
  defaults ``max_restarts=-1``, ``max_task_retries=-1``). The bound is per photo, kept by a small
  :class:`AttemptLedger` actor: a photo whose cut-out was started :data:`ATTEMPTS` times without
  finishing killed its actor each time, so it is reported failed instead of started again, and one
  poisonous photo cannot loop forever. The ledger also remembers the photos finished in this run,
  so a retried batch redoes none of them, with ``--overwrite`` too;
* what every photo would meet (an unknown segmenter, missing weights, a wrong option) stops the run
  at once, with the summary so far;
* the run ends with a summary (done, skipped, failed) and exit code 1 if any photo failed.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from server.commands.cutout_files import CutoutSettings, Tally, cut_out_photo, every_output, is_complete
from server.commands.errors import CliError
from server.pipeline.images import PhotoError, remove_leftovers
from server.transport import cutters

#: photos per Ray Data block: the unit an actor is given, given to another when it dies, and in which
#: results come back. Small, so the progress bar moves; a photo takes far longer than a block's overhead
#: (creating one took 0.6 ms on a busy 2-core machine).
PHOTOS_PER_BLOCK = 4
#: starts of one photo's cut-out (each after its actor died) before it is reported failed
ATTEMPTS = 4
#: CPUs a CPU-only actor reserves at most by default: torch's threads scale well up to about that
CPUS_PER_CPU_ACTOR = 4
#: object store of a local cluster: only paths and one short row per photo pass through it
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2

DONE, FOUND, FAILED, REFUSED = "done", "found", "failed", "refused"


class AttemptLedger:
    """How often each photo's cut-out was started in this run, and how those that finished ended: one small actor.

    It outlives the actors that cut out (a dead actor forgets everything), so a batch given to a new
    actor after a death knows which of its photos were finished, and how, and which one was being cut out.
    """

    def __init__(self) -> None:
        self.started: dict[str, int] = {}
        self.outcomes: dict[str, tuple[str, str]] = {}

    def start(self, source: str) -> tuple[int, tuple[str, str] | None]:
        """(the attempt this is, 1 for the first; (status, message) when the photo was finished already)."""
        if source in self.outcomes:
            return self.started[source], self.outcomes[source]
        self.started[source] = self.started.get(source, 0) + 1
        return self.started[source], None

    def finish(self, source: str, status: str, message: str) -> None:
        self.outcomes[source] = (status, message)


class PhotoCutter:
    """One actor's work: a segmenter loaded once, then batches of (source, target) paths cut out one by one.

    ``found``: the photo was finished in this run before, by an attempt at its batch whose actor died
    after it (the driver skipped the photos complete before the run). ``attempt`` > 1: the photo was
    being cut out when an actor died.
    """

    def __init__(self, settings: CutoutSettings, device: str, threads: int, overwrite: bool, ledger: Any) -> None:
        import torch

        torch.set_num_threads(threads)  # the CPUs Ray reserved for this actor, no more
        self.settings = settings
        self.overwrite = overwrite
        self.ledger = ledger
        self.refused: str | None = None
        try:
            self.cut = cutters.local(device, preload=[settings.segmenter])
        except cutters.CutoutRefused as exc:  # reported as rows, so the driver stops with the reason
            self.refused = str(exc)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows, cpu, finished = [], [], []
        for source, target in zip(batch["source"], batch["target"], strict=True):
            started = time.process_time()
            rows.append(self.one(Path(source), Path(target)))
            cpu.append(time.process_time() - started)  # for bench batch: the actor's own CPU seconds ...
            finished.append(time.time())  # ... and when the photo was done, not when its batch reached the driver
        return {
            "source": np.asarray(batch["source"], dtype=object),
            "status": np.asarray([status for status, _, _ in rows], dtype=object),
            "message": np.asarray([message for _, message, _ in rows], dtype=object),
            "attempt": np.asarray([attempt for _, _, attempt in rows], dtype=np.int64),
            "cpu_seconds": np.asarray(cpu, dtype=np.float64),
            "finished_at": np.asarray(finished, dtype=np.float64),
        }

    def one(self, source: Path, target: Path) -> tuple[str, str, int]:
        """(status, message, attempt) of one photo; never raises for the photo's own failure."""
        import ray

        if self.refused is not None:
            return REFUSED, self.refused, 0
        attempt, outcome = ray.get(self.ledger.start.remote(str(source)))
        if outcome is not None:  # finished by an earlier attempt at this batch, whose actor died later
            return (FOUND if outcome[0] == DONE else outcome[0]), outcome[1], attempt
        if attempt > 1 and not self.overwrite and is_complete(target, self.settings.comic):
            status, message = FOUND, ""  # written, then the actor died before the ledger heard of it
        elif attempt > ATTEMPTS:
            status, message = FAILED, (f"{source}: its actor died each of the {ATTEMPTS} times it was being cut "
                                       f"out (out of memory? a crash in a native library?)")
        else:
            status, message = self.cut_out(source, target)
        if status != REFUSED:
            ray.get(self.ledger.finish.remote(str(source), status, message))
        return status, message, attempt

    def cut_out(self, source: Path, target: Path) -> tuple[str, str]:
        try:
            cut_out_photo(source, target, self.cut, self.settings)
        except cutters.CutoutRefused as exc:
            return REFUSED, str(exc)
        except PhotoError as exc:  # its message names the file
            return FAILED, str(exc)
        except Exception as exc:  # this photo's own failure (a bug, MemoryError, a write error): the rest carry on
            return FAILED, f"{source}: {type(exc).__name__}: {exc}"
        return DONE, ""


def cut_out_on_ray(jobs: list[tuple[Path, Path]], settings: CutoutSettings, args: argparse.Namespace) -> int:
    """Cut out ``jobs`` on the cluster ``args.ray`` names; 0 when none failed, 1 otherwise."""
    try:
        import ray
    except ImportError:
        raise CliError(
            "--ray needs Ray: python3 install.py --with-ray (or pip install -r requirements-ray.txt)"
        ) from None
    if args.actors is not None and args.actors < 1 or args.actor_cpus is not None and args.actor_cpus <= 0:
        raise CliError("--actors and --actor-cpus must be positive")
    overwrite = bool(getattr(args, "overwrite", False))
    jobs = [(source.absolute(), target.absolute()) for source, target in jobs]  # actors may run in other folders
    pending = jobs if overwrite else [(s, t) for s, t in jobs if not is_complete(t, settings.comic)]
    tally = Tally(len(jobs), len(jobs) - len(pending))
    if not pending:
        print(tally.line())
        return 0
    outputs = [path for _, target in pending for path in every_output(target, settings.comic)]
    remove_leftovers(outputs)  # temporary files of an interrupted run

    connect(args.ray, args.verbose)
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), initial=tally.skipped, unit="photo", disable=len(jobs) < 2, file=sys.stderr)
    unanswered = {str(source): source for source, _ in pending}
    try:
        shape = actor_shape(args.device, args.actors, args.actor_cpus)
        bar.write(f"{len(pending)} photo(s) to cut out on Ray, {tally.skipped} already complete; up to {shape.actors} "
                  f"actor(s) of {shape.cpus:g} CPU(s){' and a GPU' if shape.gpus else ''} each", file=sys.stderr)
        for row in results(pending, settings, shape, overwrite):
            source = unanswered.pop(row["source"], None)
            if source is None:  # a row twice: a retried batch whose first attempt did come back
                continue
            bar.update(1)
            bar.set_postfix_str(source.name)
            if row["status"] == REFUSED:
                raise CliError(f"{row['message']} (stopped; {tally.line()})")
            if row["status"] == FAILED:
                tally.failed += 1
                bar.write(f"failed: {row['message']}", file=sys.stderr)
            else:
                tally.done += 1
                if row["attempt"] > 1 and row["status"] == DONE:
                    bar.write(f"retried: {source} (its actor died while cutting it out; attempt {row['attempt']})",
                              file=sys.stderr)
        for source in unanswered.values():
            tally.failed += 1
            bar.write(f"failed: {source}: no result came back (its batch failed: see the error above)", file=sys.stderr)
        unanswered.clear()
    except ray.exceptions.RayError as exc:
        raise CliError(f"the Ray run failed: {_first_line(exc)} ({tally.line()})") from None
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: {tally.line()}; run again to resume", file=sys.stderr)
        raise
    finally:
        bar.close()
        ray.shutdown()  # ends this run's actors; stops the cluster only when it was started for the run
        remove_leftovers(outputs)  # of actors that died while writing
    print(tally.line())
    return 1 if tally.failed else 0


def connect(address: str, verbose: bool = False) -> None:
    """Join the cluster at ``address`` (``auto``: the one ``ray start`` made here), or start one here for ``local``."""
    import ray
    import ray.data  # sets up its own console logging when imported

    if not verbose:  # the progress bar, the failures and the summary are ours; -v shows Ray's own messages
        for handler in logging.getLogger("ray.data").handlers:
            if not isinstance(handler, logging.FileHandler) and type(handler).__name__ != "SessionFileHandler":
                handler.setLevel(logging.ERROR)
    quiet = {"logging_level": logging.INFO if verbose else logging.ERROR, "log_to_driver": verbose}
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES, **quiet)
        else:
            ray.init(address=address, **quiet)
    except ConnectionError as exc:
        raise CliError(f"no Ray cluster at {address}: {_first_line(exc)} (start one with `ray start --head`)") from None


@dataclass(frozen=True)
class ActorShape:
    """How many actors cut out, and what each reserves: a whole GPU, or CPUs it runs torch's threads on."""

    actors: int
    cpus: float
    gpus: float
    device: str


def actor_shape(device: str = "auto", actors: int | None = None, cpus: float | None = None) -> ActorShape:
    """The actors for the connected cluster and the flags: one per GPU when there are GPUs, else one per ``cpus``."""
    import ray

    resources = ray.cluster_resources()
    gpus = 0 if device == "cpu" else int(resources.get("GPU", 0))
    if device == "cuda" and not gpus:
        raise CliError("--device cuda, but the Ray cluster has no GPU")
    if gpus:
        return ActorShape(actors or gpus, cpus or 1.0, 1.0, "cuda")
    largest_node = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node.get("Alive")), default=1)
    cpus = cpus or float(max(1, min(CPUS_PER_CPU_ACTOR, largest_node)))
    return ActorShape(actors or max(1, int(resources.get("CPU", 1) // cpus)), cpus, 0.0,
                      "cpu" if device == "auto" else device)


def results(pending: list[tuple[Path, Path]], settings: CutoutSettings, shape: ActorShape,
            overwrite: bool = False) -> Iterator[dict[str, Any]]:
    """One row per photo of ``pending`` as actors finish them, in no order: source, status, message, attempt, and
    for measurements cpu_seconds and finished_at (the actor's ``time.time()``)."""
    import ray

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours covers the whole run, skipped photos included
    context.max_errored_blocks = -1  # a batch that fails outside any photo's cut-out loses its photos, not the run
    ledger = ray.remote(num_cpus=0, max_restarts=-1)(AttemptLedger).remote()
    items = [{"source": str(source), "target": str(target)} for source, target in pending]
    dataset = ray.data.from_items(items, override_num_blocks=math.ceil(len(items) / PHOTOS_PER_BLOCK))
    dataset = dataset.map_batches(  # dead actors restarted and their batches retried: Ray Data's defaults
        PhotoCutter,
        fn_constructor_kwargs={"settings": settings, "device": shape.device, "threads": max(1, int(shape.cpus)),
                               "overwrite": overwrite, "ledger": ledger},
        batch_size=PHOTOS_PER_BLOCK,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=shape.actors, initial_size=shape.actors),
        num_cpus=shape.cpus,
        num_gpus=shape.gpus,
        runtime_env={"env_vars": _passed_on()},
    )
    yield from dataset.iter_rows()


def _passed_on() -> dict[str, str]:
    """What the actors take from this process's environment wherever they run: how torch's OpenMP threads
    wait (``python -m server`` makes them wait passively; a worker that ``ray start`` began elsewhere would
    spin). Everything else, the weights' folder included, is each node's own."""
    return {name: os.environ[name] for name in ("OMP_WAIT_POLICY",) if name in os.environ}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
