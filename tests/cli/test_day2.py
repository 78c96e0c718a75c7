"""Issue 26 (operator experience, day 2): each as the message, exit code or output a user sees."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from xaccount_ops.cli import main
from xaccount_ops.config import LOCAL_CLOUD_CONFIG, find_config

from .conftest import closed_port

CONFIG = """
[landing]
account_id = "111111111111"
region = "us-east-1"

[senders]
accounts = ["222222222222"]
regions = ["us-east-1"]

[logzio]
shipping_token = {{ env = "UNUSED_HERE" }}
{logzio}

[aws]
endpoint_url = "http://127.0.0.1:{port}"
"""


def write(path: Path, logzio: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG.format(logzio=logzio, port=closed_port()))
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as done:  # argparse: usage errors and --help
        code = int(done.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_unwritable_output_fails_before_any_work(tmp_path: Path, capsys) -> None:
    # The config's endpoint is closed: had verify started, the error would be "cannot reach".
    config = write(tmp_path / "xaccount-ops.toml")
    target = "/proc/xaccount-ops.json"  # a folder nobody may create files in, root included
    code, out, err = cli(capsys, "--config", str(config), "verify", "-o", target)
    assert (code, out) == (2, "")
    assert err.startswith(f"xaccount-ops: -o {target}: cannot write there: ")
    assert "cannot reach" not in err


def test_a_mistyped_command_gets_a_suggestion(capsys) -> None:
    code, _, err = cli(capsys, "audti")
    assert code == 2
    assert "invalid choice: 'audti'" in err and "did you mean audit?" in err
    code, _, err = cli(capsys, "subscribe", "aply")
    assert code == 2 and "did you mean apply?" in err
    code, _, err = cli(capsys, "zzzz")
    assert code == 2 and "did you mean" not in err  # nothing close: no guess


def test_subscribe_remove_bad_account_is_a_usage_error(capsys) -> None:
    code, _, err = cli(capsys, "subscribe", "remove", "--account", "12")
    assert code == 2
    assert "argument --account: '12' is not a 12-digit AWS account id (it has 2 digits)" in err
    assert "config error" not in err


def test_blank_token_reference_says_what_to_write(tmp_path: Path, capsys) -> None:
    path = tmp_path / "xaccount-ops.toml"
    path.write_text(
        CONFIG.format(logzio="", port=closed_port()).replace(
            '{ env = "UNUSED_HERE" }', '{ env = "" }'
        )
    )
    code, _, err = cli(capsys, "--config", str(path), "accounts", "list")
    assert code == 2
    assert err == (
        "xaccount-ops: config error: logzio.shipping_token: the env reference is blank; name it, "
        'e.g. { env = "LOGZIO_SHIPPING_TOKEN" }\n'
    )


@pytest.mark.parametrize(
    ("typo", "hint"),
    [
        ("us-east-9", "did you mean us-east-1 or us-east-2?"),
        ("us-east1", "did you mean us-east-1, us-east-2 or us-west-1?"),
        ("useast1", "did you mean us-east-1, us-east-2 or us-west-1?"),
        ("eu-wst-1", "did you mean eu-west-1, eu-west-3 or us-west-1?"),
        ("mars-1", "e.g. us-east-1, eu-west-1"),
    ],
)
def test_region_typos_get_the_same_kind_of_hint(typo: str, hint: str) -> None:
    from xaccount_ops import validate
    from xaccount_ops.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        validate.region(typo, "senders.regions[0]")
    assert str(raised.value).endswith(f"'{typo}' is not an AWS region; {hint}")


def test_cli_finds_the_config_local_up_wrote(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XACCOUNT_OPS_CONFIG", raising=False)
    write(tmp_path / LOCAL_CLOUD_CONFIG)
    assert find_config() == LOCAL_CLOUD_CONFIG
    # Found: the command gets as far as the (stopped) cloud's endpoint, not "no config file".
    code, _, err = cli(capsys, "outputs")
    assert code == 2
    assert "no config file" not in err
    assert "cannot reach http://127.0.0.1:" in err and "local up" in err
    # A config in the working directory still wins.
    write(tmp_path / "xaccount-ops.toml")
    assert find_config() == Path("xaccount-ops.toml")


def test_a_search_endpoint_that_went_away_is_said_once(
    tmp_path: Path, capsys, monkeypatch, caplog
) -> None:
    from xaccount_ops import logzio

    monkeypatch.setattr(logzio, "RETRY_BACKOFF_S", 0.01)  # test-sized: the retries still happen
    monkeypatch.setenv("UNUSED_API", "api-token-for-this-test")
    port = closed_port()
    config = write(
        tmp_path / "xaccount-ops.toml",
        logzio=f'api_token = {{ env = "UNUSED_API" }}\napi_url = "http://127.0.0.1:{port}"',
    )
    caplog.set_level(logging.WARNING)
    code, _, err = cli(capsys, "--config", str(config), "verify", "--duplicates")
    assert code == 2
    assert f"cannot reach http://127.0.0.1:{port}/v1/search (connection refused)" in err
    assert not [r for r in caplog.records if "Retrying" in r.getMessage()]
    assert "api-token-for-this-test" not in err


def test_verify_reconcile_and_duplicates_are_separate(tmp_path: Path, capsys) -> None:
    config = write(tmp_path / "xaccount-ops.toml")
    code, _, err = cli(capsys, "--config", str(config), "verify", "--reconcile", "--duplicates")
    assert code == 2 and "pick one" in err


def test_local_fault_without_a_cloud_says_how_to_start_one(tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "local", "fault", "503", "--data", str(tmp_path))
    assert code == 2
    assert f"no local cloud runs in {tmp_path.resolve()}" in err and "local up" in err
    code, _, err = cli(capsys, "local", "fault", "503", "--for", "soon")
    assert code == 2 and "'soon' is not a window" in err
    code, _, err = cli(capsys, "local", "fault", "clear", "--for", "1m", "--data", str(tmp_path))
    assert code == 2 and "clear takes no --for" in err


def test_local_fault_rehearses_an_outage_on_the_running_cloud(local_cloud: dict, capsys) -> None:
    import urllib.error
    import urllib.request

    data = str(Path(local_cloud["config"]).parent)
    url = f"{local_cloud['listener_url']}/?token={local_cloud['shipping_token']}&type=t"

    def ship() -> int:
        body = json.dumps({"message": "rehearsal"}).encode() + b"\n"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    try:
        code, out, err = cli(capsys, "local", "fault", "503", "--for", "2m", "--data", data)
        assert code == 0, err
        assert "will answer 503 Service Unavailable for 2m" in out and "fault clear" in out
        assert [ship(), ship()] == [503, 503]  # every request, not just the next one
    finally:
        code, out, _ = cli(capsys, "local", "fault", "clear", "--data", data)
    assert code == 0 and "cleared" in out
    assert ship() == 200
