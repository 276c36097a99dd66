"""``naswot serve``: the HTTP service and dashboard under uvicorn, with the service's logging."""

from __future__ import annotations

import argparse
import copy
import sys


def log_config(level: str) -> dict:
    """uvicorn's logging set-up plus the service's own ``naswot.*`` loggers, printed the same way; the access log hides query-string keys."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["naswot"] = {"handlers": ["default"], "level": "DEBUG" if level == "trace" else level.upper(), "propagate": False}
    config.setdefault("filters", {})["redact_secrets"] = {"()": "app.api.httpserver.RedactSecrets"}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_secrets"]
    return config


def serve(args: argparse.Namespace) -> int:
    """``naswot serve``: the HTTP service and dashboard under uvicorn; bad settings exit 2."""
    import uvicorn

    from app.api.httpserver import uvicorn_options
    from app.main import create_app
    from app.settings import Settings, SettingsError
    from app.store import DatabaseInUse

    try:
        settings = Settings.from_env()
        host = args.host or settings.host
        port = settings.port if args.port is None else args.port
        app = create_app(settings)
    except (SettingsError, ValueError, DatabaseInUse) as exc:
        print(f"naswot: error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level, log_config=log_config(settings.log_level), **uvicorn_options(settings))
    return 0
