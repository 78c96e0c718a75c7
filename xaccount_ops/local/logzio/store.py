"""The emulator's document store: one SQLite table of accepted lines, filed by time.

Each row keeps the document as JSON text (as sent when the listener added no field: text, not a
BLOB, so that LIKE prefilters apply), the epoch milliseconds it is filed under (its parsed
``@timestamp``, or its receive time) and its receive time. Searches read the rows of a time
window in insertion order and evaluate the query in Python (``query.py``): a local emulator holds
thousands of lines, not billions, and Python evaluation keeps the query semantics in one place.

One connection, shared by the server's threads behind a lock; WAL mode so a file database stays
consistent if the process dies mid-write.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # optional speed-up; the stdlib is enough
    import orjson

    def _dumps(doc: Any) -> str:
        return orjson.dumps(doc).decode()

    _loads = orjson.loads
except ImportError:  # pragma: no cover - exercised only without orjson
    import json

    def _dumps(doc: Any) -> str:
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)

    _loads = json.loads

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_ts ON docs (ts_ms);
"""


@dataclass(frozen=True)
class Doc:
    """A stored document: its row id, the time it is filed under, and the document itself."""

    id: int
    ts_ms: int
    source: dict[str, Any]


class Store:
    """Documents in a SQLite file (created if missing, kept across restarts)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def add(
        self, lines: Iterable[tuple[dict[str, Any], int, bytes | None]], received_ms: int
    ) -> int:
        """Store ``(document, ts_ms, json_text_or_None)`` in one transaction; how many were
        stored. Given JSON text (a line as sent) is stored as is, else the document is encoded."""
        rows = [
            (ts_ms, received_ms, raw.decode() if raw is not None else _dumps(doc))
            for doc, ts_ms, raw in lines
        ]
        if not rows:
            return 0
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO docs (ts_ms, received_ms, source) VALUES (?, ?, ?)", rows
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(rows)

    def scan(
        self, lo_ms: int | None = None, hi_ms: int | None = None, hint: Any = None
    ) -> Iterator[Doc]:
        """Documents filed in ``[lo_ms, hi_ms)`` (either end open when ``None``), oldest row
        first, skipping rows whose text fails ``hint`` (``query.prefilter``'s condition).
        Rows are fetched under the lock, then decoded outside it."""
        sql = "SELECT id, ts_ms, source FROM docs"
        where: list[str] = []
        params: list[Any] = []
        if hint is not None:
            where.append(_hint_sql(hint, params))
        if lo_ms is not None:
            where.append("ts_ms >= ?")
            params.append(lo_ms)
        if hi_ms is not None:
            where.append("ts_ms < ?")
            params.append(hi_ms)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        for row_id, ts_ms, source in rows:
            yield Doc(row_id, ts_ms, _loads(source))

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM docs")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _hint_sql(hint: Any, params: list[Any]) -> str:
    kind, arg = hint
    if kind == "has":
        # LIKE is ASCII case-insensitive, as the query's text matching is.
        params.append("%" + arg.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        return "source LIKE ? ESCAPE '\\'"
    joiner = " AND " if kind == "all" else " OR "
    return "(" + joiner.join(_hint_sql(h, params) for h in arg) + ")"
