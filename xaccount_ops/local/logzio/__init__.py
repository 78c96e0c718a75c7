"""A Logz.io emulator for the local cloud: the bulk listener (token check, gzip, size limits,
Logz.io's 400 counts), a ``/v1/search`` subset over SQLite, and ``/__admin`` fault injection and
counters, all on one loopback port.

Modules: ``bulk`` (listener rules), ``store`` (SQLite), ``query`` (search DSL), ``faults``
(fault rules and stats), ``app`` (endpoints, no sockets), ``server`` (HTTP and lifecycle).
Run alone with ``python -m xaccount_ops.local.logzio --help``.

>>> with LogzioEmulator(shipping_token="s", api_token="a") as logzio:  # doctest: +SKIP
...     print(logzio.listener_url, logzio.api_url)
"""

from xaccount_ops.local.logzio.server import LogzioEmulator

__all__ = ["LogzioEmulator"]
