"""The verify run: a marked canary down every (account, region) path, found again through the
Logz.io Search API; the misses are walked by :func:`~xaccount_ops.verify.diagnose.diagnose`.

It sits above :mod:`canary` and :mod:`diagnose` so that neither imports the other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xaccount_ops import config
from xaccount_ops.fleet.accounts import Fleet, Target, fan_out
from xaccount_ops.fleet.pipeline import Pipeline, discover
from xaccount_ops.logzio import SearchClient
from xaccount_ops.verify.canary import (
    MAIN_ROUTE,
    Canary,
    marker_for,
    new_run_id,
    poll,
    prepare_and_send,
    results_frame,
)
from xaccount_ops.verify.diagnose import diagnose as walk
from xaccount_ops.verify.diagnose import diagnosis_frame

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class VerifyResult:
    """Per-path results (``frame``), where the missing paths break (``diagnosis``)."""

    frame: pd.DataFrame
    diagnosis: pd.DataFrame
    canaries: list[Canary] = field(default_factory=list)
    pipeline: Pipeline | None = None

    @property
    def ok(self) -> bool:
        """True only if every path delivered."""
        return bool(len(self.frame)) and bool((self.frame["status"] == "delivered").all())


def _route_name(cfg: config.Config, target: Target) -> str:
    route = cfg.logzio.route_for(target.account_id, cfg.verify.canary_log_group)
    return route.name if route is not None else MAIN_ROUTE


def _poll_routes(
    fleet: Fleet, search: SearchClient, canaries: Sequence[Canary], deadline: float
) -> str:
    """:func:`poll` each route's canaries with that (sub-)account's API token; the last error."""
    logzio = fleet.config.logzio
    by_route: dict[str, list[Canary]] = {}
    for canary in canaries:
        by_route.setdefault(canary.route, []).append(canary)
    covered = set(by_route)
    for route in logzio.routes:
        if route.name not in covered:
            log.warning(
                "route %s: no canary path (its accounts/log_groups do not take %s in any "
                "target), so verify cannot prove it",
                route.name,
                fleet.config.verify.canary_log_group,
            )
    last_error = ""
    for name, group in by_route.items():
        if name == MAIN_ROUTE:
            last_error = poll(search, group, deadline=deadline) or last_error
            continue
        route = next(r for r in logzio.routes if r.name == name)
        if route.api_token is None:
            for canary in group:
                canary.status = "error"
                canary.detail = (
                    f"route {name} has no api_token: cannot search its Logz.io sub-account"
                )
            continue
        token = route.api_token.resolve(lambda s: fleet.landing_client(s))
        with SearchClient(search.api_url, token) as routed:
            last_error = poll(routed, group, deadline=deadline) or last_error
    return last_error


def verify(
    fleet: Fleet,
    *,
    timeout_s: float | None = None,
    prepare: bool = True,
    search: SearchClient | None = None,
    targets: Sequence[Target] | None = None,
    diagnose: bool = True,
    progress: bool | None = None,
) -> VerifyResult:
    """Send a canary down every (account, region) path and wait for each to arrive in Logz.io.

    ``prepare=False`` checks the paths as they are: the canary group and its filter are neither
    created nor repaired (use it to verify an existing set-up, or to see a broken one reported).
    With ``[[logzio.routes]]``, a canary whose (account, canary group) a route takes is looked for
    in that route's sub-account, with the route's ``api_token``.
    """
    cfg = fleet.config
    timeout = float(timeout_s if timeout_s is not None else cfg.verify.timeout_s)
    own_search = search is None
    search = search or SearchClient.from_config(cfg, lambda s: fleet.landing_client(s))
    try:
        pipeline = discover(fleet)
        run_id = new_run_id()
        canaries = [
            Canary(
                target=t,
                marker=marker_for(run_id, t),
                log_group=cfg.verify.canary_log_group,
                log_stream=f"verify-{run_id}",
                route=_route_name(cfg, t),
            )
            for t in (targets if targets is not None else fleet.targets)
        ]
        by_target = {c.target: c for c in canaries}
        sent = fan_out(
            lambda t: prepare_and_send(fleet, by_target[t], pipeline, prepare=prepare),
            list(by_target),
            max_workers=cfg.aws.max_workers,
            desc="canaries",
            progress=progress,
        )
        for error in sent.errors.itertuples():
            canary = by_target[Target(error.account_id, error.region)]
            canary.status = "error"
            canary.detail = f"could not write the canary: {error.error_code}: {error.message}"
            if error.hint:
                canary.detail += f" ({error.hint})"
        last_error = _poll_routes(fleet, search, canaries, time.monotonic() + timeout)
        for canary in canaries:
            if canary.status == "missing":
                canary.detail = (
                    f"not found in Logz.io within {timeout:g} s"
                    if not last_error
                    else f"search failing at the deadline: {last_error}"
                )
                if last_error:
                    canary.status = "error"
        frame = results_frame(canaries)
        misses = [c for c in canaries if c.status != "delivered"]
        diagnosis = walk(fleet, misses, pipeline) if diagnose and misses else None
    finally:
        if own_search:
            search.close()
    return VerifyResult(
        frame=frame,
        diagnosis=diagnosis if diagnosis is not None else diagnosis_frame(),
        canaries=canaries,
        pipeline=pipeline,
    )
