"""``server.pipeline.allocator``: large arrays reused from the heap, memory handed back when asked.

Each case runs in a fresh interpreter: malloc's settings are process-wide and must be made
before threads allocate. The blocks are torch tensors, like the feature maps this is for. Page faults are
counted with ``getrusage`` (minor faults: a fresh, zeroed page handed out by the kernel), resident memory read
from ``/proc/self/status``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from server.pipeline import allocator
from tests.conftest import REPO_ROOT

SCRIPT = """
import json, resource, sys, threading
from server.pipeline import allocator

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS:"))

kept = allocator.keep_freed_memory() if sys.argv[1] == "keep" else None
# after the settings, as in python -m server; its tensors are plain malloc blocks (numpy's ask for huge pages)
import torch
report = {"kept": kept}
# torch asks for 64-byte aligned blocks, which glibc 2.36 carves a little larger than the freed block of the same
# size (small objects between them keep freed blocks from merging): the heap grows for a few runs, then settles
WARM_UP = 5
MEASURED = 4

def layer():  # what a network's first stage does: 64 MiB feature maps made, combined, dropped
    first = torch.ones(16 << 20)  # above glibc's largest mmap threshold (32 MiB)
    second = torch.ones(16 << 20)
    return float((first + second)[-1])

def faults_of_one_layer():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    layer()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

def work():  # on a thread, as the server's workers: glibc gives other threads their own arenas
    for _ in range(WARM_UP):
        layer()
    # the fewest faults of the next few runs: where the heap settles varies a run or two from process to process
    report["faults"] = min(faults_of_one_layer() for _ in range(MEASURED))
    report["rss_freed"] = rss_mb()
    report["released"] = allocator.release_freed_memory()
    report["rss_released"] = rss_mb()

thread = threading.Thread(target=work)
thread.start()
thread.join()
print(json.dumps(report))
"""

PAGES_PER_LAYER = 3 * (64 << 20) // 4096


def run(mode: str) -> dict:
    result = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, cwd=REPO_ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(allocator._glibc() is None, reason="glibc's malloc only (Linux)")
def test_large_blocks_are_reused_without_page_faults_and_released_on_request():
    default, kept = run("default"), run("keep")
    print(
        f"after 5 runs of a 3 × 64 MiB layer, the fewest faults of 4 more: {default['faults']} page faults by "
        f"default, {kept['faults']} kept; "
        f"RSS after it {kept['rss_freed']} MB kept, {kept['rss_released']} MB released"
    )
    assert default["faults"] > PAGES_PER_LAYER // 2  # glibc's default: fresh mappings, faulted in page by page
    assert kept["kept"] is True
    assert kept["faults"] < PAGES_PER_LAYER // 20  # the same heap memory again
    assert kept["released"] is True
    assert kept["rss_freed"] - kept["rss_released"] >= 128  # what the layer had freed went back to the system


def test_elsewhere_both_are_harmless_no_ops(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False
    assert allocator.release_freed_memory() is False
