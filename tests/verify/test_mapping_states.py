"""Diagnosis of the event source mapping's state: a mapping on its way is not a fault.

CreateEventSourceMapping answers ``State: Creating`` on AWS (tests/fidelity fixture
lambda/create_event_source_mapping, recorded 2025-11-25); a verify right after a deploy must
say "wait", not "enable it"."""

from __future__ import annotations

import pytest

from tests.fidelity.shapes import recorded
from xaccount_ops.verify.diagnose import mapping_problem

FUNCTION = "logzio-xacct-shipper"


def test_recorded_create_answer_is_starting_not_broken() -> None:
    mapping = recorded("lambda/create_event_source_mapping", "create_event_source_mapping_response")
    assert mapping["State"] == "Creating"
    hop, problem, fix = mapping_problem(FUNCTION, mapping)
    assert hop == "shipper" and "is Creating" in problem and "once it is Enabled" in problem
    assert fix.startswith("wait a minute") and "enable" not in fix


@pytest.mark.parametrize("state", ["Enabled", "Updating", None])
def test_running_states_are_no_problem(state: str | None) -> None:
    assert mapping_problem(FUNCTION, {"State": state, "UUID": "u"}) is None


@pytest.mark.parametrize("state", ["Creating", "Enabling"])
def test_starting_states_say_wait(state: str) -> None:
    _, problem, fix = mapping_problem(FUNCTION, {"State": state, "UUID": "u"})
    assert f"is {state}" in problem and "wait a minute" in fix


@pytest.mark.parametrize("state", ["Disabled", "Disabling"])
def test_stopped_states_say_enable_with_the_uuid(state: str) -> None:
    _, problem, fix = mapping_problem(FUNCTION, {"State": state, "UUID": "abc-123"})
    assert problem == f"the event source mapping of {FUNCTION} is {state}"
    assert "--uuid abc-123 --enabled" in fix


def test_other_states_say_deploy_with_the_reason() -> None:
    _, problem, fix = mapping_problem(
        FUNCTION, {"State": "Deleting", "StateTransitionReason": "User action"}
    )
    assert "is Deleting (User action)" in problem and "xaccount-ops deploy" in fix
