"""``python -m server COMMAND``: serve, cutout, eval, bench, hello, keys, broker, worker."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

from server import __version__
from server.commands.errors import CliError

#: ``bench NAME`` -> module with ``run(args)`` (and optionally ``add_arguments(parser)``)
BENCHMARKS = {
    "transport": "server.bench.transport",
    "models": "server.bench.models",
    "quality": "server.bench.quality",
    "matting": "server.bench.matting",
    "comic": "server.bench.comic",
    "load": "server.bench.load",
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
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

    serve = commands.add_parser("serve", help="answer cut-out requests over ZeroMQ (for the GIMP plug-in)")
    _add_serve_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    cutout = commands.add_parser("cutout", help="cut the person out of photos (a file or a folder)")
    cutout.add_argument("input", type=Path, help="a photo or a folder of photos")
    cutout.add_argument("-o", "--output", type=Path, required=True, help="output file (.png) or folder")
    cutout.add_argument("--segmenter", "-s", default=None, help="segmenter name (default: the best installed)")
    cutout.add_argument("--background", default="transparent", help="transparent (default), black, white or #rrggbb")
    cutout.add_argument("--edges", choices=("off", "fast", "best"), default="off", help="edge refinement")
    cutout.add_argument("--mask", action="store_true", help="write the soft mask (greyscale) instead of the cut-out")
    cutout.add_argument("--comic", default=None, metavar="STYLE", help="also write comic layers STEM.STYLE.LAYER.png")
    cutout.add_argument("--person", default=None, metavar="all|largest|X,Y",
                        help="which person of a group: all, the largest, or the one standing at pixel X,Y "
                             "(segmenters people and maskrcnn)")
    cutout.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="segmenter option (JSON value)")
    cutout.add_argument("--connect", default=None, metavar="ENDPOINT", help="use a running server instead of in-process")
    cutout.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (in-process only)")
    cutout.set_defaults(func=cmd_cutout)

    hello = commands.add_parser("hello", help="ask a running server what it offers")
    hello.add_argument("--connect", default="tcp://127.0.0.1:5555", metavar="ENDPOINT")
    hello.add_argument("--curve", default=None, metavar="DIR", help="CURVE key folder (python -m server keys)")
    hello.set_defaults(func=cmd_hello)

    evaluate = commands.add_parser("eval", help="measure cut-out quality on photos with ground truth")
    _delegate_arguments(evaluate, "server.evaluation.evaluate")
    evaluate.set_defaults(func=lambda a: _run_module("server.evaluation.evaluate", a))

    demo = commands.add_parser("comic-demo", help="README pictures of the comic styles and of a comic page")
    _delegate_arguments(demo, "server.demos.comic_pictures")
    demo.set_defaults(func=lambda a: _run_module("server.demos.comic_pictures", a))

    bench = commands.add_parser("bench", help="benchmarks that print figures as ratios against a reference run")
    bench_commands = bench.add_subparsers(dest="benchmark", required=True)
    for name, module in BENCHMARKS.items():
        sub = bench_commands.add_parser(name)
        _delegate_arguments(sub, module)
        sub.set_defaults(func=lambda a, m=module: _run_module(m, a))

    keys = commands.add_parser("keys", help="write a CURVE key pair and an allow-list for non-loopback serving")
    keys.add_argument("directory", type=Path)
    keys.set_defaults(func=cmd_keys)

    broker = commands.add_parser("broker", help="load-balancing broker: clients in front, workers behind")
    _delegate_arguments(broker, "server.transport.broker")
    broker.set_defaults(func=lambda a: _run_module("server.transport.broker", a))

    worker = commands.add_parser("worker", help="a worker that serves requests from a broker")
    _delegate_arguments(worker, "server.transport.worker")
    worker.set_defaults(func=lambda a: _run_module("server.transport.worker", a))
    return parser


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    from cutout_common.protocol import DEFAULT_MAX_PIXELS

    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5555", help="ZeroMQ endpoint to bind (tcp://127.0.0.1:* = free port)")
    parser.add_argument("--endpoint-file", type=Path, default=None, help="write the bound endpoint here once serving")
    parser.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda or mps")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest image accepted (width × height)")
    parser.add_argument("--queue-size", type=int, default=8, help="requests waiting before the server answers 'busy'")
    parser.add_argument("--workers", type=int, default=1, help="inference threads")
    parser.add_argument("--request-timeout", type=float, default=600.0, help="seconds a request may take")
    parser.add_argument("--preload", default=None, help="comma-separated segmenters to load at start")
    parser.add_argument("--curve", dest="curve_dir", default=None, metavar="DIR", help="require CURVE keys from DIR")
    parser.add_argument("--insecure", action="store_true", help="allow a non-loopback bind without authentication")


def _delegate_arguments(parser: argparse.ArgumentParser, module_name: str) -> None:
    """Let a command's own module declare its flags; a module not yet present simply adds none."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        parser.set_defaults(_missing=module_name)
        return
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)


def _run_module(module_name: str, args: argparse.Namespace) -> int:
    if getattr(args, "_missing", None):
        raise CliError(f"{module_name} is not part of this installation")
    return importlib.import_module(module_name).run(args) or 0


# --------------------------------------------------------------------------- serve


def cmd_serve(args: argparse.Namespace) -> int:
    from server.pipeline.devices import resolve
    from server.transport.security import SecurityError
    from server.transport.service import Server, ServerConfig

    try:
        device = resolve(args.device)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    config = ServerConfig(
        endpoint=args.endpoint,
        device=device,
        max_pixels=args.max_pixels,
        queue_size=args.queue_size,
        workers=args.workers,
        request_timeout=args.request_timeout,
        insecure=args.insecure,
        curve_dir=args.curve_dir,
    )
    server = Server(config)
    try:
        endpoint = server.bind()
    except SecurityError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:  # zmq.ZMQError: address in use, bad endpoint
        raise CliError(f"cannot bind {args.endpoint}: {exc}") from None
    for name in filter(None, (args.preload or "").split(",")):
        server.models.get(name.strip())
    if args.endpoint_file:
        args.endpoint_file.write_text(endpoint + "\n")
    print(f"Person Cutout server {__version__} on {endpoint} (device {device}); Ctrl+C stops it", flush=True)
    server.install_signal_handlers()
    server.serve_forever()
    return 0


def cmd_hello(args: argparse.Namespace) -> int:
    from cutout_common.client import Client, ServerError

    curve = None
    if args.curve:
        from server.transport.security import client_keys

        curve = client_keys(args.curve)
    with Client(args.connect, curve=curve) as client:
        try:
            info = client.hello()
        except ServerError as exc:
            raise CliError(str(exc)) from None
    print(json.dumps({k: v for k, v in info.items() if k not in ("v", "id", "type", "frames")}, indent=2))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from server.transport.security import generate_keys

    paths = generate_keys(args.directory)
    print(f"server key pair: {paths['server']} (+ _secret)")
    print(f"client key pair: {paths['client']} (+ _secret) — copy both to the client machine")
    print(f"allowed clients: {paths['allowed']}/*.key")
    print(f"serve with: python -m server serve --endpoint tcp://0.0.0.0:5555 --curve {args.directory}")
    return 0


# --------------------------------------------------------------------------- cutout


def cmd_cutout(args: argparse.Namespace) -> int:
    from server.commands.cutout import run_cutout_command

    try:
        return run_cutout_command(args)
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
