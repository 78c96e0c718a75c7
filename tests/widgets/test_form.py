"""The form base in plain Python: clicks run actions, results and errors land in the output area."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd

from xaccount_ops.lab.widgets import ERROR_CLASS, Form, text_list


def test_click_runs_action_and_keeps_result() -> None:
    form = Form(
        "Demo",
        {"accounts": w.Text(value="")},
        {"Go": lambda f: pd.DataFrame({"account": text_list(f.values()["accounts"])})},
    )
    form.fields["accounts"].value = "111111111111, 222222222222"
    form.buttons["Go"].click()
    assert form.error is None
    assert list(form.result["account"]) == ["111111111111", "222222222222"]
    assert "done" in form.status.value
    assert not form.buttons["Go"].disabled


def test_handler_error_is_shown_not_swallowed() -> None:
    def fail(_form: Form) -> None:
        raise ValueError("senders.accounts[0]: '123' is not a 12-digit AWS account id")

    form = Form("Demo", {}, {"Go": fail})
    form.buttons["Go"].click()
    assert form.error == "ValueError: senders.accounts[0]: '123' is not a 12-digit AWS account id"
    assert "failed" in form.status.value
    shown = form.output.outputs[0]["data"]["text/html"]
    assert ERROR_CLASS in shown and "12-digit" in shown


def test_text_list_splits_commas_spaces_and_lines() -> None:
    assert text_list("a, b\nc  d") == ["a", "b", "c", "d"]
