"""What one SQL back end does differently from another, as data: the rest of the store is written once in :mod:`app.store.sql`.

A back end is one module (:mod:`app.store.sqlite`, :mod:`app.store.postgres`) that builds a :class:`Dialect`
named ``DIALECT``: its placeholder, its DDL type names, its upsert, locking and transaction clauses, how it
keeps the schema version, how it opens a connection and how it tells a busy database from a lost connection.
:mod:`app.store` maps each location scheme to the module that serves it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: what :attr:`Dialect.classify` says of an exception
BUSY = "busy"  # another connection holds a lock: wait (the lock released) and retry until the busy timeout, then StoreBusy
LOST = "lost"  # the connection failed: reopen it and retry once, then StoreError
FAILED = "failed"  # the statement failed: StoreError at once
#: the DDL type roles every dialect names in :attr:`Dialect.types` (the schema in :mod:`app.store.schema` uses them)
TYPE_ROLES = ("key", "real", "bigint", "bool", "false", "table_options")


@dataclass(frozen=True)
class Dialect:
    """One SQL back end: every way it differs from the others, and nothing else."""

    name: str
    #: the driver's parameter placeholder; statements are written with ``?``
    placeholder: str
    #: DDL type names by role (:data:`TYPE_ROLES`): text in a key, float, 64-bit integer, boolean, its false, table suffix
    types: Mapping[str, str]
    #: statements opening a write transaction (``{lock_ms}``: the busy timeout in milliseconds)
    begin: tuple[str, ...]
    #: appended to a SELECT whose rows the same transaction updates next (empty where ``begin`` locks the database)
    lock_rows: str
    #: appended to a SELECT taking one free row, skipping rows other transactions hold
    lock_free_row: str
    #: upsert clauses after ``INSERT ... VALUES``: ``{key}`` the conflict columns, ``{first}`` the first of them,
    #: ``{sets}`` the updated columns, each written with :attr:`set_item` (``{c}`` the column)
    keep_existing: str
    replace_existing: str
    set_item: str
    #: statements that show at once whether the database takes writes (run once, never waiting)
    probe: tuple[str, ...]
    #: the schema version: statements run first in the migration transaction, the version read (column ``version``),
    #: and the statement recording a new one (``{version}``)
    version_setup: tuple[str, ...]
    read_version: str
    write_version: str
    #: (connection target, location as shown) of a configured location (a SQLite path made ready, a URL's password masked)
    locate: Callable[[str], tuple[str, str]]
    #: a new connection to a target, in autocommit mode, its rows readable by column name
    connect: Callable[[str], Any]
    #: whether an open connection must be reopened before the next statement
    broken: Callable[[Any], bool]
    #: :data:`BUSY`, :data:`LOST` or :data:`FAILED` for the driver's errors; ``None`` for anything else
    classify: Callable[[BaseException], str | None]
    #: other processes run jobs from the same database: a job runs only under a lease
    shared: bool = False

    def __post_init__(self) -> None:
        missing = set(TYPE_ROLES) - set(self.types)
        if missing:
            raise ValueError(f"dialect {self.name} names no DDL type for {sorted(missing)}")

    def sql(self, statement: str) -> str:
        """``statement`` with its ``?`` placeholders in this dialect's style."""
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)

    def ddl(self, statement: str) -> str:
        """A schema statement with its ``{role}`` type names filled in."""
        return statement.format_map(self.types)

    def upsert(self, key: Sequence[str], replace: Sequence[str] = ()) -> str:
        """The clause after ``INSERT ... VALUES``: on a conflict over ``key``, overwrite the ``replace`` columns (none: keep the row)."""
        sets = ", ".join(self.set_item.format(c=c) for c in replace)
        template = self.replace_existing if replace else self.keep_existing
        return template.format(key=", ".join(key), first=key[0], sets=sets)
