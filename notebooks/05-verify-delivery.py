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
# # Verify delivery
#
# A uniquely marked canary line is written in every (account, region), into a log group the
# toolkit owns (`/xaccount-ops/canary`, 1-day retention) subscribed like any other; then the
# Logz.io Search API is polled until every marker is found. For a path that did not deliver, the
# diagnosis walks the pipeline hop by hop (filter, destination, policy, Kinesis, shipper, listener)
# and says where it breaks and what to do. Needs the Logz.io API token (`logzio.api_token`).

# %% tags=["parameters"]
config = ""  # blank: $XACCOUNT_OPS_CONFIG, else ./xaccount-ops.toml, else start the local cloud
stack_name = ""  # blank: landing.stack_name from the config
accounts = ""  # comma separated; blank: every sending account
regions = ""  # blank: every configured region
timeout_s = 120  # how long to wait for the canaries
prepare = True  # create or repair the canary group and its filter
run = True  # send the canaries when the notebook runs (or press the button)
export_dir = ""  # write canaries.csv and diagnosis.csv here; blank: don't

# %%
from pathlib import Path

from xaccount_ops import plots, widgets
from xaccount_ops.target import open_fleet

fleet = open_fleet(config, stack_name=stack_name)
form = widgets.verify_form(
    fleet, accounts=accounts, regions=regions, timeout_s=timeout_s, prepare=prepare
)
form

# %%
result = form.submit("Send canaries") if run else None
if result is not None:
    delivered = result.frame[result.frame["status"] == "delivered"]
    print(f"delivered {len(delivered)}/{len(result.frame)} canaries")
    if len(delivered):
        print(
            f"latency: median {delivered['latency_s'].median():.1f} s, max {delivered['latency_s'].max():.1f} s"
        )
    if export_dir:
        Path(export_dir).mkdir(parents=True, exist_ok=True)
        result.frame.to_csv(Path(export_dir) / "canaries.csv", index=False)
        result.diagnosis.to_csv(Path(export_dir) / "diagnosis.csv", index=False)

# %% [markdown]
# ## Latency, account × region
#
# End to end, from `PutLogEvents` to the first search that found the line (an upper bound, at the
# polling resolution). A red `miss` cell is a path that did not deliver.

# %%
plots.latency(result.frame) if result is not None else None

# %%
result.frame if result is not None else None

# %% [markdown]
# ## Diagnosis for the misses
#
# Empty when every canary arrived.

# %%
result.diagnosis if result is not None else None
