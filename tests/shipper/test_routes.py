"""Routing to Logz.io sub-accounts (``LOGZIO_ROUTES``): each line goes with its route's token, no
body mixes tokens, and one route's bad token stops the batch at its record without losing or
duplicating anything of the other routes."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest

from shipper_lambda import routes
from shipper_lambda.config import ConfigError
from shipper_lambda.handler import lambda_handler

PROD = "prod-route-token-5e1f0c2a"
SECURITY = "sec-route-token-77ab90d3"
PROD_ACCOUNT, DEV_ACCOUNT = "111111111111", "222222222222"
ROUTES = [
    {"name": "prod", "accounts": [PROD_ACCOUNT], "token_env": "PROD_LOGZIO_TOKEN"},
    {"name": "security", "log_groups": ["^/aws/lambda/sec-"], "token_env": "SEC_LOGZIO_TOKEN"},
]


@pytest.fixture
def routed(env, listener):
    listener.route_tokens |= {PROD, SECURITY}
    env.setenv("LOGZIO_ROUTES", json.dumps(ROUTES))
    env.setenv("PROD_LOGZIO_TOKEN", PROD)
    # The stack passes env-style route tokens in one NoEcho JSON variable.
    env.setenv("LOGZIO_ROUTE_TOKENS", json.dumps({"SEC_LOGZIO_TOKEN": SECURITY}))
    return env


def token_of(request) -> str:
    return request.query["token"][0]


def mixed_event(kinesis):
    return kinesis.event(
        kinesis.payload(owner=PROD_ACCOUNT, prefix="p0-", messages=["a", "b"]),
        kinesis.payload(owner=DEV_ACCOUNT, prefix="d1-", messages=["c"]),
        kinesis.payload(owner=DEV_ACCOUNT, log_group="/aws/lambda/sec-audit", prefix="s2-"),
        kinesis.payload(owner=PROD_ACCOUNT, prefix="p3-", messages=["d"]),
        kinesis.payload(owner=DEV_ACCOUNT, prefix="d4-", messages=["e"]),
    )


def test_each_token_receives_exactly_its_lines(routed, listener, kinesis, context, token, caplog):
    assert lambda_handler(mixed_event(kinesis), context) == {"batchItemFailures": []}

    by_token: dict[str, list[str]] = {}
    for request in listener.accepted:
        by_token.setdefault(token_of(request), []).extend(request.ids)
    assert sorted(by_token[PROD]) == ["p0-00000", "p0-00001", "p3-00000"]
    assert sorted(by_token[SECURITY]) == ["s2-00000"]
    assert sorted(by_token[token]) == ["d1-00000", "d4-00000"]
    assert set(listener.id_counts().values()) == {1}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PROD not in logged and SECURITY not in logged


def test_a_route_rejecting_its_token_stops_at_its_record(routed, listener, kinesis, context, token):
    listener.route_tokens.discard(PROD)  # the prod sub-account's token was rotated
    event = kinesis.event(
        kinesis.payload(owner=DEV_ACCOUNT, prefix="d0-"),
        kinesis.payload(owner=DEV_ACCOUNT, prefix="d1-"),
        kinesis.payload(owner=PROD_ACCOUNT, prefix="p2-"),
        kinesis.payload(owner=DEV_ACCOUNT, prefix="d3-"),
    )

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(2)}]}
    assert sorted(listener.ids()) == ["d0-00000", "d1-00000"]  # earlier records of others: sent
    # Lambda retries from record 2 once the token is fixed: every id arrives exactly once.
    listener.route_tokens.add(PROD)
    retry = {"Records": event["Records"][2:]}
    assert lambda_handler(retry, context) == {"batchItemFailures": []}
    assert listener.id_counts() == Counter(
        {"d0-00000": 1, "d1-00000": 1, "p2-00000": 1, "d3-00000": 1}
    )


def test_a_route_token_that_cannot_be_read_fails_from_its_record(
    routed, listener, kinesis, context, caplog
):
    routed.delenv("PROD_LOGZIO_TOKEN")
    event = kinesis.event(
        kinesis.payload(owner=DEV_ACCOUNT, prefix="d0-"),
        kinesis.payload(owner=PROD_ACCOUNT, prefix="p1-"),
    )

    assert lambda_handler(event, context) == {
        "batchItemFailures": [{"itemIdentifier": kinesis.seq(1)}]
    }
    assert listener.ids() == ["d0-00000"]
    assert any(
        "route 'prod'" in r.getMessage() and "PROD_LOGZIO_TOKEN" in r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "LOGZIO_ROUTES is not JSON"),
        ('{"accounts": []}', "must be a JSON array"),
        ('[{"accounts": ["1"]}]', r"LOGZIO_ROUTES\[0\] needs exactly one of token_env"),
        ('[{"accounts": ["1"], "token_env": "A", "token_ssm": "/b"}]', "exactly one of"),
        ('[{"token_env": "A"}]', "needs accounts, log_groups or both"),
        ('[{"log_groups": ["("], "token_env": "A"}]', r"'\(' is not a regex"),
        ('[{"accounts": "111", "token_env": "A"}]', "accounts must be a list"),
        ('[{"acounts": ["1"], "token_env": "A"}]', r"unknown key\(s\) \['acounts'\]"),
    ],
)
def test_bad_routes_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        routes.load({"LOGZIO_ROUTES": text})


def test_both_keys_must_match_and_first_match_wins() -> None:
    table = routes.load(
        {
            "LOGZIO_ROUTES": json.dumps(
                [
                    {"accounts": ["1"], "log_groups": ["^/ecs/"], "token_env": "A"},
                    {"accounts": ["1"], "token_env": "B"},
                ]
            )
        }
    )
    assert table.route_for("1", "/ecs/web") == 0
    assert table.route_for("1", "/aws/lambda/x") == 1
    assert table.route_for("2", "/ecs/web") == routes.DEFAULT
