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
# # Add or remove sending accounts
#
# The reference procedure's "Update" tab, without retyping the whole account list: the ids you
# enter are merged into the deployed `SendingAccounts` of the main stack and of every destination
# stack (never duplicated, never overwriting the others), every other parameter is kept as
# deployed. **Preview** shows the merged lists and changes nothing; **Apply** updates the stacks.
# The seed's quoted form `"111111111111","222222222222"` is accepted.

# %% tags=["parameters"]
config = ""  # blank: $XACCOUNT_OPS_CONFIG, else ./xaccount-ops.toml, else start the local cloud
stack_name = ""  # blank: landing.stack_name from the config
accounts = ""  # ids to add or remove; blank: only show the current lists
mode = "add"  # add | remove
apply = False  # apply when the notebook runs (or press Apply in the form)

# %%
from xaccount_ops import landing
from xaccount_ops.lab import widgets
from xaccount_ops.lab.context import open_fleet, require_stack

fleet = open_fleet(config, stack_name=stack_name)
require_stack(fleet, "03-update-accounts")  # a second: says which notebook to run first

# %% [markdown]
# ## Deployed now

# %%
landing.accounts_frame(landing.preview_accounts([], fleet=fleet))[
    ["stack", "region", "before", "message"]
]

# %% [markdown]
# ## The form

# %%
form = widgets.accounts_form(fleet, accounts=accounts, mode=mode)
form

# %% [markdown]
# ## Merged preview

# %%
preview = form.submit("Preview") if accounts else None
preview

# %% [markdown]
# ## Apply

# %%
updated = form.submit("Apply") if accounts and apply else None
if updated is None:
    print("not applied from here: press Apply in the form")
updated
