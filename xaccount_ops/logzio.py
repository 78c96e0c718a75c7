"""Logz.io endpoints and the Search API client that proves logs arrived.

Region codes map to listener and API hosts (Logz.io's public docs, see
``/work/shared/reference/logzio-api.md``); ``[logzio] listener_url`` / ``api_url`` in the config win
over the region, which is how the local cloud's emulator plugs in.

The search client is a ``requests`` session with retries on 429 and 5xx (exponential backoff,
honouring ``Retry-After``) and connect/read timeouts. Errors say what went wrong and what to do,
and never contain the token: it lives only in the session's headers, which no repr, log line or
exception shows.

>>> client = SearchClient.from_config(load_config())  # doctest: +SKIP
>>> client.find_markers(["xacct-canary-1a2b"])  # doctest: +SKIP
{'xacct-canary-1a2b': [{'owner': '111111111111', ...}]}
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shipper_lambda.config import LISTENER_PORT, REGION_HOSTS
from xaccount_ops import __version__, validate
from xaccount_ops.errors import ConfigError, XaccountOpsError

log = logging.getLogger(__name__)


# Retry budget for the search API. Class-free constants so tests can shrink them.
RETRY_TOTAL = 5
RETRY_BACKOFF_S = 0.5
RETRY_STATUSES = (429, 500, 502, 503, 504)
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
MAX_SEARCH_SIZE = 10_000  # the API's limit for ``size``
# Markers per search: well under Elasticsearch's default limit of 1,024 clauses per query.
MARKERS_PER_SEARCH = 500  # twice as many clauses: an id is looked for in id and joined_ids
JOINED_IDS_FIELD = "joined_ids"  # a joined line's other events (shipper_lambda.multiline)

# The field the canary puts its marker in (the canary's message is a JSON object, whose fields
# the shipper merges at top level).
MARKER_FIELD = "xaccount_ops_canary"


def _suffix(region: str) -> str:
    """``-eu`` for eu, ``""`` for us: the shipper's listener host without ``listener`` and domain.

    validate maps blank to "us" and rejects unknown codes, naming the accepted ones.
    """
    host = REGION_HOSTS[validate.logzio_region(region or "", "logzio.region")]
    return host.removeprefix("listener").removesuffix(".logz.io")


def listener_url(region: str = "us", override: str | None = None) -> str:
    """The bulk listener's base URL for a Logz.io region code (``override`` wins)."""
    if override:
        return override.rstrip("/")
    return f"https://listener{_suffix(region)}.logz.io:{LISTENER_PORT}"


def api_url(region: str = "us", override: str | None = None) -> str:
    """The API base URL for a Logz.io region code (``override`` wins)."""
    if override:
        return override.rstrip("/")
    return f"https://api{_suffix(region)}.logz.io"


@dataclass(frozen=True)
class Endpoints:
    listener_url: str
    api_url: str


def endpoints(logzio_config: Any) -> Endpoints:
    """Listener and API URLs for ``cfg.logzio`` (region code plus the optional overrides)."""
    return Endpoints(
        listener_url=listener_url(logzio_config.region, logzio_config.listener_url),
        api_url=api_url(logzio_config.region, logzio_config.api_url),
    )


# -- errors --------------------------------------------------------------------------------------


class SearchError(XaccountOpsError):
    """The Logz.io Search API refused or failed a request. ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, resource="logzio search API")
        self.status = status


class SearchAuthError(SearchError):
    """401/403: the token is wrong, or is the wrong kind of token."""


class SearchRateLimitError(SearchError):
    """429 after the retry budget."""


class SearchPlanError(SearchError):
    """The account's plan has no Search API (Pro/Enterprise only)."""


_PLAN_HINTS = ("plan", "pro ", "enterprise", "not available", "not enabled", "upgrade")


