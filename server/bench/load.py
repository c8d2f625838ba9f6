"""``python -m server bench load``: throughput and latency through the broker with 1, 2, 4 workers.

Workers are separate processes (``python -m server worker``), each limited to one
torch thread, so the figure shows how the broker spreads work while cores last.
Requests per second are printed as ratios against the 1-worker run of the same
process; on a 2-core machine scaling stops at 2. After each run, ``--fuzz N``
malformed messages (:mod:`server.bench.fuzz`) go through the broker, and the resident
memory of the broker (this process) and of the workers is printed before and
after: every message must be answered and the memory must stay flat.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import zmq
from PIL import Image

from cutout_common import protocol
from cutout_common.client import Client
from server.bench.fuzz import malformed_messages
from server.transport.broker import Broker, BrokerConfig

REPO = Path(__file__).resolve().parents[2]  # the checkout: server/bench/ is two levels down
DEMO = REPO / "tests" / "data" / "astronaut.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", default="1,2,4", help="worker counts to compare")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=6, help="requests per client")
    parser.add_argument("--size", type=int, default=384, help="photo side in pixels")
    parser.add_argument("--segmenter", default="selfie")
    parser.add_argument("--fuzz", type=int, default=2000, help="malformed messages sent after each run (0: none)")


def run(args: argparse.Namespace) -> int:
    rgb = np.asarray(Image.open(DEMO).convert("RGB").resize((args.size, args.size)))
    counts = [int(n) for n in args.workers.split(",")]
    print(f"load benchmark: {args.clients} clients × {args.requests} requests of {args.size}² px, "
          f"segmenter {args.segmenter}, {os.cpu_count()} CPU cores")
    print(f"{'workers':>7} {'req/s':>8} {'vs 1':>6} {'p50 s':>7} {'p95 s':>7} {'errors':>6}   "
          f"{'fuzz answered':>13} {'broker RSS MB':>15} {'worker RSS MB':>15}")
    baseline = None
    for count in counts:
        rate, p50, p95, errors, fuzz = _measure(rgb, count, args)
        baseline = baseline or rate
        answered = f"{fuzz['answered']}/{fuzz['sent']}"
        print(
            f"{count:>7} {rate:>8.2f} {rate / baseline:>6.2f} {p50:>7.3f} {p95:>7.3f} {errors:>6}   {answered:>13} "
            f"{fuzz['broker'][0]:>6.0f} → {fuzz['broker'][1]:<6.0f} "
            f"{fuzz['workers'][0]:>6.0f} → {fuzz['workers'][1]:<6.0f}",
            flush=True,
        )
    return 0


def _rss_mb(pid: int | None = None) -> float:
    """Resident memory now (Linux /proc), or this process's peak where /proc is missing."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid is None else float("nan")


def _fuzz(frontend: str, processes: list[subprocess.Popen], count: int, segmenter: str) -> dict:
    """Send ``count`` malformed messages through the broker; RSS of broker and workers before and after."""
    before = _rss_mb(), sum(_rss_mb(p.pid) for p in processes)
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(frontend)
    answered, batch = 0, 0
    try:
        for frames in malformed_messages(random.Random(14), count, segmenter):
            sock.send_multipart(frames)
            batch += 1
            if batch == 200:  # in batches, so the queue never fills and every message is answered
                answered, batch = answered + _finals(sock, batch), 0
        answered += _finals(sock, batch)
    finally:
        sock.close(0)
    after = _rss_mb(), sum(_rss_mb(p.pid) for p in processes)
    return {"sent": count, "answered": answered, "broker": (before[0], after[0]), "workers": (before[1], after[1])}


def _finals(sock: zmq.Socket, expected: int) -> int:
    finals = 0
    end = time.monotonic() + 60
    while finals < expected and time.monotonic() < end:
        if sock.poll(500):
            finals += protocol.parse_reply(sock.recv_multipart()).is_final
    return finals


def _measure(rgb: np.ndarray, workers: int, args: argparse.Namespace) -> tuple[float, float, float, int, dict]:
    broker = Broker(BrokerConfig(frontend="tcp://127.0.0.1:*", backend="tcp://127.0.0.1:*", queue_size=1024))
    frontend, backend = broker.start()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    processes = [
        subprocess.Popen([sys.executable, "-m", "server", "worker", "--connect", backend, "--device", "cpu"],
                         cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    latencies: list[float] = []
    errors = 0
    try:
        end = time.monotonic() + 120
        while len(broker.workers) < workers and time.monotonic() < end:
            time.sleep(0.1)
        height, width = rgb.shape[:2]
        with Client(frontend, deadline=300) as warm:  # load the model in every worker
            for _ in range(workers * 2):
                warm.cutout(rgb.tobytes(), width, height, "RGB8", segmenter=args.segmenter)

        def client_loop() -> None:
            nonlocal errors
            with Client(frontend, deadline=300, silence_timeout=120) as client:
                for _ in range(args.requests):
                    start = time.perf_counter()
                    try:
                        client.cutout(rgb.tobytes(), width, height, "RGB8", segmenter=args.segmenter)
                        latencies.append(time.perf_counter() - start)
                    except Exception:
                        errors += 1

        started = time.perf_counter()
        threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        fuzz = _fuzz(frontend, processes, args.fuzz, args.segmenter)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
        broker.close()
    ordered = sorted(latencies) or [float("nan")]
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return len(latencies) / elapsed, statistics.median(ordered), p95, errors, fuzz
