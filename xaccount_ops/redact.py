"""Keep tokens and NoEcho parameter values out of the toolkit's logs, botocore's included.

At ``-vv`` botocore logs every request's parameters and every response body at DEBUG: a
CloudFormation ``CreateChangeSet`` shows ``LogzioTOKEN``'s ``ParameterValue`` (NoEcho only hides it
in AWS's own answers), ``GetFunctionConfiguration`` shows the function's ``LOGZIO_TOKEN``, Secrets
Manager and SSM answers show the secret. :class:`RedactFilter`, installed on the root logger's
handlers by the CLI (:func:`install`; notebooks may call it too), masks in every record:

- every token value the toolkit has resolved (:func:`register`, called by ``TokenRef.resolve``);
- the value of each NoEcho template parameter (:data:`NOECHO_PARAMETERS`), in the shapes botocore
  logs it: query-string dicts, boto3 dicts, JSON and XML;
- ``token=...`` in URLs, ``X-API-TOKEN`` headers, ``LOGZIO_TOKEN``/``TOKEN``/``HTTPS_PROXY``
  environment values, ``SecretString`` values and the ``Value`` of SSM ``SecureString`` parameters (botocore logs the
  answer before ``TokenRef.resolve`` can register it).
"""

from __future__ import annotations

import logging
import re
import threading

from shipper_lambda.redact import MASK, Redactor

# NoEcho parameters of cfn/*.yaml (tests/stacks check that this list covers the templates).
NOECHO_PARAMETERS = ("LogzioTOKEN", "LogzioRouteTokens", "HttpsProxy")  # proxy: may hold a password

_SEP = r"""(?:'\s*:\s*'|"\s*:\s*"|>|=)"""  # 'k': 'v'  "k": "v"  <k>v  k=v
_VALUE = r"""[^'"<&\s,}]+"""
_NEXT_KEY = r"""<ParameterKey>|ParameterKey['"]\s*:|ParameterKey="""  # where the next one starts
_PATTERNS = [
    # A NoEcho key, then (without crossing into the next parameter) its ParameterValue.
    re.compile(
        rf"(\b(?:{'|'.join(NOECHO_PARAMETERS)})\b(?:(?!{_NEXT_KEY})[^{{}}]){{0,120}}?"
        rf"ParameterValue{_SEP})({_VALUE})"
    ),
    re.compile(
        rf"(\b(?:LOGZIO_TOKEN|TOKEN|SecretString|HTTPS_PROXY|https_proxy)['\"]?{_SEP}\s*)({_VALUE})"
    ),
    re.compile(r"""((?i:x-api-token)['"]?\s*[:=]\s*['"]?)([^'"\s,}]+)"""),
    re.compile(r"""((?i:[?&]token)=)([^&\s'"<>]+)"""),
]

_SSM_VALUE = re.compile(rf"""(['"]Value{_SEP})((?:\\.|[^'"\\])*)""")

_lock = threading.Lock()
_secrets: set[str] = set()
_redactor = Redactor()


def register(secret: str | None) -> None:
    """Mask ``secret`` from now on in every record the installed filter sees."""
    global _redactor
    if not secret or secret in _secrets:
        return
    with _lock:
        _secrets.add(secret)
        _redactor = Redactor(_secrets)


def scrub(text: str) -> str:
    """``text`` with every registered secret and every recognised token value masked."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    if "SecureString" in text:
        text = _SSM_VALUE.sub(lambda m: m.group(1) + MASK, text)
    return _redactor(text)


class RedactFilter(logging.Filter):
    """Formats a record's message (and traceback) once, masked, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
            record.exc_info = None
        return True


def install(logger: logging.Logger | None = None) -> RedactFilter:
    """Put the filter on every handler of ``logger`` (default: root), once. A handler's filter
    sees the records propagated from every library's loggers; a logger's filter would not."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        for existing in handler.filters:
            if isinstance(existing, RedactFilter):
                break
        else:
            handler.addFilter(_FILTER)
    return _FILTER


_FILTER = RedactFilter()
