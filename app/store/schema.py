"""The service database's schema, written once: migrations in order, DDL type names as ``{role}`` fields a dialect fills in.

Version i+1 is at index i. Never edit a migration that has shipped (databases record that they ran it);
append a new one. Each statement ends with ``;`` and holds no other ``;``, so a migration splits into
statements. ``precision`` and ``member`` are quoted: reserved words in MySQL, plain names elsewhere.
"""

from __future__ import annotations

from app.store.dialect import Dialect

_TABLES = """
CREATE TABLE IF NOT EXISTS scores (
    space {key} NOT NULL, arch {key} NOT NULL, data {key} NOT NULL, batch_size INTEGER NOT NULL,
    seed {bigint} NOT NULL, score_name {key} NOT NULL, "precision" {key} NOT NULL,
    score {real}, singular {bool} NOT NULL, params {bigint} NOT NULL, flops {bigint} NOT NULL,
    seconds {real} NOT NULL, device TEXT NOT NULL, created_at {real} NOT NULL,
    PRIMARY KEY (space, data, batch_size, seed, score_name, "precision", arch)
){table_options};
CREATE TABLE IF NOT EXISTS jobs (
    id {key} PRIMARY KEY, status {key} NOT NULL, request TEXT NOT NULL, data TEXT,
    created_at {real} NOT NULL, started_at {real}, finished_at {real}, resumed INTEGER NOT NULL DEFAULT 0,
    cancel_requested {bool} NOT NULL DEFAULT {false}, error TEXT, outcome TEXT, device TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS evaluations (
    job_id {key} NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
    arch TEXT NOT NULL, score {real}, singular {bool} NOT NULL, params {bigint} NOT NULL, flops {bigint} NOT NULL,
    created_at {real} NOT NULL, PRIMARY KEY (job_id, step)
){table_options};
"""

_LEASES = "ALTER TABLE jobs ADD COLUMN lease_owner TEXT; ALTER TABLE jobs ADD COLUMN lease_expires {real};"

_REFERENCES = """
CREATE TABLE reference_values (
    space {key} NOT NULL, data {key} NOT NULL, batch_size INTEGER NOT NULL, seed {bigint} NOT NULL,
    "precision" {key} NOT NULL, size INTEGER NOT NULL, "member" {key} NOT NULL,
    sorted_values TEXT NOT NULL, created_at {real} NOT NULL,
    PRIMARY KEY (space, data, batch_size, seed, "precision", size, "member")
){table_options};
"""

#: cached values of scores whose definition changed are dropped, so they are scored afresh (MeCo now runs its
#: one input alone, SWAP counts 32 inputs, the default ensemble's members changed)
_DROP_REDEFINED_SCORES = "DELETE FROM scores WHERE score_name IN ('meco', 'swap') OR score_name LIKE 'ensemble%';"
#: ensemble values stored under plain ensemble names are deleted; ensembles are now stored under definition names
#: (explicit members and revisions, :func:`scoring.definition_name`), and those rows, of the counted-rank formula
#: and earlier default members, can no longer match
_DROP_ENSEMBLE_SCORES = "DELETE FROM scores WHERE score_name LIKE 'ensemble%';"

#: measured latencies, keyed by the device that measured them (:class:`scoring.LatencyKey`), and each evaluation's
#: latency when its search measured one
_LATENCIES = """
ALTER TABLE evaluations ADD COLUMN latency_ms {real};
CREATE TABLE latencies (
    space {key} NOT NULL, arch {key} NOT NULL, device {key} NOT NULL, batch INTEGER NOT NULL, resolution {key} NOT NULL,
    latency_ms {real} NOT NULL, created_at {real} NOT NULL,
    PRIMARY KEY (space, arch, device, batch, resolution)
){table_options};
"""

#: every value a search reported for an evaluation, by score name (JSON text, ``null`` for undefined), so the API shows
#: what the search computed instead of reading the score cache again; older rows hold the ranking score alone
_EVALUATION_VALUES = "ALTER TABLE evaluations ADD COLUMN score_values TEXT;"

#: a cached value keeps why it is undefined (``undefined_reason``, with a null score) and the note its score gave
#: (NASWOT: the activations read); cached nulls from before carry no reason, so they are dropped and scored afresh
_SCORE_REASONS = """
ALTER TABLE scores ADD COLUMN undefined_reason TEXT;
ALTER TABLE scores ADD COLUMN note TEXT;
DELETE FROM scores WHERE score IS NULL;
"""

#: every migration, in order, with its ``{role}`` type names unfilled
MIGRATIONS: tuple[str, ...] = (
    _TABLES, _LEASES, _REFERENCES, _DROP_REDEFINED_SCORES, _DROP_ENSEMBLE_SCORES, _LATENCIES, _EVALUATION_VALUES,
    _SCORE_REASONS,
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrations(dialect: Dialect) -> tuple[str, ...]:
    """Every migration in ``dialect``'s DDL, in order."""
    return tuple(dialect.ddl(m) for m in MIGRATIONS)


def statements(migration: str) -> list[str]:
    """The statements of one rendered migration, one by one (drivers run one statement per call)."""
    return [s.strip() for s in migration.split(";") if s.strip()]
