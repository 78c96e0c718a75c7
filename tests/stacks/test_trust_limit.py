"""Past the destination policy's 5,120 bytes, deploy insists on organization trust and says why,
before any stack changes; organization mode deploys with OrganizationId instead of a list."""

from __future__ import annotations

import pytest

from xaccount_ops import landing
from xaccount_ops.errors import ConfigError
from xaccount_ops.fleet.accounts import Fleet

from .conftest import make_config


def test_too_many_listed_accounts_is_refused_naming_organization_trust(
    stacks_endpoint: str, tmp_path, artifact
) -> None:
    accounts = [f"{400000000000 + i:012d}" for i in range(340)]
    fleet = Fleet.from_config(make_config(stacks_endpoint, tmp_path, accounts=accounts))
    cfn = fleet.landing_client("cloudformation")
    stacks_before = {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}

    with pytest.raises(ConfigError) as caught:
        landing.deploy(artifact=artifact, fleet=fleet)

    message = str(caught.value)
    assert message.startswith("senders.accounts: 340 sending accounts make a destination policy")
    assert "5,120-byte limit" in message and "senders.organization = true" in message
    assert {s["StackName"] for s in cfn.describe_stacks()["Stacks"]} == stacks_before


def test_a_list_that_fits_still_deploys_as_a_list(stacks_endpoint: str, tmp_path) -> None:
    accounts = [f"{400000000000 + i:012d}" for i in range(300)]
    fleet = Fleet.from_config(make_config(stacks_endpoint, tmp_path, accounts=accounts))
    values = landing.accounts_parameters(fleet)
    assert values["SendingAccounts"].count(",") == 299 and values["OrganizationId"] == ""
