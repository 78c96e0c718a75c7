"""STS: AssumeRole as AWS answers it (fixture ``sts/assume_role``, LocalStack
``test_sts.py::test_assume_role``, validated 2024-06-05). The toolkit assumes
``senders.role_name`` in every sending account and reads these keys."""

from __future__ import annotations

import boto3

from tests.fidelity.shapes import answer, assert_same_shape, recorded


def test_assume_role_answer(ext_endpoint: str) -> None:
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=ext_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ours = answer(
        sts.assume_role(
            RoleArn="arn:aws:iam::111111111111:role/OrganizationAccountAccessRole",
            RoleSessionName="fidelity",
        )
    )
    # boto3 parses Expiration into a datetime: compared by presence.
    assert ours["Credentials"].pop("Expiration")
    expected = recorded("sts/assume_role", "assume-role")
    expected["Credentials"].pop("Expiration")
    assert_same_shape(
        expected,
        ours,
        ignore=("$.PackedPolicySize",),
        why="moto always adds it (AWS: only with session policies); the toolkit never reads it",
    )
    assert ours["AssumedRoleUser"]["Arn"].endswith(
        ":assumed-role/OrganizationAccountAccessRole/fidelity"
    )
