"""Typed DataFrames: every tabular result has a fixed schema, also when it has no rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd


def frame_with(schema: Mapping[str, str], rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """A DataFrame with exactly ``schema``'s columns and types (also when empty)."""
    return pd.DataFrame(list(rows), columns=list(schema)).astype(dict(schema))
