"""``python -m server eval --clicks N``: the click simulator over a folder through the pipeline's refine.

Run with ``selfie`` (a few milliseconds a photo) on a few persons-dev photos; the figures themselves are
the README's, made by the full run it names.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from server.commands.main import main
from server.evaluation import clicks, interactive
from server.evaluation.evaluate import ModelSpec
from server.evaluation.metrics import iou, stray_soft_alpha
from tests.conftest import IN_CI, load_pair, stems


def installed(name: str) -> str:
    from models import registry

    if name not in registry.names() or registry.create(name).missing_weights():
        message = f"weights for {name} are not installed (python install.py)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return name


def test_eval_clicks_prints_the_curve_and_writes_it_per_photo(persons_dev, tmp_path, capsys):
    name = installed("selfie")
    out = tmp_path / "report"
    assert main(["eval", "--data", str(persons_dev), "--model", name, "--limit", "3", "--clicks", "2",
                 "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| clicks | 0 | 1 | 2 |" in printed and "| mean IoU |" in printed
    assert "NoC@90:" in printed and "NoC@95:" in printed and "capped at 2" in printed
    assert "one refine:" in printed and "grey left by the refines: stray soft alpha" in printed

    with (out / "clicks.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["photo"] for r in rows] == stems(persons_dev, 3)
    from models import registry

    segmenter = registry.create(name)
    segmenter.load()
    for row in rows:  # IoU before any click is the plain cut-out's; NoC agrees with the row's own curve
        rgb, truth = load_pair(persons_dev, row["photo"])
        alpha = segmenter.predict(rgb).alpha
        assert float(row["iou_0"]) == pytest.approx(iou(alpha, truth), abs=1e-3)
        assert float(row["stray_before"]) == pytest.approx(stray_soft_alpha(alpha, truth), abs=1e-4)
        curve = [float(row[f"iou_{k}"]) for k in range(3)]
        assert int(row["noc90"]) == clicks.noc(curve, 0.90) and int(row["noc95"]) == clicks.noc(curve, 0.95)
        # the bounds start where the curve starts, and knowing the outline never does worse than not
        oracle = [float(row[f"oracle_{k}"]) for k in range(3)]
        kept = [float(row[f"oracle_outline_kept_{k}"]) for k in range(3)]
        assert oracle[0] == kept[0] == pytest.approx(curve[0], abs=1e-4)
        assert all(o >= k - 1e-4 for o, k in zip(oracle, kept, strict=True))
    mean = [np.mean([float(r[f"iou_{k}"]) for r in rows]) for k in range(3)]
    assert f"| mean IoU | {mean[0]:.3f} | {mean[1]:.3f} | {mean[2]:.3f} |" in printed
    oracle_mean = [np.mean([float(r[f"oracle_{k}"]) for r in rows]) for k in range(3)]
    assert (
        f"every mistake a click lands on: {oracle_mean[0]:.3f} | {oracle_mean[1]:.3f} | {oracle_mean[2]:.3f}" in printed
    )


def test_eval_clicks_through_a_server_gives_the_same_curves(persons_dev):
    """The server gets the same 8-bit mask and hints as the in-process refine, so every click is the same."""
    name = installed("selfie")
    from server.transport.service import Server, ServerConfig

    spec = ModelSpec(name, name, {})
    local = interactive.evaluate_clicks(persons_dev, spec, 2, limit=2, device="cpu")
    server = Server(ServerConfig(endpoint="tcp://127.0.0.1:*", device="cpu"))
    with server:
        remote = interactive.evaluate_clicks(persons_dev, spec, 2, limit=2, connect=server.endpoint)
    assert [p.photo for p in remote.photos] == [p.photo for p in local.photos] and len(local.photos) == 2
    for a, b in zip(local.photos, remote.photos, strict=True):
        assert b.ious == pytest.approx(a.ious, abs=2e-3)


def test_eval_clicks_refuses_no_clicks(persons_dev, capsys):
    assert main(["eval", "--data", str(persons_dev), "--clicks", "0", "--limit", "1"]) == 2
    assert "--clicks must be at least 1" in capsys.readouterr().err
