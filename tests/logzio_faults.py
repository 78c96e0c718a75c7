"""The Logz.io emulator's fault switch, for tests that break the listener on purpose
(``POST /__admin/faults`` with a fault, ``DELETE`` to clear them)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def faults(url: str, method: str, body: dict[str, Any] | None = None) -> None:
    """Send ``method`` to the emulator at ``url``'s faults endpoint; fail on a refusal."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{url}/__admin/faults",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201, 204)
