"""The SQLite results store of a sweep: one row per design, a metadata table, atomic writes.

Rows are written in transactions keyed by the design's key (``INSERT OR IGNORE``), so a
re-run skips finished designs and a crash never leaves a duplicate or partial row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fabric.fileio import check_output_path

__all__ = ["COLUMNS", "open_store", "read_store", "done_keys", "drop_failed", "write_rows",
           "set_meta", "read_rows", "read_meta"]

#: Output columns (unit-suffixed) after ``key``, ``inputs_json`` and ``error``.
COLUMNS: tuple[str, ...] = (
    "family", "num_gpus", "cost_usd", "network_cost_usd", "power_w",
    "collective_times_json", "step_time_s", "gpu_utilization",
    "cost_per_useful_gpu_hour_usd", "utilization_per_musd",
)
_REAL = {"cost_usd", "network_cost_usd", "power_w", "step_time_s", "gpu_utilization",
         "cost_per_useful_gpu_hour_usd", "utilization_per_musd"}


def _type(column: str) -> str:
    return "REAL" if column in _REAL else "INTEGER" if column == "num_gpus" else "TEXT"


def _not_a_store(path: str | Path, why: str) -> ValueError:
    return ValueError(f"{str(path)!r} is not a sweep results file ({why}); give the SQLite "
                      "file a `fabric sweep SPACE -o DB` wrote, or a new path")


def _tables(con: sqlite3.Connection, path: str | Path) -> set[str]:
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as err:
        con.close()
        raise _not_a_store(path, str(err)) from None


def open_store(path: str | Path) -> sqlite3.Connection:
    """Open (creating) the store at ``path``; another file there is refused, not changed, and
    a path that cannot be written (a missing or read-only folder, a folder) is named."""
    check_output_path(path)
    fresh = not Path(path).exists()
    try:
        con = sqlite3.connect(str(path), timeout=30)
    except sqlite3.OperationalError as err:
        raise ValueError(f"cannot write {str(path)!r}: {err}") from None
    # a new file has no tables to read (reading one a folder refuses would blame the file)
    tables = set() if fresh else _tables(con, path)
    if tables and "designs" not in tables:
        con.close()
        raise _not_a_store(path, f"an SQLite file with tables {sorted(tables)}")
    cols = ", ".join(f"{c} {_type(c)}" for c in COLUMNS)
    try:
        with con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(f"CREATE TABLE IF NOT EXISTS designs (key TEXT PRIMARY KEY, "
                        f"inputs_json TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', {cols})")
            con.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
    except sqlite3.OperationalError as err:
        con.close()
        if fresh:
            Path(path).unlink(missing_ok=True)
        raise ValueError(f"cannot write {str(path)!r}: {err}") from None
    return con


def read_store(path: str | Path) -> sqlite3.Connection:
    """Open an existing store read-only (``show`` and ``report --sweep`` never change it)."""
    if not Path(path).is_file():
        raise ValueError(f"{str(path)!r} is not a file; give the SQLite file a sweep wrote")
    # a finished sweep leaves no write-ahead log: read the file as it is, taking no lock and
    # making no -wal / -shm files beside it (a read-only folder, or a store only looked at);
    # while a sweep writes it (its log beside it), read through the log
    resolved = Path(path).resolve()
    live = resolved.with_name(resolved.name + "-wal").exists()
    mode = "mode=ro" if live else "mode=ro&immutable=1"
    con = sqlite3.connect(f"{resolved.as_uri()}?{mode}", uri=True, timeout=30)
    tables = _tables(con, path)
    if not {"designs", "meta"} <= tables:
        con.close()
        raise _not_a_store(path, "no designs and meta tables")
    return con


def done_keys(con: sqlite3.Connection) -> set[str]:
    """Keys of the designs already stored with a result (a failed row is evaluated again)."""
    return {row[0] for row in con.execute("SELECT key FROM designs WHERE error = ''")}


def drop_failed(con: sqlite3.Connection, keys: Iterable[str]) -> int:
    """Delete the failed rows of ``keys`` (in one transaction), so that evaluating them again
    replaces them; the number deleted."""
    with con:
        cur = con.executemany("DELETE FROM designs WHERE key = ? AND error != ''",
                              [(k,) for k in keys])
    return cur.rowcount


def write_rows(con: sqlite3.Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert rows in one transaction (a key already stored is skipped); the number inserted."""
    names = ("key", "inputs_json", "error", *COLUMNS)
    sql = (f"INSERT OR IGNORE INTO designs ({', '.join(names)}) "
           f"VALUES ({', '.join('?' for _ in names)})")
    with con:
        cur = con.executemany(sql, [tuple(r.get(n) for n in names) for r in rows])
    return cur.rowcount


def set_meta(con: sqlite3.Connection, values: Mapping[str, Any]) -> None:
    """Set metadata entries (values stored as JSON)."""
    with con:
        con.executemany("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                        [(k, json.dumps(v)) for k, v in values.items()])


def read_meta(con: sqlite3.Connection) -> dict[str, Any]:
    """The metadata table as a dict."""
    return {k: json.loads(v) for k, v in con.execute("SELECT name, value FROM meta")}


def read_rows(con: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every stored row, ordered by key."""
    cur = con.execute("SELECT * FROM designs ORDER BY key")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]
