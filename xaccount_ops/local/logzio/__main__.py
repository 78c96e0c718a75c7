"""Run the Logz.io emulator alone until Ctrl-C or SIGTERM.

    python -m xaccount_ops.local.logzio --port 8070 \\
        --shipping-token-file ship.txt --api-token-file api.txt [--db logzio.sqlite3]

Tokens are read from files (never from the command line, where ``ps`` would show them). Prints
one JSON line with the URLs once it is listening.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from xaccount_ops.local.logzio.server import LogzioEmulator


def _read_token(path: Path, what: str) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise SystemExit(f"cannot read the {what} file {path}: {err.strerror}") from None
    if not token:
        raise SystemExit(f"the {what} file {path} is empty; put the token on its first line")
    return token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xaccount_ops.local.logzio", description="Run the Logz.io emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--shipping-token-file", type=Path, required=True)
    parser.add_argument("--api-token-file", type=Path, required=True)
    parser.add_argument("--db", type=Path, help="SQLite file kept across restarts")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    emulator = LogzioEmulator(
        shipping_token=_read_token(args.shipping_token_file, "shipping token"),
        api_token=_read_token(args.api_token_file, "API token"),
        host=args.host,
        port=args.port,
        db_path=args.db,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with emulator:
        print(
            json.dumps(
                {
                    "url": emulator.url,
                    "listener_url": emulator.listener_url,
                    "api_url": emulator.api_url,
                    "db": str(emulator.db_path),
                }
            ),
            flush=True,
        )
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