def _error_for(response: requests.Response, api: str) -> SearchError:
    """Turn a failed response into an error that says what to do. Never echoes request headers."""
    status = response.status_code
    body = (response.text or "")[:300].strip()
    lowered = body.lower()
    if status in (401, 403) and any(h in lowered for h in _PLAN_HINTS):
        return SearchPlanError(
            f"Logz.io search API at {api} refused the request ({status}): the Search API needs a "
            f"Pro or Enterprise plan; the server said: {body}",
            status=status,
        )
    if status in (401, 403):
        return SearchAuthError(
            f"Logz.io search API at {api} rejected the API token ({status}). It may be the wrong "
            "token type: verification needs an API token (Settings > Manage tokens > API tokens), "
            "not the log shipping token; also check the account region matches the API URL "
            "(logzio.region / logzio.api_url)",
            status=status,
        )
    if status == 429:
        return SearchRateLimitError(
            f"Logz.io search API at {api} is rate limiting (429) after {RETRY_TOTAL} retries; "
            "the account allows 100 concurrent requests: run fewer verifications at once",
            status=status,
        )
    if status == 400 and any(h in lowered for h in _PLAN_HINTS):
        return SearchPlanError(
            f"Logz.io search API at {api} refused the request: {body} (the Search API needs a "
            "Pro or Enterprise plan)",
            status=status,
        )
    return SearchError(f"Logz.io search API at {api} answered {status}: {body}", status=status)


# -- queries -------------------------------------------------------------------------------------


def marker_query(
    markers: Sequence[str], *, field: str = MARKER_FIELD, size: int | None = None
) -> dict[str, Any]:
    """The search body that finds the lines carrying any of ``markers`` in ``field``.

    One ``match_phrase`` per marker: exact on a keyword-mapped field and still a match when
    Logz.io maps the field as analysed text (a ``terms`` query would then miss). No wildcards,
    which the Search API forbids in leading position. Callers check the field's value exactly.
    """
    if not markers:
        raise ValueError("marker_query needs at least one marker")
    wanted = sorted(set(markers))
    return {
        "query": {
            "bool": {
                "should": [{"match_phrase": {field: marker}} for marker in wanted],
                "minimum_should_match": 1,
            }
        },
        "size": min(size or max(10, 4 * len(wanted)), MAX_SEARCH_SIZE),
    }


# -- the client ------------------------------------------------------------------------------------


