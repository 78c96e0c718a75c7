"""CloudFormation change sets as AWS describes them (moto 5.2.5 describes them otherwise).

Recorded on AWS (fixture ``tests/fidelity/fixtures/cloudformation/no_echo.json``, LocalStack
``test_stacks.py::test_no_echo_parameter``):

- A change set that only changes parameters lists a ``Modify`` row for every resource that
  references a changed parameter, with ``Replacement``, ``Scope``, ``PhysicalResourceId`` and
  ``Details``: per property (or ``Metadata``) one ``ParameterReference``/``Static`` detail naming
  the parameter (``CausingEntity``) and one ``DirectModification``/``Dynamic`` detail. moto lists
  no row at all, so a dry run of a parameter change shows nothing.
- A template change's ``Modify`` row carries the same keys (``DirectModification``/``Static``
  per changed property).
- ``DescribeChangeSet`` lists every parameter of the new template (defaults included) and masks
  each NoEcho one as ``****`` (moto: the given values, in clear).
- ``CreateChangeSet`` without ``ChangeSetType`` is an ``UPDATE`` (the API reference: "By
  default, CloudFormation specifies UPDATE"; the recording above relies on it). moto defaults to
  ``CREATE`` and so makes a second stack of the same name.
- ``UpdateStack`` with the deployed template and parameters is refused: ``ValidationError`` "No
  updates are to be performed." (fixture ``cloudformation/update_stack_no_change``); moto ran it.

Whether a changed property replaces the resource (``RequiresRecreation``) comes from
:data:`REPLACING_PROPERTIES`, taken from the CloudFormation resource reference ("Update requires:
Replacement") for the resource types this project deploys; any other property is ``Never``. That
table is an assumption of the local cloud (see ``xaccount_ops/local/README.md``).

``install()`` patches moto's ``ChangeSet`` in place, once per process.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

_MARK = "_moto_ext_cfn_changesets"
MASK = "****"
# CloudFormation resource reference, "Update requires: Replacement", for the types in cfn/.
REPLACING_PROPERTIES: dict[str, frozenset[str]] = {
    "AWS::Kinesis::Stream": frozenset({"Name"}),
    "AWS::Lambda::Function": frozenset({"FunctionName", "PackageType"}),
    "AWS::Lambda::EventSourceMapping": frozenset(
        {"EventSourceArn", "StartingPosition", "StartingPositionTimestamp"}
    ),
    "AWS::Logs::Destination": frozenset({"DestinationName"}),
    "AWS::Logs::SubscriptionFilter": frozenset({"LogGroupName", "FilterName"}),
    "AWS::Logs::LogGroup": frozenset({"LogGroupName", "LogGroupClass"}),
    "AWS::Logs::AccountPolicy": frozenset({"PolicyName", "PolicyType"}),
    "AWS::S3::Bucket": frozenset({"BucketName"}),
    "AWS::SQS::Queue": frozenset({"QueueName", "FifoQueue"}),
    "AWS::IAM::Role": frozenset({"RoleName", "Path"}),
    "AWS::CloudWatch::Alarm": frozenset({"AlarmName"}),
}
_SUB_VARIABLE = re.compile(r"\$\{([^}!.]+)\}")


def references(node: Any) -> set[str]:
    """Names a template fragment refers to: ``Ref`` and ``Fn::Sub`` variables."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) and value else value
                if isinstance(text, str):
                    found.update(_SUB_VARIABLE.findall(text))
                if isinstance(value, list) and len(value) > 1:
                    found |= references(value[1])
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def effective_parameters(template: dict[str, Any], given: dict[str, Any]) -> dict[str, str]:
    """Every parameter of a template as text: the given value, else its Default."""
    slots = template.get("Parameters") or {}
    values = {k: str(v["Default"]) for k, v in slots.items() if "Default" in v}
    for key, value in given.items():
        if key in slots:
            values[key] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return values


def no_echo_keys(template: dict[str, Any]) -> set[str]:
    slots = template.get("Parameters") or {}
    return {k for k, v in slots.items() if str(v.get("NoEcho", "")).lower() == "true"}


def _target(attribute: str, name: str | None, recreation: str) -> dict[str, str]:
    target = {"Attribute": attribute, "RequiresRecreation": recreation}
    if name is not None:
        target["Name"] = name
    return target


