"""The destination policy's size limit: the account list while it fits, organization trust beyond."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from xaccount_ops import trust
from xaccount_ops.errors import ConfigError

MAIN = Path(__file__).resolve().parents[2] / "cfn" / "main.yaml"
ARGS = {"partition": "aws-cn", "landing": "111111111111", "name_prefix": "logzio-xacct"}


def ids(n: int) -> list[str]:
    return [f"{i:012d}" for i in range(1, n + 1)]


def test_the_policy_is_the_templates_byte_for_byte() -> None:
    template, errors = decode_str(MAIN.read_text())
    assert not errors
    sub = template["Resources"]["LogsDestination"]["Properties"]["DestinationPolicy"]["Fn::If"][2]
    text = sub["Fn::Sub"][0]
    rendered = (
        text.replace("${Accounts}", '","'.join(ids(3)))
        .replace("${AWS::Partition}", "aws-cn")
        .replace("${AWS::Region}", "cn-north-1")
        .replace("${AWS::AccountId}", "111111111111")
        .replace("${NamePrefix}", "logzio-xacct")
    )
    assert trust.account_list_policy(ids(3), region="cn-north-1", **ARGS) == rendered


def test_the_largest_list_that_fits_and_one_more() -> None:
    n = trust.max_accounts(region="cn-northwest-1", **ARGS)
    assert 300 <= n <= 340
    fits = trust.account_list_policy(ids(n), region="cn-northwest-1", **ARGS)
    assert len(fits.encode()) <= trust.MAX_POLICY_BYTES
    trust.check_account_list_fits(ids(n), regions=["cn-north-1", "cn-northwest-1"], **ARGS)
    with pytest.raises(ConfigError) as caught:
        trust.check_account_list_fits(
            ids(n + 1), regions=["cn-north-1", "cn-northwest-1"], organization_id="o-abc", **ARGS
        )
    message = str(caught.value)
    assert message.startswith(f"senders.accounts: {n + 1} sending accounts make a destination")
    assert "over the 5,120-byte limit" in message
    assert "senders.organization = true" in message and "(o-abc)" in message
