"""``naswot`` command line: score architectures from the shell, or run the HTTP service."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence

from scoring import Scorer, describe_device, open_source, resolve_device
from searchspace import EncodingError, get_space, list_spaces


def decode_arch(text: str) -> object:
    """A command-line encoding: JSON when it starts with ``[`` or ``{`` (index lists, mappings), else the text itself."""
    if text.lstrip().startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise EncodingError(f"not valid JSON: {exc.msg}", token=text, position=exc.pos) from exc
    return text


def _score(args: argparse.Namespace) -> int:
    space = get_space(args.space)
    archs = [space.canonical(decode_arch(a)) for a in args.arch]  # validate everything before any work
    device = resolve_device(args.device)
    source = open_source(args.data, args.data_dir, download=args.download)
    scorer = Scorer(space, source, batch_size=args.batch_size, seed=args.seed, device=device)
    for result in scorer.score_many(archs):
        line = {
            "space": space.name,
            **result.to_json(),
            "batch_size": args.batch_size,
            "seed": args.seed,
            "device": describe_device(device),
            "data": source.describe(),
        }
        print(json.dumps(line), flush=True)
    return 0


def _log_config(level: str) -> dict:
    """uvicorn's logging set-up plus the service's own ``naswot.*`` loggers, printed the same way."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["naswot"] = {"handlers": ["default"], "level": "DEBUG" if level == "trace" else level.upper(), "propagate": False}
    return config


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .main import create_app
    from .settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
        host = args.host or settings.host
        port = settings.port if args.port is None else args.port
        app = create_app(settings)
    except (SettingsError, ValueError) as exc:
        print(f"naswot: error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level, log_config=_log_config(settings.log_level), timeout_graceful_shutdown=10)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="naswot", description="Training-free architecture scoring (NASWOT).")
    commands = parser.add_subparsers(dest="command", required=True)

    score = commands.add_parser("score", help="score architectures; prints one JSON object per architecture")
    score.add_argument("--space", default="nb201", choices=list_spaces())
    score.add_argument("--arch", action="append", required=True, help="architecture encoding (repeatable)")
    score.add_argument("--data", default="auto", help="data source: cifar10, cifar100, cifar10:PATH, npz:PATH, noise, auto")
    score.add_argument("--data-dir", default=None, help="folder holding (or receiving) data sets [$NASWOT_DATA_DIR]")
    score.add_argument("--download", action="store_true", help="download CIFAR from its public home if missing")
    score.add_argument("--batch-size", type=int, default=128)
    score.add_argument("--seed", type=int, default=0)
    score.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    score.set_defaults(func=_score)

    serve = commands.add_parser("serve", help="run the HTTP scoring service (settings from NASWOT_* variables)")
    serve.add_argument("--host", default=None, help="address to bind [$NASWOT_HOST, else 127.0.0.1]")
    serve.add_argument("--port", type=int, default=None, help="port to listen on [$NASWOT_PORT, else 8000]")
    serve.set_defaults(func=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (EncodingError, ValueError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"naswot: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
