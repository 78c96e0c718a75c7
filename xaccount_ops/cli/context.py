"""What every command gets: the loaded config, the fleet, and output rendering."""

from __future__ import annotations

import argparse
import sys
from functools import cached_property
from pathlib import Path

import pandas as pd

from xaccount_ops.accounts import Fleet
from xaccount_ops.config import Config, load_config

FORMATS = ("table", "csv", "json", "parquet")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--format and -o, for commands that print a table."""
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


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
        return Fleet.from_config(self.config)

    def emit(self, frame: pd.DataFrame, args: argparse.Namespace | None = None) -> None:
        """Render ``frame`` as the command's --format, to -o FILE or stdout."""
        args = args or self.args
        fmt = getattr(args, "format", "table")
        output = getattr(args, "output", None)
        if fmt == "parquet":
            if not output:
                raise SystemExit("xaccount-ops: --format parquet needs -o FILE")
            frame.to_parquet(output, index=False)
            return
        text = render(frame, fmt)
        if output:
            Path(output).write_text(text)
        else:
            sys.stdout.write(text)


def render(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "json":
        return frame.to_json(orient="records", date_format="iso", indent=2) + "\n"
    if fmt == "csv":
        return frame.to_csv(index=False)
    if frame.empty:
        return "(no rows)\n"
    return frame.to_markdown(index=False, tablefmt="simple") + "\n"
