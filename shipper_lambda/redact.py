"""Keep the shipping token out of everything the shipper logs.

The token travels in the request's query string (``/?token=...``), and listeners, proxies and load
balancers may echo the request line or URL in an error body. Anything built from a response (or an
exception) is passed through :class:`Redactor` before it is logged; :func:`guard` also puts a
filter on the shipper's loggers for the duration of an invocation, so that a record formatted from
arguments nobody scrubbed still loses the token.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator
from urllib.parse import quote

MASK = "***"
# ``token=<value>`` in a query string or echoed URL, whatever the token is.
_TOKEN_PARAM = re.compile(r"(token=)[^&\s\"'<>]+", re.IGNORECASE)
# The shipper's own loggers (a logger's filters apply only to records logged on that logger).
LOGGERS = (
    "shipper_lambda",
    "shipper_lambda.handler",
    "shipper_lambda.deliver",
    "shipper_lambda.sender",
    "shipper_lambda.token_source",
    "shipper_lambda.transform",
    "shipper_lambda.config",
    "shipper_lambda.codec",
    "shipper_lambda.batch",
    "shipper_lambda.routes",
    "shipper_lambda.events",
)


class Redactor:
    """Replaces the given secrets (raw and URL-quoted) and any ``token=...`` value with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Redact ``secret`` too (a sub-account route's token, read during the invocation)."""
        if secret and len(secret) >= 4:  # shorter values would mask ordinary words
            values = {*self._secrets, secret, quote(secret, safe="")}
            self._secrets = sorted(values, key=len, reverse=True)  # longest first: quoted forms

    def __call__(self, text: str) -> str:
        text = _TOKEN_PARAM.sub(r"\1" + MASK, text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class RedactFilter(logging.Filter):
    """Formats each record's message once, redacted, so no handler ever sees the raw arguments."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redactor(message)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
            record.exc_info = None  # the handler prints exc_text, never the raw exception again
        return True


@contextlib.contextmanager
def guard(token: str | None) -> Iterator[Redactor]:
    """Redact ``token`` from every record of the shipper's loggers while the block runs."""
    redactor = Redactor([token])
    flt = RedactFilter(redactor)
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addFilter(flt)
    try:
        yield redactor
    finally:
        for logger in loggers:
            logger.removeFilter(flt)
