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
# # Deploy the landing stacks
#
# The reference procedure's "Deploy integration" tab, as a form: the main stack (Kinesis stream,
# shipper Lambda, roles, failure queue and this region's Logs destination) in the landing region,
# and one destination stack in every other region. Every change goes through a CloudFormation
# change set: **Dry run** shows the change sets and deletes them; **Deploy** executes them and
# follows the stack events. Deploying again with nothing new changes nothing.
#
# The shipping token is never typed here: the config references it (an environment variable, a
# secret, an SSM parameter or a user-only file), or name an environment variable in the form.

# %% tags=["parameters"]
config = ""  # blank: $XACCOUNT_OPS_CONFIG, else ./xaccount-ops.toml, else start the local cloud
stack_name = ""  # blank: landing.stack_name from the config
accounts = ""  # sending account ids, comma separated; blank: senders.accounts from the config
regions = ""  # blank: senders.regions from the config
logzio_region = ""  # us eu uk au ca nl wa; blank: logzio.region from the config
token_env = ""  # environment variable holding the shipping token; blank: the config's reference
stream_mode = "ON_DEMAND"  # or PROVISIONED
batch_size = 100  # KinesisStreamBatchSize
include_speedups = None  # orjson/isal in the artifact; None: yes on AWS, no on the local cloud
dry_run = True  # run the dry run when the notebook runs
deploy = False  # deploy when the notebook runs (or press Deploy in the form)

# %%
from xaccount_ops import landing
from xaccount_ops.lab import widgets
from xaccount_ops.lab.context import open_fleet

fleet = open_fleet(config, stack_name=stack_name)
print(f"landing account {fleet.landing_account} in {fleet.landing_region}")
print(
    f"stacks: {', '.join(f'{name} ({region})' for region, name in landing.stack_names(fleet).items())}"
)

# %% [markdown]
# ## The form
#
# Blank fields keep the config's values. **Dry run** first: it lists every resource CloudFormation
# would add, modify or remove.

# %%
form = widgets.deploy_form(
    fleet,
    accounts=accounts,
    regions=regions,
    logzio_region=logzio_region,
    token_env=token_env,
    stream_mode=stream_mode,
    batch_size=batch_size,
    include_speedups=(not fleet.config.is_local) if include_speedups is None else include_speedups,
)
form

# %% [markdown]
# ## Dry run
#
# With `dry_run = True` the notebook presses **Dry run** itself; the change-set table shows here
# and in the form.

# %%
plan = form.submit("Dry run") if dry_run else None
plan

# %% [markdown]
# ## Deploy
#
# With `deploy = True` the notebook presses **Deploy**; otherwise press it in the form above. A
# failed stack is reported with the resource that failed first and why; the next deploy fixes a
# stack whose first create rolled back.

# %%
deployment = form.submit("Deploy") if deploy else None
if deployment is None:
    print("not deployed from here: press Deploy in the form")
deployment.result.frame() if deployment else None

# %% [markdown]
# ### Stack events

# %%
deployment.events if deployment else None

# %% [markdown]
# ## Outputs
#
# The seed's outputs for each region: the destination ARN the sending accounts subscribe to, the
# stream, the role CloudWatch Logs assumes. `02-attach-senders` reads them from the stacks.

# %%
deployment.outputs.style.hide(axis="index") if deployment else None