def resource_details(
    resource_type: str, old: dict[str, Any], new: dict[str, Any], changed: set[str]
) -> list[dict[str, Any]]:
    """AWS's ``Details`` for one resource: changed properties and the parameters behind them."""
    replacing = REPLACING_PROPERTIES.get(resource_type, frozenset())
    parts: list[tuple[str, str | None, Any, Any]] = [
        ("Metadata", None, old.get("Metadata"), new.get("Metadata"))
    ]
    old_props, new_props = old.get("Properties") or {}, new.get("Properties") or {}
    for name in sorted(set(old_props) | set(new_props)):
        parts.append(("Properties", name, old_props.get(name), new_props.get(name)))
    static: list[dict[str, Any]] = []
    dynamic: list[dict[str, Any]] = []
    for attribute, name, before, after in parts:
        recreation = "Always" if name in replacing else "Never"
        causes = sorted(references(after) & changed) if after is not None else []
        if before != after:
            static.append(
                {
                    "ChangeSource": "DirectModification",
                    "Evaluation": "Static",
                    "Target": _target(attribute, name, recreation),
                }
            )
        elif causes:
            for cause in causes:
                static.append(
                    {
                        "CausingEntity": cause,
                        "ChangeSource": "ParameterReference",
                        "Evaluation": "Static",
                        "Target": _target(attribute, name, recreation),
                    }
                )
            dynamic.append(
                {
                    "ChangeSource": "DirectModification",
                    "Evaluation": "Dynamic",
                    "Target": _target(attribute, name, recreation),
                }
            )
    return static + dynamic


def replacement(details: list[dict[str, Any]]) -> str:
    """``True`` when a changed property always replaces, ``Conditional``, else ``False``."""
    recreations = {d["Target"]["RequiresRecreation"] for d in details}
    if "Always" in recreations:
        return "True"
    if "Conditionally" in recreations:
        return "Conditional"
    return "False"


def install() -> None:
    """Patch moto's ChangeSet: rows with details, parameters masked (idempotent)."""
    from moto.cloudformation.models import Change, ChangeSet
    from moto.cloudformation.responses import CloudFormationResponse

    if getattr(ChangeSet, _MARK, False):
        return
    plain_create_response = CloudFormationResponse.create_change_set

    def create_change_set_response(self: Any) -> Any:
        if self._get_param("ChangeSetType") is None:
            plain_get = self._get_param

            def get_param(name: str, if_none: Any = None) -> Any:
                return "UPDATE" if name == "ChangeSetType" else plain_get(name, if_none)

            self._get_param = get_param
        return plain_create_response(self)

    CloudFormationResponse.create_change_set = create_change_set_response  # type: ignore[method-assign]

    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend

    plain_update = CloudFormationBackend.update_stack

    def update_stack(
        self: Any, name: str, template: str, role_arn: Any, parameters: Any, tags: Any
    ) -> Any:
        stack = self.get_stack(name)
        resolved = self._resolve_update_parameters(instance=stack, incoming_params=parameters)
        if not tags and stack.has_template(template) and stack.has_parameters(resolved):
            raise ValidationError(message="No updates are to be performed.")
        return plain_update(self, name, template, role_arn, parameters, tags)

    CloudFormationBackend.update_stack = update_stack  # type: ignore[method-assign]
    plain_diff = ChangeSet.diff

    def diff(self: Any) -> list[Any]:
        changes: list[Any] = plain_diff(self)
        stack = self.stack
        old_resources = stack.resource_map._resource_json_map or {}
        if not old_resources:
            return changes  # a new stack: Add rows only
        old_template = stack.template_dict or {}
        new_template = self.template_dict or {}
        before = effective_parameters(old_template, stack.parameters or {})
        after = effective_parameters(new_template, self.parameters or {})
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        rows = {c.logical_resource_id: c for c in changes}
        for name, new in (new_template.get("Resources") or {}).items():
            old = old_resources.get(name)
            if old is None:
                continue
            details = resource_details(new.get("Type", ""), old, new, changed)
            if not details:
                # moto stores a resource without Properties as "Properties": {} and then reads
                # the unchanged template as a Modify: AWS lists no row (and no change at all).
                if name in rows and rows[name].action == "Modify":
                    changes.remove(rows.pop(name))
                continue
            row = rows.get(name)
            if row is None:
                row = Change(action="Modify", logical_resource_id=name, resource_type=new["Type"])
                rows[name] = row
                changes.append(row)
            row.details = details
            row.replacement = replacement(details)
            row.scope = sorted({d["Target"]["Attribute"] for d in details})
            resource = stack.resource_map._parsed_resources.get(name)
            physical = getattr(resource, "physical_resource_id", None)
            if physical is not None:
                row.physical_resource_id = physical
        return changes

    def masked_parameters(self: Any) -> dict[str, str]:
        template = self.template_dict or {}
        hidden = no_echo_keys(template)
        values = effective_parameters(template, self.parameters or {})
        return {k: MASK if k in hidden else v for k, v in values.items()}

    class Meta:
        serialization_aliases: ClassVar[dict[str, str]] = {"Parameters": "masked_parameters"}

    ChangeSet.diff = diff  # type: ignore[method-assign]
    ChangeSet.masked_parameters = property(masked_parameters)  # type: ignore[attr-defined]
    ChangeSet.Meta = Meta  # type: ignore[attr-defined]
    setattr(ChangeSet, _MARK, True)
