"""Where the shipping token comes from: the environment, Secrets Manager or SSM Parameter Store.

A secret is read once per container and cached (Lambda reuses containers for many invocations).
boto3 is imported only here and only when a secret is configured: the stdlib-only path and cold
starts without a secret never pay for it. boto3 honours ``AWS_ENDPOINT_URL``, which the local cloud
sets, so the same code reads the emulator's secrets. Each request of the read has the Logz.io
requests' whole-request deadline (``LOGZIO_TIMEOUT_SECONDS``, capped by the invocation's time
left; ``aws_http``): a proxy or endpoint trickling its answer cannot hold the invocation.

``LOGZIO_TOKEN_SECRET`` forms:

- ``ssm:NAME`` or ``/path/name``: an SSM parameter (SecureString decrypted);
- anything else: a Secrets Manager id (name or ARN). The secret string is either the token itself
  or a JSON object holding it under ``token`` or ``LOGZIO_TOKEN``.
"""

from __future__ import annotations

import json
import logging
import time

from shipper_lambda import aws_http
from shipper_lambda.config import Config
from shipper_lambda.errors import ConfigError

log = logging.getLogger(__name__)

_cache: dict[str, str] = {}
DEFAULT_TIMEOUT_S = 15.0  # LOGZIO_TIMEOUT_SECONDS' default


class TokenUnavailable(RuntimeError):
    """The configured secret could not be read. The message names the secret, never its value."""


def resolve(config: Config, deadline: float | None = None) -> str:
    """The shipping token: ``LOGZIO_TOKEN`` wins; else the secret, fetched once per container,
    each request within ``config.timeout_s`` and none after ``deadline`` (monotonic)."""
    if config.token:
        return config.token
    return fetch_cached(config.token_secret or "", config.timeout_s, deadline)


def fetch_cached(
    secret_id: str, timeout_s: float = DEFAULT_TIMEOUT_S, deadline: float | None = None
) -> str:
    """The token held by a Secrets Manager id or an SSM name (``ssm:NAME``/``/path``), read once
    per container, each request within ``timeout_s`` seconds and none after ``deadline``
    (``time.monotonic()``). Routes to sub-accounts use this for their own tokens."""
    if secret_id not in _cache:
        _cache[secret_id] = _fetch(secret_id, timeout_s, deadline)
    return _cache[secret_id]


def clear_cache() -> None:
    """Forget fetched tokens (tests; a rotated secret is picked up by the next container)."""
    _cache.clear()


def _fetch(secret_id: str, timeout_s: float, deadline: float | None) -> str:
    import boto3  # lazily: only containers configured with a secret need it

    started = time.monotonic()
    try:
        if secret_id.startswith(("ssm:", "/")):
            name = secret_id.removeprefix("ssm:")
            client = aws_http.with_deadline(boto3.client("ssm"), timeout_s, deadline)
            response = client.get_parameter(Name=name, WithDecryption=True)
            value = response["Parameter"]["Value"]
        else:
            region = _arn_region(secret_id)
            client = boto3.client("secretsmanager", **({"region_name": region} if region else {}))
            client = aws_http.with_deadline(client, timeout_s, deadline)
            value = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except aws_http.RequestDeadline as err:
        raise TokenUnavailable(
            f"could not read the shipping token from {secret_id!r} in time: {err} "
            f"(LOGZIO_TIMEOUT_SECONDS; {time.monotonic() - started:.2f}s spent)"
        ) from None
    except Exception as err:
        # botocore messages name the resource, not the value; keep only the class and message.
        raise TokenUnavailable(
            f"could not read the shipping token from {secret_id!r}: {type(err).__name__}: {err}"
        ) from None
    token = _unwrap(value, secret_id)
    log.info("shipping token read from %s", secret_id)
    return token


def _unwrap(value: str, secret_id: str) -> str:
    text = value.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            raise ConfigError(f"secret {secret_id!r} looks like JSON but does not parse") from None
        for key in ("token", "LOGZIO_TOKEN", "logzio_token"):
            if isinstance(doc, dict) and isinstance(doc.get(key), str) and doc[key]:
                return doc[key].strip()
        raise ConfigError(
            f"secret {secret_id!r} is a JSON object without a 'token' or 'LOGZIO_TOKEN' string"
        )
    if not text:
        raise ConfigError(f"secret {secret_id!r} is empty")
    return text


def _arn_region(secret_id: str) -> str | None:
    # arn:aws:secretsmanager:<region>:<account>:secret:<name>
    parts = secret_id.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "secretsmanager" and parts[3]:
        return parts[3]
    return None
