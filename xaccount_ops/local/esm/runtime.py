"""Function runtimes: one long-lived child process per function version and lane, running
:mod:`xaccount_ops.local.lambda_runner` with the deployed code, Lambda's environment, error
types, log lines and metrics."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from xaccount_ops.local.esm.aws import Aws, Telemetry, code_bytes
from xaccount_ops.local.esm.model import (
    CHILD_START_TIMEOUT_S,
    TIMEOUT_SLACK_S,
    FunctionSpec,
    InvokeError,
    InvokeResult,
    arn_parts,
    now_iso,
)

log = logging.getLogger(__name__)

RUNNER = Path(__file__).parent.parent / "lambda_runner.py"


class FunctionRuntime:
    """One function version's execution environment: a child process, one invocation at a time."""

    def __init__(self, spec: FunctionSpec, code_dir: Path, aws: Aws, telemetry: Telemetry) -> None:
        self.spec = spec
        self.code_dir = code_dir
        self._aws = aws
        self._telemetry = telemetry
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._req: Any = None
        self._resp: Any = None
        self._stream = ""
        self._inbox: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self._closed = False

    # environment lifecycle

    def _where(self) -> tuple[str, str, str, str]:
        return (self.spec.account, self.spec.region, f"/aws/lambda/{self.spec.name}", self._stream)

    def _log(self, message: str) -> None:
        self._telemetry.log(self._where(), message)

    def _spawn(self) -> None:
        spec = self.spec
        today = dt.datetime.now(dt.UTC)
        self._stream = f"{today:%Y/%m/%d}/[{spec.version}]{secrets.token_hex(16)}"
        try:
            keys = self._aws.credentials(spec.account, spec.role)
        except Exception as err:  # a role moto refuses: fall back to the account's keys
            log.debug("assume %s failed (%s); using the account's keys", spec.role, err)
            keys = self._aws.credentials(spec.account)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": str(self.code_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "LAMBDA_TASK_ROOT": str(self.code_dir),
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout_s)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self._stream,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python_local",
            "AWS_ENDPOINT_URL": self._aws.endpoint,
            **keys,
            **dict(spec.environment),
        }
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-P",
                    "-u",
                    str(RUNNER),
                    str(self.code_dir),
                    spec.handler,
                    str(req_r),
                    str(resp_w),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(self.code_dir),
                pass_fds=(req_r, resp_w),
                close_fds=True,
                # A group of its own: a terminal's Ctrl-C reaches the cloud only (which ends
                # this), and killing the group also ends whatever the handler started.
                process_group=0,
            )
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._req = os.fdopen(req_w, "wb", buffering=0)
        self._resp = os.fdopen(resp_r, "rb")
        self._inbox.clear()
        proc = self._proc
        threading.Thread(
            target=self._read_protocol,
            args=(self._resp,),
            daemon=True,
            name=f"lambda-{spec.name}-rx",
        ).start()
        threading.Thread(
            target=self._read_output, args=(proc,), daemon=True, name=f"lambda-{spec.name}-out"
        ).start()
        init = self._next(time.monotonic() + CHILD_START_TIMEOUT_S)
        if init is None or init.get("type") != "init":
            self._kill()
            raise InvokeError(f"{spec.name}: runtime did not start")
        if not init.get("ok"):
            self._log(
                f"[ERROR] {init.get('errorType')}: {init.get('errorMessage')}\n"
                + "".join(init.get("stackTrace") or [])
            )
            self._kill()
            raise _InitError(init.get("errorType", "Runtime.Unknown"), init.get("errorMessage", ""))
        log.info("started %s (%s) in %s", spec.name, spec.code_sha256[:12], self.code_dir)

    def _read_protocol(self, stream: Any) -> None:
        try:
            for line in stream:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if message.get("type") == "log":
                    self._log(str(message.get("m", "")))
                    continue
                with self._cond:
                    self._inbox.append(message)
                    self._cond.notify_all()
        except (ValueError, OSError):
            pass  # the pipe broke under us: as EOF
        finally:
            stream.close()  # here, not in _kill: closing it there would wait for this read
        with self._cond:
            if self._resp is stream:  # still the current environment: it exited on its own
                self._inbox.append({"type": "eof"})
                self._cond.notify_all()

    def _read_output(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:  # only what bypasses sys.stdout: interpreter errors, C output
            self._log(raw.decode(errors="replace").rstrip("\n"))

    def _next(self, deadline: float) -> dict[str, Any] | None:
        with self._cond:
            while not self._inbox:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return None
                self._cond.wait(min(left, 0.1))
            return self._inbox.popleft()

    def _kill(self) -> None:
        """End the environment: the process group first (a stuck handler never answers, and
        whatever it started goes too), then our end of the request pipe. The response pipe is
        closed by its reader once the kill makes it read EOF (closing a buffered reader blocks
        while another thread reads from it: a stuck runtime would hang the stop)."""
        proc, self._proc = self._proc, None
        with self._cond:
            req, self._req, self._resp = self._req, None, None
        if proc is not None and proc.returncode is None:  # not reaped: its pid is still its own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        if req is not None:
            with contextlib.suppress(OSError):
                req.close()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._kill()

    # invocation

    def invoke(self, event: dict[str, Any]) -> InvokeResult:
        """Run the handler on ``event``; Lambda's error types for crashes and timeouts."""
        request_id = str(uuid.uuid4())
        with self._lock:
            if self._closed:
                raise InvokeError("runtime closed")
            started = time.monotonic()
            if self._proc is None or self._proc.poll() is not None:
                try:
                    self._spawn()
                except _InitError as err:
                    return InvokeResult(
                        request_id, True, error_type=err.error_type, error_message=err.message
                    )
            self._log(f"START RequestId: {request_id} Version: {self.spec.version}")
            deadline_epoch_ms = int((time.time() + self.spec.timeout_s) * 1000)
            request = {
                "id": request_id,
                "event": event,
                "deadline_ms": deadline_epoch_ms,
                "arn": self.spec.arn,
            }
            try:
                self._req.write((json.dumps(request) + "\n").encode())
                reply = self._next(started + self.spec.timeout_s + TIMEOUT_SLACK_S)
            except (OSError, ValueError):
                reply = {"type": "eof"}
            duration = (time.monotonic() - started) * 1000
            if reply is None:
                self._log(
                    f"{now_iso()} {request_id} Task timed out after {self.spec.timeout_s:.2f} seconds"
                )
                self._kill()
                result = InvokeResult(
                    request_id,
                    True,
                    error_type="Sandbox.Timedout",
                    error_message=f"Task timed out after {self.spec.timeout_s:.2f} seconds",
                )
            elif reply.get("type") != "result":
                try:
                    code: Any = self._proc.wait(timeout=2) if self._proc else "?"
                except subprocess.TimeoutExpired:
                    code = "?"
                self._kill()
                result = InvokeResult(
                    request_id,
                    True,
                    error_type="Runtime.ExitError",
                    error_message=f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}",
                )
                self._log(result.error_message)
            elif reply.get("ok"):
                result = InvokeResult(request_id, False, payload=reply.get("result"))
            else:
                result = InvokeResult(
                    request_id,
                    True,
                    error_type=reply.get("errorType", ""),
                    error_message=reply.get("errorMessage", ""),
                )
            result.duration_ms = duration
            self._log(f"END RequestId: {request_id}")
            self._log(
                f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
                f"Billed Duration: {max(1, int(duration + 0.999))} ms\t"
                f"Memory Size: {self.spec.memory_mb} MB\tMax Memory Used: {self.spec.memory_mb // 2} MB"
            )
            dims = {"FunctionName": self.spec.name}
            acct, region = self.spec.account, self.spec.region
            self._telemetry.metric(acct, region, "Invocations", 1, "Count", dims)
            self._telemetry.metric(
                acct, region, "Errors", int(result.function_error), "Count", dims
            )
            self._telemetry.metric(acct, region, "Duration", duration, "Milliseconds", dims)
            return result


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class Functions:
    """Resolves function ARNs to running :class:`FunctionRuntime`s: one per function version
    and lane (a shard), so shards run concurrently as they do in Lambda (one concurrent
    invocation per shard at ParallelizationFactor 1), each environment with its own log stream."""

    def __init__(self, aws: Aws, telemetry: Telemetry, work_dir: Path) -> None:
        self._aws = aws
        self._telemetry = telemetry
        self._work_dir = work_dir
        self._lock = threading.Lock()
        self._specs: dict[str, tuple[float, FunctionSpec]] = {}
        self._runtimes: dict[tuple[str, str, str, str], FunctionRuntime] = {}
        self._locations: dict[str, str] = {}
        self._closed = False
        self.spec_ttl_s = 1.0

    def spec(self, function_arn: str) -> FunctionSpec:
        now = time.monotonic()
        with self._lock:
            cached = self._specs.get(function_arn)
        if cached and now - cached[0] < self.spec_ttl_s:
            return cached[1]
        region, account, _ = arn_parts(function_arn)
        try:
            got = self._aws.client(account, "lambda", region).get_function(
                FunctionName=function_arn
            )
        except Exception as err:
            raise InvokeError(f"GetFunction {function_arn}: {err}") from err
        conf = got["Configuration"]
        spec = FunctionSpec(
            account=account,
            region=region,
            name=conf["FunctionName"],
            arn=conf["FunctionArn"],
            handler=conf.get("Handler") or "lambda_function.lambda_handler",
            role=conf.get("Role") or "",
            timeout_s=float(conf.get("Timeout") or 3),
            memory_mb=int(conf.get("MemorySize") or 128),
            version=conf.get("Version") or "$LATEST",
            environment=tuple(
                sorted(((conf.get("Environment") or {}).get("Variables") or {}).items())
            ),
            code_sha256=conf.get("CodeSha256") or "",
            last_modified=str(conf.get("LastModified") or ""),
        )
        with self._lock:
            self._specs[function_arn] = (now, spec)
            self._locations[spec.arn] = (got.get("Code") or {}).get("Location", "")
        return spec

    def runtime(self, function_arn: str, lane: str = "") -> FunctionRuntime:
        if self._closed:
            raise InvokeError("emulator stopped")
        spec = self.spec(function_arn)
        key = (*spec.key, lane)
        with self._lock:
            found = self._runtimes.get(key)
            if found is not None:
                return found
            stale = [k for k in self._runtimes if k[0] == spec.arn and k[:3] != spec.key]
        code_dir = self._extract(spec)
        made = FunctionRuntime(spec, code_dir, self._aws, self._telemetry)
        with self._lock:
            if self._closed:
                raise InvokeError("emulator stopped")
            for old_key in stale:
                old = self._runtimes.pop(old_key, None)
                if old is not None:
                    old.close()  # a new version replaces the old environments
            return self._runtimes.setdefault(key, made)

    def _fetch_zip(self, spec: FunctionSpec) -> bytes:
        with self._lock:
            location = self._locations.get(spec.arn, "")
        host = urlparse(location).hostname or ""
        if host in ("127.0.0.1", "localhost", urlparse(self._aws.endpoint).hostname):
            import urllib.request

            with urllib.request.urlopen(location, timeout=10) as response:
                return bytes(response.read())
        # moto's Code.Location points at a bucket that does not exist: read the stored zip.
        return code_bytes(spec.account, spec.region, spec.name)

    def _extract(self, spec: FunctionSpec) -> Path:
        try:
            data = self._fetch_zip(spec)
        except Exception as err:
            raise InvokeError(f"{spec.name}: cannot read the code: {err}") from err
        digest = hashlib.sha256(data).hexdigest()
        target = self._work_dir / spec.name / digest
        if target.is_dir():
            return target
        tmp = target.with_name(f".{digest}.{uuid.uuid4().hex[:8]}")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                archive.extractall(tmp)
            tmp.rename(target)
        except FileExistsError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (zipfile.BadZipFile, OSError) as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise InvokeError(f"{spec.name}: bad code zip: {err}") from err
        return target

    def close_lanes(self, prefix: str) -> None:
        """Stop the environments of a retired mapping (lanes ``<uuid>/<shard>``)."""
        with self._lock:
            keys = [k for k in self._runtimes if k[3].startswith(prefix)]
            runtimes = [self._runtimes.pop(k) for k in keys]
        for runtime in runtimes:
            runtime.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            runtimes, self._runtimes = list(self._runtimes.values()), {}
        for runtime in runtimes:
            runtime.close()
