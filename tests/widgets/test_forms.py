"""The notebook forms in plain Python: fields map onto the library's arguments, clicks run the
library (replaced here by recorders: no AWS, no local cloud), errors show in the output area.

The same forms run against the local cloud in tests/notebooks.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from xaccount_ops import landing
from xaccount_ops.config import parse_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.lab import widgets

SENDERS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    token = tmp_path / "token"
    token.write_text("not-a-real-token\n")
    token.chmod(0o600)
    raw = {
        "landing": {"account_id": "123456789012", "region": "us-east-1", "stack_name": "forms"},
        "senders": {"accounts": list(SENDERS), "regions": list(REGIONS)},
        "logzio": {"region": "us", "shipping_token": {"file": str(token)}},
        # Nothing listens here: any AWS call would fail loudly.
        "aws": {"endpoint_url": "http://127.0.0.1:9", "max_attempts": 1},
    }
    return Fleet.from_config(parse_config(raw, base_dir=tmp_path))


def shown_html(form: widgets.Form) -> str:
    return "\n".join(str(o.get("data", {}).get("text/html", "")) for o in form.output.outputs)


def shown_text(form: widgets.Form) -> str:
    return "\n".join(str(o.get("data", {}).get("text/plain", "")) for o in form.output.outputs)


# -- 01 deploy ---------------------------------------------------------------------------------


def test_deploy_form_dry_run_passes_the_form_values(fleet, monkeypatch) -> None:
    seen: dict[str, Any] = {}

    def plan_deploy(*, include_speedups: bool, fleet: Fleet) -> pd.DataFrame:
        seen.update(fleet=fleet, include_speedups=include_speedups)
        return pd.DataFrame(
            [{"stack": "forms", "region": "us-east-1", "action": "Add", "logical_id": "Stream"}]
        )

    monkeypatch.setattr(landing, "plan_deploy", plan_deploy)
    form = widgets.deploy_form(fleet, include_speedups=False)
    assert form.fields["accounts"].value == ", ".join(SENDERS)
    form.fields["accounts"].value = '"333333333333","444444444444"'  # the seed's quoted form
    form.fields["regions"].value = "eu-west-1"
    form.fields["stream_mode"].value = "PROVISIONED"
    form.fields["batch_size"].value = 250
    form.buttons["Dry run"].click()

    assert form.error is None, form.error
    target = seen["fleet"]
    assert target.accounts == ("333333333333", "444444444444")
    assert target.regions == ("eu-west-1",)
    assert target.config.stack.parameters == {
        "KinesisStreamMode": "PROVISIONED",
        "KinesisStreamBatchSize": "250",
    }
    assert seen["include_speedups"] is False
    assert fleet.accounts == SENDERS  # the notebook's fleet is left as it was
    assert "Stream" in shown_html(form) and "nothing was changed" in shown_html(form)
    assert "done" in form.status.value


def test_deploy_form_bad_account_id_is_a_clear_message(fleet, monkeypatch) -> None:
    monkeypatch.setattr(landing, "plan_deploy", lambda **_: pytest.fail("must not be called"))
    form = widgets.deploy_form(fleet)
    form.fields["accounts"].value = "111111111111, 12345"
    form.buttons["Dry run"].click()

    assert form.error is not None
    assert "accounts[1]: '12345' is not a 12-digit AWS account id" in form.error
    html = shown_html(form)
    assert widgets.ERROR_CLASS in html and "12-digit" in html
    assert "failed" in form.status.value
    with pytest.raises(widgets.FormError, match="12-digit"):
        form.submit("Dry run")


def test_deploy_form_token_env_missing_names_the_variable_not_a_token(fleet, monkeypatch) -> None:
    monkeypatch.delenv("XACCT_FORM_TOKEN", raising=False)

    def plan_deploy(*, include_speedups: bool, fleet: Fleet) -> pd.DataFrame:
        return pd.DataFrame({"token": [landing.token_parameters(fleet)["LogzioTOKEN"]]})

    monkeypatch.setattr(landing, "plan_deploy", plan_deploy)
    form = widgets.deploy_form(fleet, token_env="XACCT_FORM_TOKEN")
    form.buttons["Dry run"].click()
    assert form.error is not None and "XACCT_FORM_TOKEN is not set" in form.error

    form.fields["token_env"].value = "not a name"
    form.buttons["Dry run"].click()
    assert form.error is not None and "is not an environment variable name" in form.error


def test_deploy_form_deploy_shows_progress_events_and_outputs(fleet, monkeypatch) -> None:
    def deploy(*, include_speedups: bool, on_event, fleet: Fleet):
        for status in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE"):
            on_event(
                {
                    "stack": "forms",
                    "region": "us-east-1",
                    "timestamp": "t",
                    "logical_id": "forms",
                    "resource_type": "AWS::CloudFormation::Stack",
                    "status": status,
                    "reason": "",
                }
            )
        return landing.DeployResult(
            [landing.StackResult("forms", "us-east-1", "main", "created", 9)]
        )

    outputs = {
        "us-east-1": landing.Outputs(
            region="us-east-1",
            destination_arn="arn:aws:logs:us-east-1:123456789012:destination:forms",
            destination_name="forms",
            stream_arn="arn:stream",
            role_arn="arn:role",
            function_name="forms-shipper",
            failure_queue_url="http://q",
        )
    }
    monkeypatch.setattr(landing, "deploy", deploy)
    monkeypatch.setattr(landing, "stack_outputs", lambda _fleet: outputs)
    form = widgets.deploy_form(fleet)
    done = form.submit("Deploy")

    assert done.ok and list(done.events["status"]) == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    bar = form.live.children[0]
    assert bar.value == bar.max == 2  # main + one destination stack
    assert "CREATE_COMPLETE" in form.live.children[1].value
    html = shown_html(form)
    assert "Stacks: deployed" in html and "forms-shipper" in html


# -- 02 subscriptions --------------------------------------------------------------------------


class FakePlan:
    def __init__(self, fleet: Fleet, remove: bool) -> None:
        self.fleet, self.remove = fleet, remove
        self.frame = pd.DataFrame({"account": list(fleet.accounts), "action": "create"})
        self.errors = pd.DataFrame()

    def summary(self) -> str:
        return f"{len(self.frame)} to create"


def fake_subscriptions(calls: list) -> types.SimpleNamespace:
    def plan(fleet, *, inventory=None, remove=False, progress=None):
        calls.append(("plan", fleet))
        return FakePlan(fleet, remove)

    def apply(fleet, plan, *, progress=None):
        calls.append(("apply", fleet, plan))
        frame = plan.frame.assign(status="ok", error="")
        return types.SimpleNamespace(
            frame=frame, errors=pd.DataFrame(), ok=True, summary=lambda: "1 changed"
        )

    return types.SimpleNamespace(plan=plan, apply=apply)


def test_subscriptions_form_plans_the_selection_then_applies_that_plan(fleet, monkeypatch) -> None:
    import xaccount_ops

    calls: list = []
    monkeypatch.setattr(xaccount_ops, "subscriptions", fake_subscriptions(calls), raising=False)
    monkeypatch.setitem(
        __import__("sys").modules, "xaccount_ops.subscriptions", xaccount_ops.subscriptions
    )
    form = widgets.subscriptions_form(fleet, accounts="222222222222", include="/aws/lambda/*")
    assert form.fields["accounts"].value == ("222222222222",)

    form.buttons["Apply"].click()
    assert form.error is not None and "press Plan first" in form.error

    planned = form.submit("Plan")
    assert planned.fleet.accounts == ("222222222222",)
    assert planned.fleet.config.subscriptions.include == ("/aws/lambda/*",)
    assert "1 to create" in shown_text(form)

    applied = form.submit("Apply")
    assert calls[-1][0] == "apply" and calls[-1][2] is planned
    assert list(applied.frame["status"]) == ["ok"]

    form.fields["accounts"].value = ()
    form.buttons["Plan"].click()
    assert form.error is not None and "select at least one account" in form.error


# -- 03 accounts ---------------------------------------------------------------------------------


def test_accounts_form_preview_and_apply(fleet, monkeypatch) -> None:
    seen: list = []

    def preview(ids, *, remove=False, fleet):
        seen.append(("preview", list(ids), remove))
        return [
            landing.AccountsUpdate(
                "forms", "us-east-1", SENDERS, (*SENDERS, "333333333333"), "would update"
            )
        ]

    def add(ids, *, fleet, on_event=None):
        seen.append(("add", list(ids)))
        return [
            landing.AccountsUpdate(
                "forms", "us-east-1", SENDERS, (*SENDERS, "333333333333"), "updated"
            )
        ]

    monkeypatch.setattr(landing, "preview_accounts", preview)
    monkeypatch.setattr(landing, "add_accounts", add)
    form = widgets.accounts_form(fleet, accounts='"333333333333"')
    frame = form.submit("Preview")
    assert seen[0] == ("preview", ['"333333333333"'], False)
    assert frame.loc[0, "added"] == "333333333333" and frame.loc[0, "status"] == "would update"
    assert form.submit("Apply").loc[0, "status"] == "updated"

    form.fields["accounts"].value = ""
    form.buttons["Preview"].click()
    assert form.error is not None and "at least one 12-digit account id" in form.error


def test_preview_accounts_rejects_a_bad_id_before_any_call(fleet) -> None:
    from xaccount_ops.errors import ConfigError

    with pytest.raises(ConfigError, match="12-digit"):
        landing.preview_accounts(["1234"], fleet=fleet)


# -- 04 audit ------------------------------------------------------------------------------------


def audit_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    from xaccount_ops.fleet.audit import findings_frame
    from xaccount_ops.fleet.inventory import inventory_frame

    rows = [
        {
            "account_id": a,
            "region": r,
            "log_group": g,
            "stored_bytes": 1000 * (i + 1),
            "ships": ships,
        }
        for i, (a, r, g, ships) in enumerate(
            [
                ("111111111111", "us-east-1", "/aws/lambda/orders-api", True),
                ("111111111111", "eu-west-1", "/aws/lambda/orders-api", False),
                ("222222222222", "us-east-1", "/ecs/web", False),
            ]
        )
    ]
    finding = {
        "severity": "warning",
        "check": "not-shipping",
        "account_id": "111111111111",
        "region": "eu-west-1",
        "resource": "/aws/lambda/orders-api",
        "finding": "not shipped",
        "fix": "subscribe it",
    }
    info = {
        **finding,
        "severity": "info",
        "check": "never-expires",
        "account_id": "222222222222",
        "region": "us-east-1",
        "resource": "/ecs/web",
    }
    return inventory_frame(rows), findings_frame([finding, info])


def test_audit_form_filters_and_exports_csv(tmp_path) -> None:
    inv, found = audit_frames()
    form = widgets.audit_form(inv, found, export_dir=str(tmp_path / "csv"))
    form.fields["account"].value = "111111111111"
    form.fields["severity"].value = "warning"
    view = form.submit("Filter")
    assert sorted(view.inventory["region"].astype(str)) == ["eu-west-1", "us-east-1"]
    assert list(view.findings["check"]) == ["not-shipping"]
    assert view.summary["coverage_pct"].tolist() == [0.0, 100.0]  # eu-west-1, us-east-1

    form.fields["shipping"].value = "not shipping"
    written = form.submit("Export CSV")
    assert set(written["file"].map(lambda p: Path(p).name)) == {
        "log-groups.csv",
        "findings.csv",
        "log-groups-summary.csv",
    }
    exported = pd.read_csv(tmp_path / "csv" / "log-groups.csv", dtype=str)
    assert exported[["account_id", "region"]].values.tolist() == [["111111111111", "eu-west-1"]]


def test_plots_render_png() -> None:
    from xaccount_ops.fleet import inventory
    from xaccount_ops.lab import plots

    inv, _ = audit_frames()
    summary = inventory.summary(inv)
    for plot in (plots.stored_bytes(summary), plots.coverage(summary)):
        assert plot._repr_png_().startswith(b"\x89PNG")
    canaries = pd.DataFrame(
        {
            "account_id": ["111111111111", "111111111111"],
            "region": ["us-east-1", "eu-west-1"],
            "latency_s": pd.array([1.5, None], dtype="Float64"),
        }
    )
    assert plots.latency(canaries).png().startswith(b"\x89PNG")


# -- 05 verify -----------------------------------------------------------------------------------


def test_verify_form_sends_canaries_for_the_selected_paths(fleet, monkeypatch) -> None:
    from xaccount_ops import verify as verify_mod

    seen: dict[str, Any] = {}

    def verify(fleet, *, timeout_s, prepare, targets):
        seen.update(timeout_s=timeout_s, prepare=prepare, targets=targets)
        frame = pd.DataFrame(
            {
                "account_id": [t.account_id for t in targets],
                "region": [t.region for t in targets],
                "status": ["delivered"] * len(targets),
                "latency_s": [1.0] * len(targets),
                "fields_ok": [True] * len(targets),
                "detail": [""] * len(targets),
            }
        )
        return types.SimpleNamespace(frame=frame, diagnosis=pd.DataFrame(), ok=True)

    monkeypatch.setattr(verify_mod, "verify", verify)
    form = widgets.verify_form(fleet, regions="eu-west-1", timeout_s=30)
    result = form.submit("Send canaries")
    assert [(t.account_id, t.region) for t in seen["targets"]] == [
        ("111111111111", "eu-west-1"),
        ("222222222222", "eu-west-1"),
    ]
    assert seen["timeout_s"] == 30 and seen["prepare"] is True
    assert result.ok and "Delivered 2/2" in shown_html(form)


def test_library_warnings_show_as_notes_not_errors() -> None:
    import logging

    def warn(_form):
        logging.getLogger("xaccount_ops.landing.package").warning("building a stdlib-only artifact")
        return "built"

    form = widgets.Form("Demo", {}, {"Go": warn})
    assert form.submit("Go") == "built"
    assert "xacct-notes" in shown_html(form) and "stdlib-only" in shown_html(form)
    assert widgets.ERROR_CLASS not in shown_html(form)
    assert not any(type(h).__name__ == "_Notes" for h in logging.getLogger("xaccount_ops").handlers)
