"""moto_ext.iam: the account of a request's access key, remembered, with moto's answers.

Over HTTP against the in-process moto server with the extension (``ext_endpoint``): a key made in
a member account signs requests as that account (GetCallerIdentity), stays that account on the
remembered path, and once deleted signs as moto's default account again, as plain moto answers.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import boto3
from moto.iam import models

LANDING = "123456789012"  # moto's default account: the "testing" credentials
_ids = itertools.count(1)


def client(endpoint: str, service: str, **keys: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=keys.get("key", "testing"),
        aws_secret_access_key=keys.get("secret", "testing"),
        aws_session_token=keys.get("token"),
    )


def test_key_account_is_remembered_and_forgotten_with_the_key(ext_endpoint: str) -> None:
    assert getattr(models.get_account_id_from, "_moto_ext_iam", False)  # installed
    account = f"{int(time.monotonic_ns()) % 10**12:012d}"
    sts = client(ext_endpoint, "sts")
    assumed = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/x", RoleSessionName="tests")[
        "Credentials"
    ]
    member = {
        "key": assumed["AccessKeyId"],
        "secret": assumed["SecretAccessKey"],
        "token": assumed["SessionToken"],
    }
    iam = client(ext_endpoint, "iam", **member)
    user = f"u{next(_ids)}"
    iam.create_user(UserName=user)
    made = iam.create_access_key(UserName=user)["AccessKey"]
    keys = {"key": made["AccessKeyId"], "secret": made["SecretAccessKey"]}
    for _ in range(2):  # the walk, then the remembered answer
        assert client(ext_endpoint, "sts", **keys).get_caller_identity()["Account"] == account
    iam.delete_access_key(UserName=user, AccessKeyId=made["AccessKeyId"])
    assert client(ext_endpoint, "sts", **keys).get_caller_identity()["Account"] == LANDING
    # a key no account holds: moto's default account, every time
    assert models.get_account_id_from("AKIANOSUCHKEY0000000") == LANDING
