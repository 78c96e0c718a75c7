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
export_dir = ""  # write canaries.csv, diagnosis.csv and reconcile*.csv here; blank: don't
reconcile_window = "1h"  # how much traffic to reconcile: 30m, 6h, 2d (whole minutes)
reconcile_lag = "5m"  # end the window this long ago (in-flight events); "0" counts up to now
heartbeat_max_age = "15m"  # a pair whose newest heartbeat is older is stale
heartbeat_wait_s = 0  # wait up to this long for every pair's heartbeat (a fresh set-up)

# %%
from pathlib import Path

from xaccount_ops.lab import plots, views, widgets
from xaccount_ops.lab.context import open_fleet, require_stack

fleet = open_fleet(config, stack_name=stack_name)
require_stack(fleet, "05-verify-delivery")  # a second: says which notebook to run first
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


# %% [markdown]
# ## Diagnosis for the misses
#
# Empty when every canary arrived.

# %%
missed = result is not None and len(result.diagnosis) > 0
views.shown(views.table_html(result.diagnosis)) if missed else print("nothing to diagnose")

# %% [markdown]
# ## Reconcile: did every event arrive?
#
# A canary proves a path works; this counts what went down it. For every log group our filter
# subscribes, CloudWatch's `IncomingLogEvents` over the window against the lines Logz.io holds
# for that owner, region and log group with an `@timestamp` in the same window (a split oversize
# event counts once). The window is whole minutes and ends `reconcile_lag` ago, so events still
# in flight are not counted short. A group below 0.999 is *short*, with the hop that most likely
# lost its events; under a filter pattern CloudWatch's count is only an upper bound, and a group
# subscribed inside the window is judged from its subscription on (its history is `backfill`'s
# job). The heatmap shows the counts each group was judged on.

# %%
from xaccount_ops.verify import reconcile

counts = reconcile(fleet, window=reconcile_window, lag=reconcile_lag)
print(counts.summary())
if export_dir:
    counts.frame.to_csv(Path(export_dir) / "reconcile.csv", index=False)
    counts.findings.to_csv(Path(export_dir) / "reconcile-findings.csv", index=False)
    # The one line `make demo` prints: console and report say the same.
    (Path(export_dir) / "reconcile-summary.txt").write_text(
        f"{counts.summary()}\n{'ok' if counts.ok else 'not ok'}\n"
    )
plots.reconcile_ratio(counts.judged, counts.threshold)

# %%
views.shown(
    views.reconcile_html(counts.frame, threshold=counts.threshold, findings=counts.findings)
)

# %% [markdown]
# Short or over groups and their likely hop (and the noted ones: under a filter pattern, or
# subscribed inside the window):

# %%
views.shown(views.reconcile_findings_html(counts.findings)) if len(counts.findings) else print(
    "every group agrees: no findings"
)

# %% [markdown]
# ## Heartbeats: is every account and region still shipping?
#
# `subscribe apply` puts an EventBridge rule in every (account, region) that writes a heartbeat
# into `/xaccount-ops/heartbeat` every few minutes (`[verify] heartbeat_minutes`); the group ships
# like any other. One search per Logz.io (sub-)account gives each pair's newest heartbeat. A pair
# older than `heartbeat_max_age` is *stale*, one with none in a day *never*; the table below the
# heatmap says where each of those breaks. `xaccount-ops alerts apply` turns the same rule into a
# Logz.io alert per pair.

# %%
from xaccount_ops import validate
from xaccount_ops.verify import heartbeats

beats = heartbeats.check(
    fleet,
    max_age=validate.duration(heartbeat_max_age, "heartbeat_max_age", allow_zero=False),
    wait_s=heartbeat_wait_s,
)
counts_by_status = beats.frame["status"].value_counts()
print("heartbeats: " + ", ".join(f"{counts_by_status.get(s, 0)} {s}" for s in heartbeats.STATUSES))
if export_dir:
    beats.frame.to_csv(Path(export_dir) / "heartbeats.csv", index=False)
plots.heartbeat_ages(beats.frame, beats.max_age.total_seconds())

# %%
beats.frame

# %%
beats.diagnosis
