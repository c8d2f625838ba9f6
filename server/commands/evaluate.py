"""``python -m server eval --data DIR [--model NAME[:JSON] ...] [--out REPORT_DIR]``: cut-out quality on photos
with ground truth.

``DIR`` holds ``images/`` and ``masks/`` matched by file stem. Prints a markdown table (one row per
model, means over the photos); with ``--out`` also ``summary.md``, ``summary.csv``, ``photos.csv``,
``report.json`` and ``worst-<model>.png`` (photo | truth | prediction | error: red where a person is
claimed where there is none, cyan where one is missed). See :mod:`server.evaluation`.

``--clicks N`` measures refine by hand instead (:mod:`server.evaluation.interactive`): mean IoU after
0…N simulated clicks and NoC@90 / NoC@95; ``--out`` then writes ``clicks.md`` and ``clicks.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.commands.common import add_device_argument
from server.commands.errors import CliError

HELP = "measure cut-out quality on photos with ground truth"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with images/ and masks/ matched by stem")
    parser.add_argument(
        "--model", "--models", dest="models", nargs="+", default=None, metavar="NAME[:JSON]",
        help='segmenters side by side, each optionally with its own options, e.g. selfie \'selfie:{"flip":true}\' '
        "(default: the default segmenter)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, metavar="REPORT_DIR", help="write tables, CSV, JSON, sheets")
    parser.add_argument(
        "--options", default="{}", metavar="JSON", help='options for every model, e.g. \'{"edges": "fast"}\''
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N photos (by name)")
    parser.add_argument("--worst", type=int, default=8, metavar="N", help="photos on each contact sheet (default 8)")
    add_device_argument(parser, " (in-process only)")
    parser.add_argument(
        "--connect", default=None, metavar="ENDPOINT", help="ask a running server instead of in-process"
    )
    parser.add_argument("--clicks", type=int, default=None, metavar="N",
                        help="refine by hand: simulate N clicks per photo (largest error's interior point, labelled "
                             "by the truth, radius 5 px), print mean IoU after 0..N clicks and NoC@90/NoC@95")


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the report files; one-line errors for what cannot run."""
    from server.evaluation import report as report_out  # SciPy and the metrics: not for every command's start
    from server.evaluation.evaluate import EvalError, evaluate, parse_json, parse_models

    try:
        specs = parse_models(args.models, parse_json(args.options, "--options"))
        if getattr(args, "clicks", None) is not None:
            return run_clicks(args, specs)
        report = evaluate(
            Path(args.data), specs, limit=args.limit, connect=args.connect,
            device=getattr(args, "device", "auto"), worst=getattr(args, "worst", 8), progress=True,
        )  # fmt: skip
    except EvalError as exc:
        raise CliError(str(exc)) from None
    print(report_out.markdown_table(report))
    for item in report.skipped:
        print(f"skipped {item['file']}: {item['reason']}", file=sys.stderr)
    if args.out:
        for path in report_out.write_report(report, Path(args.out)):
            print(f"wrote {path}")
    return 0


def run_clicks(args: argparse.Namespace, specs: list) -> int:
    """``--clicks N``: the click simulator per model, its curve printed (and written with ``--out``)."""
    from server.evaluation import interactive

    for spec in specs:
        report = interactive.evaluate_clicks(
            Path(args.data), spec, args.clicks, limit=args.limit, connect=args.connect,
            device=getattr(args, "device", "auto"), progress=True,
        )  # fmt: skip
        print(interactive.format_report(report))
        for item in report.skipped:
            print(f"skipped {item['file']}: {item['reason']}", file=sys.stderr)
        if args.out:
            out = Path(args.out) if len(specs) == 1 else Path(args.out) / spec.label.replace("/", "_")
            for path in interactive.write_report(report, out):
                print(f"wrote {path}")
    return 0
