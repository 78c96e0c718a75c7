"""The shipper's configuration error, in a module of its own so that ``config`` and ``rules``
(which ``config.load`` calls) can both raise it without importing each other."""

from __future__ import annotations


class ConfigError(ValueError):
    """An environment variable holds a value the shipper cannot use. Never includes a token."""
