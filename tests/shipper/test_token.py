"""The token from Secrets Manager or SSM, read through boto3 against a moto server on loopback."""

from __future__ import annotations

import json

import boto3
import pytest

from shipper_lambda.handler import lambda_handler
from shipper_lambda.token_source import TokenUnavailable


@pytest.fixture
def aws(env, moto_endpoint):
    env.delenv("LOGZIO_TOKEN")
    env.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return env


@pytest.mark.parametrize("shape", ["plain", "json"])
def test_token_from_secrets_manager_read_once(aws, listener, kinesis, context, token, shape):
    client = boto3.client("secretsmanager")
    name = f"logzio/shipping-{shape}"
    value = token if shape == "plain" else json.dumps({"token": token})
    arn = client.create_secret(Name=name, SecretString=value)["ARN"]
    aws.setenv("LOGZIO_TOKEN_SECRET", arn)

    assert lambda_handler(kinesis.event(kinesis.payload(prefix="a")), context) == {
        "batchItemFailures": []
    }
    client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    # a warm container does not read it again
    assert lambda_handler(kinesis.event(kinesis.payload(prefix="b")), context) == {
        "batchItemFailures": []
    }
    assert listener.ids() == ["a00000", "b00000"]


@pytest.mark.parametrize("form", ["ssm:{}", "{}"])
def test_token_from_ssm_parameter(aws, listener, kinesis, context, token, form):
    name = f"/logzio/token-{len(form)}"
    boto3.client("ssm").put_parameter(Name=name, Value=token, Type="SecureString", Overwrite=True)
    aws.setenv("LOGZIO_TOKEN_SECRET", form.format(name))

    assert lambda_handler(kinesis.event(kinesis.payload()), context) == {"batchItemFailures": []}
    assert listener.ids() == ["e00000"]


def test_missing_secret_fails_loudly_without_shipping(aws, listener, kinesis, context):
    aws.setenv("LOGZIO_TOKEN_SECRET", "logzio/does-not-exist")

    with pytest.raises(TokenUnavailable, match="logzio/does-not-exist"):
        lambda_handler(kinesis.event(kinesis.payload()), context)
    assert listener.requests == []
