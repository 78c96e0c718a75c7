"""The ``xaccount-ops`` command line: one thin module per command, wired here.

Exit codes: 0 ok, 1 a finding or a failed operation, 2 a usage or configuration error or an
endpoint that cannot be reached (one line; -vv adds the traceback).

Start-up is kept light: building the parser imports only the command modules, which import
pandas, boto3 and the jobs inside the functions that use them, so ``--help`` and a command's
checks run before any of that loads (tests/cli/test_import_graph.py; numbers in bench/).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import re
import sys
from collections.abc import Sequence

from xaccount_ops import __version__
from xaccount_ops.cli.context import Context, UsageError, check_output_arguments
from xaccount_ops.errors import ConfigError, TokenError, XaccountOpsError

log = logging.getLogger("xaccount_ops.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

# Command modules, in help order. Each exposes register(subparsers).
COMMANDS = (
    "xaccount_ops.cli.accounts_cmd",
    "xaccount_ops.cli.local_cmd",
)
# Optional modules that arrive with their features; missing ones are skipped.
OPTIONAL_COMMANDS = (
    "xaccount_ops.cli.package_cmd",
    "xaccount_ops.cli.stacks_cmd",
    "xaccount_ops.cli.subscribe_cmd",
    "xaccount_ops.cli.inventory_cmd",
    "xaccount_ops.cli.estimate_cmd",
    "xaccount_ops.cli.verify_cmd",
    "xaccount_ops.cli.backfill_cmd",
    "xaccount_ops.cli.replay_cmd",
    "xaccount_ops.cli.alerts_cmd",
)


_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


class Parser(argparse.ArgumentParser):
    """argparse, plus "did you mean" for a mistyped command or action."""

    def error(self, message: str) -> None:  # type: ignore[override]
        match = _INVALID_CHOICE.search(message)
        if match:
            choices = re.findall(r"'([^']*)'", match.group(2))
            close = difflib.get_close_matches(match.group(1), choices, n=3, cutoff=0.6)
            if close:
                message += f"; did you mean {' or '.join(close)}?"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="xaccount-ops",
        description="Ship CloudWatch Logs from many AWS accounts and regions to Logz.io.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: $XACCOUNT_OPS_CONFIG, else ./xaccount-ops.toml)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    for name in OPTIONAL_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if args.verbose < 2:
        # urllib3 warns "Retrying (Retry(...))" on every retry of a search to an endpoint that
        # went away; the one-line error below says it once. -vv shows them.
        logging.getLogger("urllib3").setLevel(logging.ERROR)
    from xaccount_ops import redact

    redact.install()  # at -vv botocore logs request parameters: no token or NoEcho value shows
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        check_output_arguments(args)  # before the work: a bad -o must not cost a deploy
        return int(args.func(args, Context(args)) or EXIT_OK)
    except UsageError as err:  # bad output arguments, an unwritable -o FILE
        print(f"xaccount-ops: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (ConfigError, TokenError) as err:
        print(f"xaccount-ops: config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        from xaccount_ops import aws

        down = aws.unreachable(err)
        if down is None and not isinstance(err, XaccountOpsError):
            raise  # a bug: the traceback is what a report needs
        # An unreachable endpoint is a setup problem (exit 2), said in one line; -vv adds where.
        if args.verbose >= 2:
            log.debug("traceback", exc_info=err)
        print(f"xaccount-ops: {down or err}", file=sys.stderr)
        return EXIT_USAGE if down is not None else EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
