"""Service settings: ``NASWOT_*`` environment variables -> one validated, immutable object.

Every default works on a laptop with no GPU and no data set: the default data source is
``auto`` (CIFAR-10 when it is on disk, else Gaussian noise, reported as synthetic), the device
is ``auto`` (every CUDA device, else the CPU) and the database is a SQLite file in the data
directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from scoring import kernels
from scoring.data import default_data_dir

PREFIX = "NASWOT_"

#: data sources a request may name without any operator configuration (never a filesystem path)
BUILTIN_SOURCES = ("auto", "cifar10", "cifar100", "noise")


class SettingsError(ValueError):
    """An environment variable that cannot be used; the message names the variable."""


class Settings(BaseSettings):
    """What the service is configured with, read from ``NASWOT_*`` (``Settings()``, or ``Settings.from_env()`` for
    another mapping and the error naming the variable); keyword arguments win over the environment.

    An empty variable counts as unset. Variables are text: lists and mappings are comma-separated
    (``NASWOT_SPACES=a.json,b.yaml``, ``NASWOT_DATA_SOURCES=name=spec,...``), never JSON.
    """

    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix=PREFIX, env_ignore_empty=True, enable_decoding=False)

    host: str = Field("127.0.0.1", description="address `naswot serve` binds to unless --host is given")
    port: int = Field(8000, ge=0, le=65535, description="port `naswot serve` listens on unless --port is given")
    db: str | Path | None = Field(None, description="SQLite file for the score cache and jobs (default: DATA_DIR/naswot.sqlite), or a postgresql:// URL shared by several replicas")
    data: str = Field("auto", description="data source used when a request names none (a built-in name, a configured name, or any spec)")
    data_dir: Path | None = Field(None, description="folder holding (or receiving) data sets (default ~/.cache/naswot)")
    download: bool = Field(False, description="download CIFAR-10/100 from their public home when missing")
    data_retry_seconds: float = Field(60.0, ge=0, le=86_400, description="seconds before a data source that failed to load is tried again")
    data_sources: dict[str, str] = Field(default_factory=dict, description="operator-named sources, name=spec")
    spaces: list[str] = Field(default_factory=list, description="space files (JSON or YAML) to load beside the installed spaces, comma-separated paths; a bad one stops the service")
    max_params: int = Field(200_000_000, ge=1, description="largest network a space that is not built in (a space file, a plugin) may make, in parameters (counted on the meta device before it gets device memory)")
    devices: str = Field("auto", description="comma-separated devices, one worker each: auto, cpu, cuda, cuda:N")
    db_busy_timeout: float = Field(5.0, gt=0, le=600, description="seconds a database write waits for another connection's lock before it fails (503)")
    queue_size: int = Field(1024, ge=1, description="architectures waiting per device worker before requests get 429")
    worker_batch: int = Field(16, ge=1, description="architectures a worker hands to one Scorer.score_many call")
    scorer_cache: int = Field(8, ge=1, description="Scorers (each holding a minibatch on its device) kept per worker")
    latency_threads: int | None = Field(
        None, ge=1, le=1024,
        description="torch intra-op threads pinned while a latency is timed, part of the device identity figures are kept under (default: torch's thread count at start)",
    )
    max_archs: int = Field(256, ge=1, description="architectures per score request")
    max_request_gflop: float = Field(
        2000.0, gt=0,
        description="device work one score request may ask for, in GFLOP: each architecture's forward FLOPs per image times the images its "
        "passes take (batch_size, plus latency_batch times 14 passes for latency_ms); beyond it, 422 before any work is queued",
    )
    max_batch_size: int = Field(1024, ge=2, description="largest minibatch a request may ask for")
    max_budget: int = Field(20000, ge=1, description="largest search budget")
    max_top_k: int = Field(1000, ge=1, description="largest top_k of a search")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest request body in bytes (413 beyond)")
    max_running_jobs: int = Field(2, ge=1, description="searches running at once; later ones wait as queued")
    max_queued_jobs: int = Field(100, ge=1, description="searches waiting to run before new ones get 429")
    max_event_streams: int = Field(64, ge=1, le=100_000, description="search event streams open at once before new ones get 429")
    max_connections: int = Field(512, ge=2, le=100_000, description="HTTP connections open at once; requests beyond them get a JSON 503 with Retry-After")
    keep_alive_seconds: float = Field(5.0, gt=0, le=3600, description="seconds an idle keep-alive connection stays open between requests")
    header_timeout: float = Field(10.0, gt=0, le=3600, description="seconds a client has to send a request's headers, from the moment the server waits for them; then the connection is closed")
    body_timeout: float = Field(30.0, gt=0, le=3600, description="seconds a client has to send a request's whole body once its headers arrived; then the connection is closed")
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576, description="largest request head (request line and headers) in bytes; beyond it the request gets a JSON 431, however it arrives")
    executor: Literal["local", "ray"] = Field("local", description="where architectures are scored: local device workers, or Ray actors")
    ray_address: str | None = Field(None, description="Ray cluster to join with executor=ray (default: RAY_ADDRESS, else a local cluster)")
    ray_actors: int | None = Field(None, ge=1, description="Ray scoring actors (default: one per GPU of the cluster, else one per CPU)")
    ray_threads: int = Field(1, ge=1, description="torch threads of each Ray CPU actor")
    job_lease_seconds: float = Field(30.0, ge=1, le=3600, description="with a shared (PostgreSQL) database: a replica's hold on a running search, renewed while it runs; another replica takes the search over once it expires")
    store_outage_seconds: float = Field(300.0, gt=0, le=86_400, description="seconds a search stays paused (retrying with backoff) while the database is busy or unreachable; past them it ends interrupted, its results kept")
    job_stall_seconds: float = Field(600.0, gt=0, le=86_400, description="with a shared (PostgreSQL) database: a running search's lease is renewed only while it made progress (an architecture scored or recorded) within this many seconds")
    replica: str | None = Field(None, description="this replica's name in job leases (default: host:pid)")
    api_key: str | None = Field(None, description="when set, every route needs Authorization: Bearer KEY but /healthz, /readyz and the dashboard's page and files (/, /searches/ID, /dashboard/...), which hold no data; `naswot` commands with --url send it unless --api-key is given")
    url: str | None = Field(None, description="not read by the server: the service `naswot report` asks unless --url is given (else http://127.0.0.1:8000)")
    gram_kernel: str = Field("auto", description="exact code-product kernel on CPUs: auto (measured once per process), int8 or float32; CUDA keeps float32")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field("info", description="log level of the server and uvicorn")

    @field_validator("download", mode="before")
    @classmethod
    def _switch(cls, value: object) -> object:
        return _parse_bool(value) if isinstance(value, str) else value

    @field_validator("spaces", mode="before")
    @classmethod
    def _paths(cls, value: object) -> object:
        return _parse_paths(value) if isinstance(value, str) else value

    @field_validator("data_sources", mode="before")
    @classmethod
    def _sources(cls, value: object) -> object:
        return _parse_sources(value) if isinstance(value, str) else value

    @field_validator("data")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("data_sources")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, spec in value.items():
            if not name or not spec or any(c in name for c in ":/\\ "):
                raise ValueError(f"bad entry {name}={spec}: names are plain words, specs non-empty")
            if name in BUILTIN_SOURCES:
                raise ValueError(f"{name!r} is a built-in source name and cannot be redefined")
        return value

    @field_validator("log_level", "gram_kernel", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("gram_kernel")
    @classmethod
    def _kernel(cls, value: str) -> str:
        if value not in kernels.MODES:
            raise ValueError(f"must be one of {', '.join(kernels.MODES)}, not {value!r}")
        return value

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _fits(self) -> Settings:
        if self.max_archs > self.queue_size:
            raise ValueError(
                f"{PREFIX}MAX_ARCHS ({self.max_archs}) must not exceed {PREFIX}QUEUE_SIZE ({self.queue_size}), "
                "or large requests could never be queued"
            )
        if self.max_event_streams >= self.max_connections:
            raise ValueError(
                f"{PREFIX}MAX_EVENT_STREAMS ({self.max_event_streams}) must be below {PREFIX}MAX_CONNECTIONS ({self.max_connections}), "
                "or open event streams could take every connection"
            )
        return self

    @property
    def data_path(self) -> Path:
        """The data directory actually used."""
        return self.data_dir if self.data_dir is not None else default_data_dir()

    @property
    def db_path(self) -> str:
        """The database actually used: a SQLite file (``:memory:`` allowed) or a PostgreSQL URL."""
        if self.db is not None:
            return str(self.db)
        return str(self.data_path / "naswot.sqlite")

    def hide_paths(self, text: str) -> str:
        """``text`` as a client may read it: the server's own files named by their setting ($NASWOT_DB, $NASWOT_DATA_DIR,
        a NASWOT_DATA_SOURCES source's path as ``<data source NAME>``), never where they lie."""
        named = [(spec.partition(":")[2], f"<data source {name}>") for name, spec in self.data_sources.items()]
        named += [(self.db_path, f"${PREFIX}DB"), (str(self.data_path), f"${PREFIX}DATA_DIR")]
        for path, name in sorted(named, key=lambda pair: -len(pair[0])):
            if path.startswith(("/", "~", ".")) and len(path) > 1:
                text = text.replace(path, name)
        return text

    def request_sources(self) -> list[str]:
        """The data source names a request may use."""
        return [*BUILTIN_SOURCES, *self.data_sources]

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource, file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then ``os.environ``: no ``.env`` file, no secrets folder."""
        return init_settings, Variables(settings_cls, os.environ)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``NASWOT_*`` variables (``environ`` defaults to ``os.environ``), then ``overrides``;
        :class:`SettingsError` names each bad variable."""
        variables = Variables(cls, os.environ if environ is None else environ)
        try:
            return cls.model_validate({**variables(), **overrides})
        except ValidationError as exc:
            problems = "; ".join(f"{PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}" if e["loc"] else e["msg"] for e in exc.errors())
            raise SettingsError(f"invalid settings: {problems}") from None


