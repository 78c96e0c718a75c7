# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Attach the sending log groups
#
# Instead of `aws logs put-subscription-filter` by hand in every account and region: choose the
# accounts, regions and log group patterns, look at the plan (one row per log group: what would
# change and why), then apply it. Filters the toolkit creates are named `logzio-xacct-<region>`;
# filters of other teams are never changed or removed. Deploy the landing stacks first
# (`01-deploy-landing`).

# %% tags=["parameters"]
config = ""  # blank: $XACCOUNT_OPS_CONFIG, else ./xaccount-ops.toml, else start the local cloud
stack_name = ""  # blank: landing.stack_name from the config
accounts = ""  # comma separated; blank: every sending account
regions = ""  # blank: every configured region
include = ""  # log group patterns (globs, or re:<regex>); blank: subscriptions.include
exclude = ""  # blank: subscriptions.exclude
remove = False  # plan the removal of our filters instead
plan = True  # make the plan when the notebook runs
apply = False  # apply it when the notebook runs (or press Apply in the form)

# %%
from xaccount_ops.lab import widgets
from xaccount_ops.lab.context import open_fleet, require_stack

fleet = open_fleet(config, stack_name=stack_name)
require_stack(fleet, "02-attach-senders")  # a second: says which notebook to run first
print(
    f"{len(fleet.accounts)} account(s) x {len(fleet.regions)} region(s): {', '.join(fleet.regions)}"
)

# %% [markdown]
# ## Selection

# %%
form = widgets.subscriptions_form(
    fleet, accounts=accounts, regions=regions, include=include, exclude=exclude, remove=remove
)
form

# %% [markdown]
# ## Plan
#
# `action` is what apply would do to each log group (`create`, `update`, `delete`, `unchanged`,
# `skip`), `reason` says why. The form above shows the plan: counts first, then the skipped
# groups folded by reason, then every row (collapsed).

# %%
planned = form.submit("Plan") if plan else None
print(planned.summary() if planned else "no plan made here: press Plan in the form")

# %% [markdown]
# ## Apply
#
# A progress bar follows the (account, region) pairs; a pair that fails is reported and the others
# still run.

# %%
applied = form.submit("Apply") if plan and apply else None
print(applied.summary() if applied else "not applied from here: press Apply in the form")
