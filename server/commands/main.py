"""``python -m server COMMAND``: the parser, and a dispatch to each command's own module.

Every command module has ``HELP``, ``add_arguments(parser)`` and ``run(args) -> exit code``, and
imports anything heavy (torch, the models) only inside ``run``, so ``--help`` is instant. A command
reports a user's mistake or an unavailable resource as one line (``CliError``, exit 2).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from server import __version__
from server.commands.errors import CliError

#: command -> its module
COMMANDS = {
    "serve": "server.commands.serve",
    "cutout": "server.commands.cutout",
    "hello": "server.commands.hello",
    "eval": "server.commands.evaluate",
    "comic-demo": "server.demos.comic_pictures",
    "refine-demo": "server.demos.refine_pictures",
    "bench": None,  # the benchmarks below
    "keys": "server.commands.keys",
    "broker": "server.commands.broker",
    "worker": "server.commands.worker",
}
#: ``bench NAME`` -> the benchmark's module (same interface as a command's)
BENCHMARKS = {
    "transport": "server.bench.transport",
    "models": "server.bench.models",
    "quality": "server.bench.quality",
    "matting": "server.bench.matting",
    "comic": "server.bench.comic",
    "fringe": "server.bench.fringe",
    "load": "server.bench.load",
    "batch": "server.bench.batch",
    "memory": "server.bench.memory",
    "refine": "server.bench.refine",
    "startup": "server.bench.startup",
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server", description="Person Cutout inference server and tools.")
    parser.add_argument("--version", action="version", version=f"person-cutout {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the server does")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, module_name in COMMANDS.items():
        if module_name is None:
            bench = commands.add_parser(name, help="benchmarks that print figures as ratios against a reference run")
            benchmarks = bench.add_subparsers(dest="benchmark", required=True)
            for benchmark, benchmark_module in BENCHMARKS.items():
                _add(benchmarks, benchmark, benchmark_module)
        else:
            _add(commands, name, module_name)
    return parser


def _add(commands, name: str, module_name: str) -> None:
    module = importlib.import_module(module_name)
    parser = commands.add_parser(
        name, help=getattr(module, "HELP", None), description=(module.__doc__ or "").split("\n\n")[0]
    )
    module.add_arguments(parser)
    parser.set_defaults(func=module.run)
