"""Which HTTP proxy, if any, carries the request to the listener: ``HTTPS_PROXY``/``HTTP_PROXY``
and ``NO_PROXY``, read the way curl, urllib and botocore read them.

Functions in a VPC with no internet route often reach vendors through an egress proxy. An
``https://`` listener is reached through a CONNECT tunnel (the proxy sees only ``host:port``;
the token travels inside TLS), an ``http://`` listener in absolute form (the proxy sees the whole
URL, token included: use https through a proxy you do not run).

- The lower-case name wins over the upper-case one when both are set (curl, urllib).
- ``NO_PROXY`` is a comma-separated list of host names and domain suffixes (``.example.com`` and
  ``example.com`` both match ``a.example.com``), or ``*`` for every host; matched by urllib's
  ``proxy_bypass_environment``, the matcher botocore uses, so the same variable means the same
  thing to the shipper and to the AWS SDK calls of the same function (no CIDR ranges in either).
- The proxy is spoken to in plain HTTP (``http://host:port`` or ``host:port``): TLS to the proxy
  itself would be TLS inside TLS, which ``http.client`` cannot do; an ``https://`` proxy URL is
  refused by name rather than silently downgraded.
- Credentials in the proxy URL (``http://user:pass@host:port``) become a ``Proxy-Authorization:
  Basic`` header. They never appear in :attr:`Proxy.display`, an error, or a log line.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit
from urllib.request import proxy_bypass_environment


class ProxyConfigError(ValueError):
    """A proxy variable the shipper cannot use; names the variable, never its credentials."""


@dataclass(frozen=True)
class Proxy:
    """Where to connect instead of the listener, and the header that authenticates us there."""

    host: str
    port: int
    variable: str  # the environment variable it came from, for messages
    authorization: str | None = field(default=None, repr=False)  # "Basic ..."; never printed

    @property
    def display(self) -> str:
        """``http://host:port``: safe to log (no credentials)."""
        return f"http://{self.host}:{self.port}"

    def headers(self) -> dict[str, str]:
        """The ``Proxy-Authorization`` header when the URL carried credentials."""
        return {"Proxy-Authorization": self.authorization} if self.authorization else {}


def _lookup(env: Mapping[str, str], name: str) -> tuple[str, str]:
    """(variable, value) with the lower-case spelling first, as curl and urllib do."""
    for variable in (name.lower(), name.upper()):
        value = (env.get(variable) or "").strip()
        if value:
            return variable, value
    return "", ""


def for_listener(env: Mapping[str, str], listener_url: str) -> Proxy | None:
    """The proxy for ``listener_url`` under ``env``, or None (no proxy set, or ``NO_PROXY``)."""
    parts = urlsplit(listener_url)
    variable, value = _lookup(env, f"{parts.scheme}_proxy")
    if not value:
        return None
    _, no_proxy = _lookup(env, "no_proxy")
    if no_proxy and proxy_bypass_environment(parts.hostname or "", {"no": no_proxy}):
        return None
    return parse(variable, value)


def parse(variable: str, value: str) -> Proxy:
    """``http://[user:pass@]host[:port]`` or ``host:port``; raise naming the variable."""
    text = value if "://" in value else f"http://{value}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ProxyConfigError(
            f"{variable} is not a proxy URL such as http://proxy.internal:3128"
        ) from None
    if parts.scheme != "http":
        raise ProxyConfigError(
            f"{variable} must be an http:// proxy URL such as http://proxy.internal:3128, got "
            f"scheme {parts.scheme!r}: the shipper speaks plain HTTP to the proxy and TLS "
            "through it (a CONNECT tunnel)"
        )
    if not parts.hostname:
        raise ProxyConfigError(f"{variable} names no proxy host (http://proxy.internal:3128)")
    if port is None and "://" not in value:
        raise ProxyConfigError(f"{variable} names no port: write host:port or http://host:port")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return Proxy(parts.hostname, port or 80, variable, authorization)
