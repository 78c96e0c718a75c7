"""Verify delivery end to end, and watch the pipeline's health.

- :func:`verify`: a marked canary down every (account, region) path, found again through the
  Logz.io Search API; misses come with a :func:`diagnose` of where the path breaks.
- :func:`health`: iterator age, errors, throttles, failure-queue depth, Kinesis write throttling
  and destination policy coverage over a window, graded ok/warn/fail.
- :func:`reconcile`: per shipping log group, CloudWatch's ``IncomingLogEvents`` against the lines
  Logz.io holds over a window; findings for the groups that are short.

>>> result = verify(fleet)  # doctest: +SKIP
>>> result.ok, result.frame, result.diagnosis  # doctest: +SKIP
>>> health(fleet, window=timedelta(hours=6))  # doctest: +SKIP
>>> reconcile(fleet, window=timedelta(hours=1)).frame  # doctest: +SKIP
"""

from xaccount_ops.fleet.pipeline import Pipeline, discover
from xaccount_ops.verify.canary import Canary
from xaccount_ops.verify.diagnose import diagnose
from xaccount_ops.verify.health import Thresholds, health
from xaccount_ops.verify.reconcile import ReconcileResult, reconcile
from xaccount_ops.verify.run import VerifyResult, verify

__all__ = [
    "Canary",
    "Pipeline",
    "ReconcileResult",
    "Thresholds",
    "VerifyResult",
    "diagnose",
    "discover",
    "health",
    "reconcile",
    "verify",
]
