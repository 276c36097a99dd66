"""Run ``naswot serve`` as a child process on a loopback port (for the load benchmark and end-to-end tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerProcess:
    """``naswot serve --host H --port P`` with extra ``NASWOT_*`` variables; output goes to ``log``."""

    def __init__(self, env: Mapping[str, str], *, host: str = "127.0.0.1", port: int | None = None, log: Path | None = None):
        self.env = {**os.environ, **env}
        self.host = host
        self.port = port or free_port(host)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: object = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 120.0) -> ServerProcess:
        """Start it and wait until ``/healthz`` answers (raises with the log tail when it dies first)."""
        self._close_log()
        self._out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 (closed on kill/stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli.main", "serve", "--host", self.host, "--port", str(self.port)],
            env=self.env, stdout=self._out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"naswot serve exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        raise TimeoutError(f"naswot serve did not answer within {timeout} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash, as far as the server can tell)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self._close_log()

    def _close_log(self) -> None:
        if hasattr(self._out, "close"):
            self._out.close()  # type: ignore[union-attr]
        self._out = None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (graceful shutdown); SIGKILL if it does not end in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()
        return self.proc.returncode

    def log_tail(self, chars: int = 3000) -> str:
        if self.log and self.log.exists():
            return self.log.read_text(errors="replace")[-chars:]
        return "(no log)"

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
