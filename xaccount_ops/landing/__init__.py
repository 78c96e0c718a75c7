"""The landing side: the stacks that receive the fleet's logs, and how they change.

- :mod:`package`: the shipper's artifact (build, upload).
- :mod:`templates`: the two templates and the parameters built from the config.
- :mod:`changesets`: one stack through a change set (the only way a stack changes).
- :mod:`preview`: the dry run of a deploy.  :mod:`stacks`: deploy and the deployed outputs.
- :mod:`senders`: add or remove sending accounts on the deployed stacks (the seed's "Update" tab).
- :mod:`stacksets`: the sending side's stack sets.
"""

from xaccount_ops.landing.changesets import (
    CAPABILITIES,
    EVENT_COLUMNS,
    EventCallback,
    StackError,
    StackResult,
    apply_stack,
    describe_stack,
)
from xaccount_ops.landing.package import CFN_DIR
from xaccount_ops.landing.preview import plan_deploy
from xaccount_ops.landing.senders import (
    AccountsUpdate,
    accounts_frame,
    add_accounts,
    preview_accounts,
    remove_accounts,
)
from xaccount_ops.landing.stacks import DeployResult, Outputs, deploy, outputs_frame, stack_outputs
from xaccount_ops.landing.templates import (
    DESTINATION,
    MAIN,
    accounts_parameters,
    destination_parameters,
    main_parameters,
    route_parameters,
    stack_names,
    token_parameters,
)

__all__ = [
    "CAPABILITIES",
    "CFN_DIR",
    "DESTINATION",
    "EVENT_COLUMNS",
    "MAIN",
    "AccountsUpdate",
    "DeployResult",
    "EventCallback",
    "Outputs",
    "StackError",
    "StackResult",
    "accounts_frame",
    "accounts_parameters",
    "add_accounts",
    "apply_stack",
    "deploy",
    "describe_stack",
    "destination_parameters",
    "main_parameters",
    "outputs_frame",
    "plan_deploy",
    "preview_accounts",
    "remove_accounts",
    "route_parameters",
    "stack_names",
    "stack_outputs",
    "token_parameters",
]
