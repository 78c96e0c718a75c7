"""Lifecycle: persistence across restarts, the temporary default store, the standalone entry
point, and tokens kept out of responses, reprs and logs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from xaccount_ops.local.logzio import LogzioEmulator

REPO = Path(__file__).resolve().parents[2]


def search_all(url: str, api_token: str) -> list[dict[str, Any]]:
    response = requests.post(
        f"{url}/v1/search",
        json={"query": {"match_all": {}}, "size": 100},
        headers={"X-API-TOKEN": api_token},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [hit["_source"] for hit in response.json()["hits"]["hits"]]


def test_documents_survive_a_restart_with_a_db_file(
    tmp_path: Path, tokens: tuple[str, str]
) -> None:
    shipping, api = tokens
    db = tmp_path / "state" / "logzio.sqlite3"
    with LogzioEmulator(shipping_token=shipping, api_token=api, db_path=db) as first:
        ship = requests.post(
            f"{first.url}/?token={shipping}&type=kept", data=b'{"message":"before restart"}\n'
        )
        assert ship.status_code == 200

    with LogzioEmulator(shipping_token=shipping, api_token=api, db_path=db) as second:
        docs = search_all(second.url, api)
        stats = requests.get(f"{second.url}/__admin/stats").json()

    assert [(d["message"], d["type"]) for d in docs] == [("before restart", "kept")]
    assert db.exists()
    assert stats["documents"] == 1
    assert stats["requests"] == 0  # counters are per run; documents persist


def test_without_db_path_the_store_is_a_temporary_file_removed_on_stop(
    tokens: tuple[str, str],
) -> None:
    shipping, api = tokens
    emulator = LogzioEmulator(shipping_token=shipping, api_token=api).start()
    path = emulator.db_path
    assert path is not None and path.exists()

    emulator.stop()

    assert not path.exists()


def test_two_emulators_get_their_own_ports(tokens: tuple[str, str]) -> None:
    shipping, api = tokens
    with (
        LogzioEmulator(shipping_token=shipping, api_token=api) as one,
        LogzioEmulator(shipping_token=shipping, api_token=api) as two,
    ):
        assert one.url != two.url
        assert one.listener_url == one.api_url == one.url
        assert one.url.startswith("http://127.0.0.1:")


def test_empty_tokens_are_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        LogzioEmulator(shipping_token="", api_token="x")


def test_tokens_never_appear_in_responses_reprs_or_logs(
    logzio: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="xaccount_ops.local.logzio")
    wrong = "wrong-token-value-4242"
    logzio.fault(status=503, count=1)
    responses = [
        logzio.ship([{"message": "faulted"}]),
        logzio.ship([{"message": "ok"}]),
        logzio.ship(b"bad line\n"),
        logzio.ship([{"message": "x"}], token=wrong),
        logzio.ship([{"message": "x"}], token=None),
        logzio.search({"query": {"match_all": {}}}),
        logzio.search({"query": {"match_all": {}}}, token=wrong),
        logzio.search({"query": {"nope": {}}}),
        logzio.http.get(f"{logzio.url}/__admin/stats"),
        logzio.http.get(f"{logzio.url}/?token={logzio.shipping_token}"),
    ]
    assert [r.status_code for r in responses] == [503, 200, 400, 401, 401, 200, 401, 400, 200, 405]

    secrets = (logzio.shipping_token, logzio.api_token, wrong)
    for response in responses:
        shown = response.text + json.dumps(dict(response.headers))
        assert not any(secret in shown for secret in secrets), response.text
    assert "token=***" in caplog.text  # the access log ran, with the query string redacted
    assert not any(secret in caplog.text for secret in secrets)
    assert not any(secret in repr(logzio.emulator) for secret in secrets)
    assert not any(secret in repr(logzio.emulator.app) for secret in secrets)


def test_standalone_entry_point_serves_until_sigterm(
    tmp_path: Path, tokens: tuple[str, str]
) -> None:
    shipping, api = tokens
    (tmp_path / "ship").write_text(shipping + "\n")
    (tmp_path / "api").write_text(api + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xaccount_ops.local.logzio",
            "--port",
            "0",
            "--shipping-token-file",
            str(tmp_path / "ship"),
            "--api-token-file",
            str(tmp_path / "api"),
            "--db",
            str(tmp_path / "db.sqlite3"),
            "--verbose",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        ship = requests.post(f"{info['listener_url']}/?token={shipping}", data=b'{"message":"m"}')
        assert ship.status_code == 200
        assert [d["message"] for d in search_all(info["api_url"], api)] == ["m"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()  # never left running for the next test
            process.communicate()
            raise

    assert process.returncode == 0, stderr
    assert "token=***" in stderr
    assert shipping not in stderr and api not in stderr


def test_standalone_entry_point_names_a_missing_token_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "xaccount_ops.local.logzio",
            "--shipping-token-file",
            str(tmp_path / "absent"),
            "--api-token-file",
            str(tmp_path / "absent"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )

    assert result.returncode != 0
    assert "shipping token file" in result.stderr and "absent" in result.stderr
