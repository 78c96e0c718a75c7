"""Exceptions raised by xaccount-ops.

Every error says what was wrong, with which value, and what would be right. Tokens are never part
of a message: code that handles them raises with the key name only.
"""

from __future__ import annotations


class XaccountOpsError(Exception):
    """Base class. Carries where the problem is, when that is known."""

    def __init__(
        self,
        message: str,
        *,
        account_id: str | None = None,
        region: str | None = None,
        resource: str | None = None,
    ) -> None:
        super().__init__(message)
        self.account_id = account_id
        self.region = region
        self.resource = resource


class ConfigError(XaccountOpsError):
    """The configuration (file, arguments or environment) is invalid.

    ``key`` is the dotted config key, e.g. ``senders.accounts[2]``.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message, resource=key or None)
        self.key = key


class TokenError(XaccountOpsError):
    """A token reference could not be resolved. The message names the reference, never the token."""


class TargetError(XaccountOpsError):
    """Reaching one (account, region) target failed: credentials, role, opt-in region, access."""


class EndpointUnreachable(XaccountOpsError):
    """An endpoint (AWS or Logz.io) refused the connection, did not answer, or has no address.

    Nothing else can work while it stays so: fan-outs stop at the first one and the CLI exits 2
    with this one line. ``endpoint`` is the URL that could not be reached.
    """

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message, resource=endpoint)
        self.endpoint = endpoint
