"""moto's request-to-account lookup, made constant time.

moto finds the account of every request by its access key with ``get_account_id_from``, which
walks every account's IAM backend in every partition (instantiating the ones not made yet) until
one holds the key. The local cloud's pace middleware asks the same per call. With hundreds of
accounts that walk is most of a request's cost, and it grows with the fleet (quadratic in all).

Here the (account, partition) a key was found in is remembered; a remembered answer is used only
while that backend still holds the key (a deleted key is looked up again), so the answers are
exactly moto's. Keys found nowhere (the hub's ``testing`` key: moto's default account) are not
remembered.

``install()`` patches ``moto.iam.models.get_account_id_from`` in place (moto imports it by name
from there at call time), once per process.
"""

from __future__ import annotations

import threading

_MARK = "_moto_ext_iam"


def install() -> None:
    """Patch moto's account lookup (idempotent)."""
    from moto.iam import models
    from moto.utilities.utils import PARTITION_NAMES

    if getattr(models.get_account_id_from, _MARK, False):
        return
    found: dict[str, tuple[str, str]] = {}
    lock = threading.Lock()

    def get_account_id_from(access_key: str) -> str:
        hit = found.get(access_key)
        if hit is not None:
            account_id, partition = hit
            if access_key in models.iam_backends[account_id][partition].access_keys:
                return account_id
        # moto's walk, keeping where the key was (list(): other threads add accounts meanwhile)
        for account_id, account in list(models.iam_backends.items()):
            for partition in PARTITION_NAMES:
                if access_key in account[partition].access_keys:
                    with lock:
                        found[access_key] = (account_id, partition)
                    return account_id
        return models.DEFAULT_ACCOUNT_ID

    setattr(get_account_id_from, _MARK, True)
    models.get_account_id_from = get_account_id_from