class Variables(PydanticBaseSettingsSource):
    """A pydantic-settings source: each field's ``NASWOT_<FIELD>`` variable of one mapping, by its exact upper-case
    name (as the service has always read them), an empty one counting as unset; values stay text (no JSON decoding:
    the field validators parse lists and mappings)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.environ.get(PREFIX + field_name.upper()) or None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found = (self.get_field_value(field, name) for name, field in self.settings_cls.model_fields.items())
        return {name: value for value, name, _ in found if value is not None}


def variables_of(environ: Mapping[str, str] | None, *fields: str) -> dict[str, str]:
    """The ``NASWOT_*`` variables of ``fields`` set in ``environ`` (default ``os.environ``): for :meth:`Settings.from_env`
    where a command needs only these settings."""
    env = os.environ if environ is None else environ
    names = [PREFIX + field.upper() for field in fields]
    return {name: env[name] for name in names if env.get(name)}


def gram_kernel_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``NASWOT_GRAM_KERNEL`` alone, validated as in :class:`Settings` (for commands that read no other setting)."""
    return Settings.from_env(variables_of(environ, "gram_kernel")).gram_kernel


def _parse_bool(raw: str) -> bool | str:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case, spaces around); anything else is left for pydantic to report."""
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    return raw


def _parse_paths(raw: str) -> list[str]:
    """``path,path`` -> the non-empty paths."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def _parse_sources(raw: str) -> dict[str, str]:
    """``name=spec,name=spec`` -> {name: spec}; specs may contain ``:`` but not ``,``."""
    out: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        name, sep, spec = part.partition("=")
        if not sep:
            raise PydanticCustomError("name_spec", "entry {entry} is not name=spec", {"entry": repr(part)})
        out[name.strip()] = spec.strip()
    return out
