"""What every command gets: the loaded config, the fleet, and output rendering.

Output is generic: a command that calls :func:`add_output_arguments` and :meth:`Context.emit`
gets ``--format``, ``-o FILE`` (format from the extension), the checks that run before the
command does any work, and the same rendering rules as every other command:

- JSON is plain: ``/`` and non-ASCII text unescaped, missing values ``null``, timestamps ISO-8601;
- floats are rounded to :data:`FLOAT_DIGITS` decimals (jobs round to their unit first);
- a missing value is ``-`` in a table and empty in CSV, whatever the column's dtype (never a mix
  of ``nan``, ``NaN``, ``<NA>`` and ``None``).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xaccount_ops import validate
from xaccount_ops.config import Config, load_config

if TYPE_CHECKING:  # imported where used: pandas and boto3 cost seconds at every start
    import pandas as pd

    from xaccount_ops.fleet.accounts import Fleet

FORMATS = ("table", "csv", "json", "parquet")
# -o FILE's extension decides the format unless --format is given.
EXTENSIONS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".txt": "table"}
FLOAT_DIGITS = 3
MISSING_IN_TABLE = "-"
WRAP = 48  # characters of a text column per line in the summarised fleet tables


def parse_window(text: str) -> timedelta:
    """argparse type: a window longer than 0 (``90s``, ``30m``, ``6h``, ``2d``; bare = minutes)."""
    try:
        return validate.duration(text, allow_zero=False)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a window; {validate.DURATION_FORMS}"
        ) from None


def parse_lag(text: str) -> timedelta:
    """argparse type: like a window, but 0 is allowed (count up to now, in-flight included)."""
    try:
        return validate.duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a window; {validate.DURATION_FORMS}"
        ) from None


def parse_when(text: str) -> timedelta | datetime:
    """argparse type: how long ago (``7d``) or an ISO-8601 time."""
    try:
        return validate.when(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


class UsageError(Exception):
    """Bad output arguments or an unwritable -o FILE: exit 2, one line naming the value."""


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--format and -o, for commands that print a table."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: from -o FILE's extension "
        f"{' '.join(EXTENSIONS)}, else table)",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument(
        "--all",
        dest="all_rows",
        action="store_true",
        help="table: every row (default for fleet results: counts, then the exceptions "
        "folded; csv/json/parquet and -o FILE always hold every row)",
    )
    parser.set_defaults(_has_output_arguments=True)


def output_format(args: argparse.Namespace) -> str:
    """The format to write: --format, else -o FILE's extension, else ``table``."""
    fmt = getattr(args, "format", None)
    output = getattr(args, "output", None)
    if fmt:
        return fmt
    if not output:
        return "table"
    suffix = Path(output).suffix.lower()
    if suffix not in EXTENSIONS:
        raise UsageError(
            f"-o {output}: cannot tell the format from {suffix or 'a name without an extension'}; "
            f"use one of {', '.join(EXTENSIONS)} or say --format {'|'.join(FORMATS)}"
        )
    return EXTENSIONS[suffix]


def check_output_arguments(args: argparse.Namespace) -> None:
    """Fail before the command runs when its output could not be written."""
    if not getattr(args, "_has_output_arguments", False):
        return
    fmt = output_format(args)
    # Commands read args.format: give them the resolved one (e.g. to drop wide table columns).
    args.format = fmt
    output = getattr(args, "output", None)
    if fmt == "parquet" and not output:
        raise UsageError("--format parquet is binary: it needs -o FILE (e.g. -o out.parquet)")
    if output:
        folder = Path(output).expanduser().parent
        if not folder.is_dir():
            raise UsageError(f"-o {output}: cannot write there: no folder {folder}")
        if Path(output).is_dir():
            raise UsageError(f"-o {output}: is a folder; name a file")
        _check_writable(Path(output).expanduser())


