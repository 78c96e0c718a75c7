"""Typed DataFrames: every tabular result has a fixed schema, also when it has no rows.

pandas is imported where the first frame is built, never when a module that builds frames is
imported: a command's start (its arguments, config and first AWS call) does not wait for pandas
(a third of a second alone, seconds on a loaded machine; tests/cli/test_import_graph.py). So
modules import it under ``TYPE_CHECKING`` for their annotations and inside the functions that
build or read frames, and a schema names its column types without pandas: dtype strings, and
:class:`Categories` for categorical columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Categories:
    """A categorical column type (pandas' ``CategoricalDtype``), declared without pandas:
    ``values`` in their order, compared by that order when ``ordered``."""

    values: tuple[str, ...]
    ordered: bool = False


def dtypes(schema: Mapping[str, str | Categories]) -> dict[str, Any]:
    """``schema`` as the dtypes ``DataFrame.astype`` takes."""
    import pandas as pd

    return {
        column: pd.CategoricalDtype(list(kind.values), ordered=kind.ordered)
        if isinstance(kind, Categories)
        else kind
        for column, kind in schema.items()
    }


def frame_with(
    schema: Mapping[str, str | Categories], rows: Iterable[Mapping[str, Any]] = ()
) -> pd.DataFrame:
    """A DataFrame with exactly ``schema``'s columns and types (also when empty)."""
    import pandas as pd

    return pd.DataFrame(list(rows), columns=list(schema)).astype(dtypes(schema))
