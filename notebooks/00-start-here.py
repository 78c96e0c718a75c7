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
# # Start here
#
# This toolkit ships CloudWatch Logs from many AWS accounts and regions to Logz.io:
#
# ```
# sending account A, region R                    landing account L
# log group --subscription filter--> Logs destination (one per region R, policy lists A or the org)
#   (logzio-xacct-R)                        |  (CloudWatch Logs assumes the landing role)
#                                           v
#                                    Kinesis stream (landing region, on-demand)
#                                           |  event source mapping: partial batch failures,
#                                           v  bisect, finite retries; on failure -> S3 store
#                                    shipper Lambda --HTTPS bulk, gzip--> Logz.io listener
#
#   S3 failure store (batch + records) --> replay (skips ids already in Logz.io)
# ```
#
# The notebooks, in order:
#
# | notebook | what it does |
# |---|---|
# | `00-start-here` | this one: the pipeline, choosing the target, credentials in every account |
# | `01-deploy-landing` | the landing stacks (stream, shipper, destinations): dry run, deploy, outputs |
# | `02-attach-senders` | choose log groups, plan, apply subscription filters |
# | `03-update-accounts` | add or remove sending accounts |
# | `04-audit-log-groups` | inventory of every log group, findings, plots, CSV export |
# | `05-verify-delivery` | canaries through to Logz.io search, latency, diagnosis; reconcile counts per log group |
# | `06-recover` | the failure store per account/region and hour, then replay exactly once |
# | `07-backfill` | history from before the subscription: dry run, then ship |
#
# Run 01 first (the landing stacks), then 02 (the filters): 03-07 work on what those two made,
# and say so in their first cell when the stack is not there yet.
#
# **Choosing the target.** Every notebook starts with the same parameter: set `config` to your
# `xaccount-ops.toml` to work on real AWS. Left empty, the notebooks use `$XACCOUNT_OPS_CONFIG`
# or `./xaccount-ops.toml`, and when there is neither they start the embedded local cloud (no AWS
# account needed; `make lab` starts it and sets `$XACCOUNT_OPS_CONFIG` for you). Tokens are never
# in the config or in any output: the config says where to read them.

# %% tags=["parameters"]
config = ""  # blank: $XACCOUNT_OPS_CONFIG, else ./xaccount-ops.toml, else start the local cloud

# %%
from xaccount_ops.fleet.accounts import who_am_i
from xaccount_ops.lab.context import open_fleet

fleet = open_fleet(config)
print(f"config: {fleet.config.path}")
print(f"landing account {fleet.landing_account} in {fleet.landing_region}")
print(f"local cloud: {fleet.config.is_local}; Logz.io region: {fleet.config.logzio.region}")
fleet.targets_frame()

# %% [markdown]
# ## Credentials for every account
#
# One `sts:GetCallerIdentity` per (account, region), through the same role assumption every other
# notebook uses. A row with `status = error` says what to fix; the rest still work.

# %%
identities = who_am_i(fleet)
identities
