"""Time-boxed faults (``for_s``): an outage for a while, not for a number of requests."""

from __future__ import annotations

import time
from typing import Any


def test_a_time_boxed_fault_fails_every_bulk_until_it_expires(logzio: Any) -> None:
    armed = logzio.fault(status=503, for_s=1.5)
    assert armed.status_code == 200
    (rule,) = armed.json()["faults"]
    assert rule["count"] is None and 0 < rule["expires_in_s"] <= 1.5

    # No count: more requests than a count-based rule's default of one all fail.
    assert [logzio.ship([{"message": f"m{i}"}]).status_code for i in range(3)] == [503] * 3

    deadline = time.monotonic() + 10
    while logzio.ship([{"message": "after"}]).status_code != 200:
        assert time.monotonic() < deadline, "the fault did not expire"
        time.sleep(0.1)  # polling the listener until the window ends, with a deadline
    assert logzio.http.get(f"{logzio.url}/__admin/faults").json() == {"faults": []}


def test_for_s_and_count_are_checked_with_the_bad_value_named(logzio: Any) -> None:
    bad = logzio.fault(status=503, for_s=-1)
    assert bad.status_code == 400
    assert "for_s must be a number of seconds" in bad.text and "-1" in bad.text
    unknown = logzio.fault(status=503, forever=True)
    assert unknown.status_code == 400 and "for_s" in unknown.text  # the known fields list it
