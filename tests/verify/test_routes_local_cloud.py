"""Routes to Logz.io sub-accounts, end to end on the local cloud: the config's [[logzio.routes]]
become the shipper's LOGZIO_ROUTES (as the stack passes them), each sub-account of the Logz.io
emulator receives exactly its accounts' lines, and `verify` finds every canary with the API token
of the (sub-)account it went to."""

from __future__ import annotations

import json
import secrets
from typing import Any

import requests

from xaccount_ops import landing
from xaccount_ops.cli import main
from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.logzio import SearchClient


def sub_account(url: str, name: str) -> tuple[str, str]:
    tokens = (f"{name}-ship-{secrets.token_hex(8)}", f"{name}-api-{secrets.token_hex(8)}")
    response = requests.post(
        f"{url}/__admin/accounts",
        json={"name": name, "shipping_token": tokens[0], "api_token": tokens[1]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return tokens


def test_each_route_gets_its_lines_and_verify_finds_them_with_its_token(
    local_cloud: dict[str, Any], tmp_path, monkeypatch, helpers: Any, capsys
) -> None:

    stack = helpers.unique("rte")
    senders = list(local_cloud["sending_accounts"])
    regions = tuple(local_cloud["regions"])
    prod, dev = (
        sub_account(local_cloud["api_url"], "prod"),
        sub_account(local_cloud["api_url"], "dev"),
    )
    for name, (ship, api) in (("PROD", prod), ("DEV", dev)):
        monkeypatch.setenv(f"XO_TEST_{name}_SHIP", ship)
        monkeypatch.setenv(f"XO_TEST_{name}_API", api)
    routes = f"""
[[logzio.routes]]
name = "prod"
accounts = ["{senders[0]}"]
token = {{ env = "XO_TEST_PROD_SHIP" }}
api_token = {{ env = "XO_TEST_PROD_API" }}

[[logzio.routes]]
name = "dev"
accounts = ["{senders[1]}"]
log_groups = ["/xaccount-ops/*"]
token = {{ env = "XO_TEST_DEV_SHIP" }}
api_token = {{ env = "XO_TEST_DEV_API" }}
"""
    path = helpers.local_config(
        tmp_path,
        local_cloud,
        stack,
        extra=routes,
    )
    fleet = Fleet.from_config(load_config(path))
    params = landing.route_parameters(fleet)
    assert prod[0] not in params["LogzioRoutes"]  # the routes say where tokens are, not what
    helpers.local_landing(
        fleet,
        local_cloud,
        environment={
            "LOGZIO_ROUTES": params["LogzioRoutes"],
            "LOGZIO_ROUTE_TOKENS": params["LogzioRouteTokens"],
        },
    )

    code = main(["--config", str(path), "verify", "--timeout", "60", "--format", "json"])
    out, err = capsys.readouterr()

    assert code == 0, err
    rows = json.loads(out)
    assert {r["status"] for r in rows} == {"delivered"}, rows
    route_of = {"prod": senders[0], "dev": senders[1], "main": senders[2]}
    assert {(r["account_id"], r["route"]) for r in rows} == {
        (route_of[route], route) for route in route_of for _ in regions
    }
    for text in (prod[0], prod[1], dev[0], dev[1]):
        assert text not in out + err
    # Each (sub-)account holds exactly its own canaries, once each.
    markers = {r["marker"]: r["route"] for r in rows}
    tokens = {"prod": prod[1], "dev": dev[1], "main": local_cloud["api_token"]}
    for route, api_token in tokens.items():
        with SearchClient(local_cloud["api_url"], api_token) as search:
            found = search.find_markers(markers)
        assert {m: len(lines) for m, lines in found.items()} == {
            m: 1 for m, r in markers.items() if r == route
        }, route
