"""``[verify]``'s heartbeat and alert keys: defaults, and bad values named with what is right."""

from __future__ import annotations

from pathlib import Path

import pytest

from xaccount_ops.config import load_config
from xaccount_ops.errors import ConfigError

BASE = """
[landing]
account_id = "111111111111"
region = "us-east-1"

[senders]
accounts = ["222222222222"]
regions = ["us-east-1"]

[logzio]
shipping_token = { env = "TEST_SHIPPING_TOKEN" }

[verify]
"""


def load(tmp_path: Path, verify: str = "") -> object:
    path = tmp_path / "xaccount-ops.toml"
    path.write_text(BASE + verify)
    return load_config(path)


def test_defaults(tmp_path: Path) -> None:
    verify = load(tmp_path).verify  # type: ignore[attr-defined]

    assert verify.heartbeat_minutes == 5
    assert verify.heartbeat_log_group == "/xaccount-ops/heartbeat"
    assert verify.heartbeat_max_age_minutes == 15
    assert verify.alert_emails == () and verify.alert_endpoint_ids == ()


def test_values(tmp_path: Path) -> None:
    verify = load(  # type: ignore[attr-defined]
        tmp_path,
        'heartbeat_minutes = 0\nalert_emails = ["ops@example.com"]\nalert_endpoint_ids = [7]\n',
    ).verify

    assert verify.heartbeat_minutes == 0
    assert verify.alert_emails == ("ops@example.com",)
    assert verify.alert_endpoint_ids == (7,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("heartbeat_minutes = 2000", r"verify.heartbeat_minutes: at most 1440 \(a day\), got 2000"),
        ("heartbeat_minutes = -1", r"verify.heartbeat_minutes: expected a whole number ≥ 0"),
        ("heartbeat_max_age_minutes = 0", r"verify.heartbeat_max_age_minutes: expected a whole"),
        ('alert_emails = ["ops"]', r"verify.alert_emails: expected a list of e-mail addresses"),
        ('alert_endpoint_ids = ["7"]', r"verify.alert_endpoint_ids: expected a list of Logz.io"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, text + "\n")
