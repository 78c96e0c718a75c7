"""The child side of the local Lambda runtime: one long-lived process per function version.

Run by :mod:`xaccount_ops.local.esm.runtime` as ``python -P lambda_runner.py CODE_DIR HANDLER REQ_FD
RESP_FD`` with ``PYTHONPATH`` = the extracted code only (``-P``: this file's folder stays off
``sys.path``). Stdlib only, and imports nothing from the repo: it must behave like the Lambda
Python runtime, where only the deployed zip (plus boto3) is importable.

Protocol (JSON lines): requests on ``REQ_FD`` are ``{"id", "event", "deadline_ms", "arn"}``;
everything the child says goes to ``RESP_FD`` in order: ``{"type": "init", "ok", ...}`` once,
``{"type": "log", "m"}`` for each print/logging record, ``{"type": "result", "id", "ok",
"result" | "errorType", "errorMessage", "stackTrace"}`` per request. Routing print and logging
through the same channel keeps log lines ordered before the invocation's END line.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
from typing import Any

_lock = threading.Lock()
_request_id = ""


def _send(out: Any, message: dict[str, Any]) -> None:
    data = (json.dumps(message, default=str) + "\n").encode()
    with _lock:
        out.write(data)
        out.flush()


class _Channel(io.TextIOBase):
    """sys.stdout/sys.stderr replacement: one log message per line written."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self._buf = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            _send(self._out, {"type": "log", "m": line})
        return len(text)

    def flush(self) -> None:
        if self._buf:
            _send(self._out, {"type": "log", "m": self._buf})
            self._buf = ""


class _LambdaLogHandler(logging.Handler):
    """Like the Lambda runtime's root handler: one log event per record, tab-separated prefix."""

    def __init__(self, out: Any) -> None:
        super().__init__()
        self._out = out
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        record.aws_request_id = _request_id
        try:
            _send(self._out, {"type": "log", "m": self.format(record)})
        except Exception:  # a logging failure must not fail the invocation
            self.handleError(record)


class _Context:
    """The Lambda context object (the attributes handlers commonly use)."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.aws_request_id = request["id"]
        self.invoked_function_arn = request["arn"]
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(request["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(err: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(err).__name__,
        "errorMessage": str(err),
        "stackTrace": traceback.format_tb(err.__traceback__),
    }


def _load(handler: str) -> Any:
    module_name, _, func_name = handler.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{handler}': not enough values to unpack")
    module = importlib.import_module(module_name)
    func = getattr(module, func_name, None)
    if func is None:
        raise AttributeError(f"Handler '{func_name}' missing on module '{module_name}'")
    return func


def main(argv: list[str]) -> int:
    global _request_id
    code_dir, handler, req_fd, resp_fd = argv[1], argv[2], int(argv[3]), int(argv[4])
    # The editable install of the repo would make its packages importable: Lambda has only the zip.
    sys.meta_path[:] = [
        f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")
    ]
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    os.chdir(code_dir)
    out = os.fdopen(resp_fd, "wb", buffering=0)
    requests = os.fdopen(req_fd, "rb")
    sys.stdout = _Channel(out)  # type: ignore[assignment]
    sys.stderr = _Channel(out)  # type: ignore[assignment]
    root = logging.getLogger()
    root.addHandler(_LambdaLogHandler(out))
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())

    try:
        func = _load(handler)
    except Exception as err:
        kind = (
            "Runtime.ImportModuleError"
            if isinstance(err, ImportError)
            else "Runtime.HandlerNotFound"
        )
        if isinstance(err, SyntaxError):
            kind = "Runtime.UserCodeSyntaxError"
        _send(out, {"type": "init", "ok": False, **_error(err, kind)})
        return 1
    _send(out, {"type": "init", "ok": True})

    for line in requests:
        request = json.loads(line)
        _request_id = request["id"]
        reply: dict[str, Any] = {"type": "result", "id": request["id"]}
        try:
            result = func(request["event"], _Context(request))
            json.dumps(result)
            reply.update(ok=True, result=result)
        except Exception as err:
            print(f"[ERROR] {type(err).__name__}: {err}")  # the runtime logs unhandled errors
            reply.update(ok=False, **_error(err))
        sys.stdout.flush()
        sys.stderr.flush()
        _send(out, reply)
        _request_id = ""
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
