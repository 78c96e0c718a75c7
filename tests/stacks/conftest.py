"""Fixtures for the stacks tests: an in-process moto server that understands our templates,
a Config/Fleet pointing at it, and a small shipper artifact already uploaded.

moto lacks ``AWS::Logs::Destination`` in CloudFormation; the project's extension
(``xaccount_ops.local.moto_ext``) adds it. Until that module exists, a minimal test-only
stand-in below registers the type (create/update/delete through moto's own logs backend) so
these tests can run; it is used only when the extension cannot be imported.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xaccount_ops.accounts import Fleet
from xaccount_ops.config import parse_config

LANDING = "123456789012"  # moto's default account: the hub credentials belong to it
SENDERS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
_names = itertools.count(1)


def _install_destination_support() -> str:
    _patch_change_sets()
    try:
        from xaccount_ops.local import moto_ext
    except ImportError:
        _install_stand_in()
        return "stand-in"
    moto_ext.install()
    return "moto_ext"


def _patch_change_sets() -> None:
    """moto 5.2.5 executes a change set without refreshing the stack's parameters, parsed
    template and outputs (a stack created by a change set has no outputs), and decides "no
    changes" by comparing raw parameter dicts (a UsePreviousValue number is an int, defaults
    are missing). Fix both; harmless when the extension already does. Test-only until moto_ext
    carries these fixes.
    """
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set
    if getattr(original, "_xacct_refresh", False):
        return

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None):
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None
        )
        result = original(self, change_set_name, stack_name)
        if change_set is not None:
            stack = self.stacks[change_set.stack_id]
            stack.parameters = dict(change_set.parameters)
            stack._parse_template()
            stack.output_map = stack._create_output_map()
        return result

    execute_change_set._xacct_refresh = True  # type: ignore[attr-defined]
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]

    from moto.cloudformation.models import Stack

    def has_parameters(self: Any, other: dict[str, Any]) -> bool:
        # AWS compares effective values: defaults filled in, numbers as text.
        slots = (self.template_dict or {}).get("Parameters", {}) or {}
        defaults = {k: str(v["Default"]) for k, v in slots.items() if "Default" in v}
        mine = {**defaults, **{k: str(v) for k, v in self.parameters.items()}}
        theirs = {**defaults, **{k: str(v) for k, v in other.items()}}
        return mine == theirs

    Stack.has_parameters = has_parameters  # type: ignore[method-assign]


def _install_stand_in() -> None:
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.logs.models import logs_backends

    class _Destination(CloudFormationModel):  # test-only, see module docstring
        __module__ = "moto.logs.test_stand_in"  # moto's model registry keys on the module path

        def __init__(self, backend: Any, destination: Any) -> None:
            self.backend = backend
            self.destination = destination

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Logs::Destination"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "DestinationName"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.destination.arn

        @property
        def physical_resource_id(self) -> str:
            return self.destination.destination_name

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> _Destination:
            props = cloudformation_json["Properties"]
            backend = logs_backends[account_id][region_name]
            destination = backend.put_destination(
                props["DestinationName"], props["RoleArn"], props["TargetArn"], {}
            )
            backend.put_destination_policy(props["DestinationName"], props["DestinationPolicy"])
            return cls(backend, destination)

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[override]
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> _Destination:
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> None:
            backend = logs_backends[account_id][region_name]
            backend.delete_destination(cloudformation_json["Properties"]["DestinationName"])

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


@pytest.fixture(scope="session")
def stacks_endpoint() -> Iterator[str]:
    """An in-process moto server with CloudFormation support for Logs destinations."""
    from moto.server import ThreadedMotoServer

    _install_destination_support()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def make_config(endpoint: str, tmp_path: Path, *, stack_name: str | None = None, **senders: Any):
    token = tmp_path / "token"
    token.write_text("local-ship-token-for-tests\n")
    token.chmod(0o600)
    raw = {
        "landing": {
            "account_id": LANDING,
            "region": REGIONS[0],
            "stack_name": stack_name or f"xacct-t{next(_names)}",
        },
        "senders": {"accounts": list(SENDERS), "regions": list(REGIONS), **senders},
        "logzio": {
            "region": "eu",
            "listener_url": "http://127.0.0.1:9/listener",
            "shipping_token": {"file": str(token)},
        },
        "aws": {"endpoint_url": endpoint, "max_attempts": 2},
    }
    return parse_config(raw, base_dir=tmp_path)


@pytest.fixture
def fleet(stacks_endpoint: str, tmp_path: Path) -> Fleet:
    """A fleet whose landing account is moto's default account; a stack name of its own."""
    return Fleet.from_config(make_config(stacks_endpoint, tmp_path))


@pytest.fixture
def artifact(tmp_path: Path) -> Any:
    """A stdlib-only shipper zip from a tiny stand-in source tree (no network needed)."""
    from xaccount_ops.package import build_artifact

    source = tmp_path / "shipper_src"
    source.mkdir()
    (source / "__init__.py").write_text("")
    (source / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
    return build_artifact(tmp_path / "dist", include_speedups=False, source_dir=source)