def _check_writable(path: Path) -> None:
    """Fail now, not after the command's work, when ``path`` cannot be written (a read-only or
    foreign folder): an existing file is checked for write access, a new one is created and
    removed again."""
    import os

    try:
        if path.exists():
            if not os.access(path, os.W_OK):
                raise PermissionError(13, "permission denied")
        else:
            path.open("x").close()
            path.unlink()
    except OSError as err:
        reason = err.strerror or str(err)
        raise UsageError(f"-o {path}: cannot write there: {reason.lower()}") from None


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    @cached_property
    def config(self) -> Config:
        return load_config(self.args.config)

    def fleet(self) -> Fleet:
        return self._fleet

    @cached_property
    def _fleet(self) -> Fleet:
        from xaccount_ops.fleet.accounts import Fleet

        return Fleet.from_config(self.config)

    def emit_view(
        self, frame: pd.DataFrame, view: Any, args: argparse.Namespace | None = None
    ) -> None:
        """A fleet result: on a terminal table, its counts and folded exceptions
        (:mod:`xaccount_ops.lab.tables`) unless ``--all``; every other format, every row."""
        args = args or self.args
        whole = getattr(args, "all_rows", False) or getattr(args, "output", None)
        if output_format(args) != "table" or whole or frame.empty:
            self.emit(frame, args)
            return
        from xaccount_ops.lab.tables import fleet_text

        # Long text (a finding, a fix) wraps in its column: lines fit a wide terminal.
        sys.stdout.write(fleet_text(frame, view, lambda part: render(part, "table", wrap=WRAP)))

    def emit(self, frame: pd.DataFrame, args: argparse.Namespace | None = None) -> None:
        """Render ``frame`` as the command's format, to -o FILE or stdout.

        A command that emits several frames to one -o FILE gets them all: tables one after the
        other, csv/json/parquet as one document of all their rows (still one valid file).
        """
        import pandas as pd

        args = args or self.args
        fmt = output_format(args)
        output = getattr(args, "output", None)
        if fmt == "parquet" and not output:
            raise UsageError("--format parquet is binary: it needs -o FILE (e.g. -o out.parquet)")
        if not output:
            sys.stdout.write(render(frame, fmt))
            return
        path = Path(output).expanduser()
        emitted: dict[Path, list[pd.DataFrame]] = self.__dict__.setdefault("_emitted", {})
        earlier = emitted.setdefault(path, [])
        try:
            if fmt == "table":
                with path.open("a" if earlier else "w", encoding="utf-8") as handle:
                    handle.write(render(frame, fmt))
            else:
                whole = pd.concat([*earlier, frame], ignore_index=True) if earlier else frame
                if fmt == "parquet":
                    _plain(whole).to_parquet(path, index=False)
                else:
                    path.write_text(render(whole, fmt), encoding="utf-8")
        except (OSError, ImportError, ValueError) as err:
            reason = getattr(err, "strerror", None) or str(err)
            raise UsageError(f"-o {output}: cannot write {fmt}: {reason}") from err
        earlier.append(frame)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Floats rounded to FLOAT_DIGITS; everything else as it is."""
    import pandas as pd

    frame = frame.copy()
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column]):
            frame[column] = frame[column].round(FLOAT_DIGITS)
    return frame


def render(frame: pd.DataFrame, fmt: str, *, wrap: int | None = None) -> str:
    """``frame`` as text: ``table`` (aligned columns), ``csv`` or ``json`` (a list of objects)."""
    frame = _plain(frame)
    if fmt == "json":
        # pandas writes "\/" for "/" (valid JSON, but not what a person or jq -r expects):
        # round-trip through its records to keep its date and NA handling, then dump plainly.
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        return json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, na_rep="")
        return buffer.getvalue()
    if frame.empty:
        return "(no rows)\n"
    shown = frame.astype(object).where(frame.notna(), MISSING_IN_TABLE)
    widths = [wrap if wrap and shown[c].astype(str).str.len().max() > wrap else None for c in shown]
    return shown.to_markdown(index=False, tablefmt="simple", maxcolwidths=widths) + "\n"