def _retry() -> Retry:
    return Retry(
        total=RETRY_TOTAL,
        connect=RETRY_TOTAL,
        read=2,
        status=RETRY_TOTAL,
        backoff_factor=RETRY_BACKOFF_S,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "POST"}),  # search is read-only: safe to repeat
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def api_session(api_token: str, retry: Retry) -> requests.Session:
    """A session for Logz.io's REST APIs: the token in its headers only, ``retry`` on both schemes."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(
        {
            "X-API-TOKEN": api_token,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"xaccount-ops/{__version__}",
        }
    )
    return session


class SearchClient:
    """Logz.io Search API (``POST /v1/search``). The token is held in the session only."""

    def __init__(
        self,
        api_url: str,
        api_token: str,
        *,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
        retry: Retry | None = None,
    ) -> None:
        if not api_token:
            raise ConfigError(
                "logzio.api_token", "required to search Logz.io (verification needs an API token)"
            )
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._session = api_session(api_token, retry or _retry())

    def __repr__(self) -> str:
        return f"SearchClient(api_url={self.api_url!r})"

    @classmethod
    def from_config(
        cls, config: Any, client_factory: Callable[[str], Any] | None = None
    ) -> SearchClient:
        """A client for ``config`` (a Config); resolves ``logzio.api_token`` (secret/ssm refs
        need ``client_factory(service)``, e.g. ``lambda s: fleet.landing_client(s)``)."""
        ref = config.logzio.api_token
        if ref is None:
            raise ConfigError(
                "logzio.api_token",
                'not set; add e.g. api_token = { env = "LOGZIO_API_TOKEN" } (an API token, '
                "not the shipping token: Settings > Manage tokens > API tokens)",
            )
        return cls(endpoints(config.logzio).api_url, ref.resolve(client_factory))

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SearchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, body: Mapping[str, Any], *, day_offset: int | None = None) -> dict[str, Any]:
        """Run one search; the parsed response. Raises :class:`SearchError` subclasses."""
        url = f"{self.api_url}/v1/search"
        params = {"dayOffset": str(day_offset)} if day_offset is not None else None
        try:
            response = self._session.post(url, json=dict(body), params=params, timeout=self.timeout)
        except requests.RequestException as err:
            # The exception text names the URL, never headers: safe to keep.
            raise SearchError(
                f"cannot reach the Logz.io search API at {self.api_url}: {type(err).__name__}; "
                "check logzio.region / logzio.api_url and the network"
            ) from None
        if response.status_code != 200:
            raise _error_for(response, self.api_url)
        try:
            return response.json()
        except ValueError:
            raise SearchError(
                f"Logz.io search API at {self.api_url} answered 200 with a body that is not JSON",
                status=200,
            ) from None

    def hits(self, body: Mapping[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
        """The ``_source`` of every hit of one search."""
        result = self.search(body, **kwargs)
        return [hit.get("_source", {}) for hit in result.get("hits", {}).get("hits", [])]

    def find_markers(
        self, markers: Iterable[str], *, field: str = MARKER_FIELD
    ) -> dict[str, list[dict[str, Any]]]:
        """For each marker found, the lines that carry it (``{marker: [source, ...]}``)."""
        wanted = set(markers)
        if not wanted:
            return {}
        found: dict[str, list[dict[str, Any]]] = {}
        ordered = sorted(wanted)
        for start in range(0, len(ordered), MARKERS_PER_SEARCH):
            chunk = ordered[start : start + MARKERS_PER_SEARCH]
            for source in self.hits(marker_query(chunk, field=field)):
                marker = source.get(field)
                if marker in wanted:
                    found.setdefault(marker, []).append(source)
        return found

    def delivered_keys(
        self, ids: Iterable[str], *, since_ms: int, until_ms: int
    ) -> dict[tuple[str, int], int]:
        """How many lines Logz.io holds per ``(id, part)`` for the CloudWatch event ``ids``.

        ``part`` is 0 for a line that was not split (oversize events ship as parts 1..n, all with
        the same ``id``). A joined line (the shipper's multiline rule) holds the events in its
        ``joined_ids`` too: each of them counts as held, under the line's ``part``. The ``@timestamp`` range ``[since_ms, until_ms]`` (epoch ms) should
        cover the events' timestamps: it replaces the API's default window of today and yesterday,
        so history older than that is found too. ``replay`` and ``backfill`` skip keys found here,
        which is what makes them ship nothing twice; a count above 1 is a duplicate.
        """
        wanted = sorted(set(ids))
        counts: dict[tuple[str, int], int] = {}
        time_range = {
            "range": {"@timestamp": {"gte": since_ms, "lte": until_ms, "format": "epoch_millis"}}
        }
        for start in range(0, len(wanted), MARKERS_PER_SEARCH):
            chunk = wanted[start : start + MARKERS_PER_SEARCH]
            body = marker_query(chunk, field="id", size=MAX_SEARCH_SIZE)
            body["query"]["bool"]["should"] += marker_query(chunk, field=JOINED_IDS_FIELD)["query"][
                "bool"
            ]["should"]
            body["query"]["bool"]["filter"] = [time_range]
            body["_source"] = ["id", "part", JOINED_IDS_FIELD]
            chunk_set = set(chunk)
            for source in self.hits(body):
                part = int(source.get("part") or 0)
                joined = source.get(JOINED_IDS_FIELD)
                held = [source.get("id"), *(joined if isinstance(joined, list) else ())]
                for event_id in held:
                    if event_id in chunk_set:
                        key = (str(event_id), part)
                        counts[key] = counts.get(key, 0) + 1
        return counts
