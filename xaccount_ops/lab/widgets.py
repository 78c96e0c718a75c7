"""Notebook forms (ipywidgets). Forms only: every action calls the library and shows its result.

One builder per notebook: :func:`deploy_form` (01), :func:`subscriptions_form` (02),
:func:`accounts_form` (03), :func:`audit_form` (04), :func:`verify_form` (05). Blank fields keep
the config's values; what a form changes is applied to a copy of the fleet
(:func:`xaccount_ops.lab.context.with_overrides`), validated like the config.

A form keeps its last ``result`` and ``error`` so it can be tested in plain Python:
set ``form.fields[...]``'s ``.value``, call ``form.buttons[...].click()``, assert on ``form.result``
or ``form.error``. ipywidgets swallows exceptions raised in click handlers, so a form catches them
itself and shows the message in its output area with the CSS class ``xacct-error``; the notebook
tests fail on that class as on any error output. Notebook cells run a form with
``form.submit(label)``, which raises :class:`FormError`, so a headless run fails on the cell.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd
from IPython.display import HTML, display

from xaccount_ops.errors import XaccountOpsError

log = logging.getLogger(__name__)

# Tables show text whole (a finding's fix, a canary's marker, an ARN): pandas' default cuts cells
# at 50 characters with "...". Set for the notebook kernels that use these forms.
pd.set_option("display.max_colwidth", None)

ERROR_CLASS = "xacct-error"
ERROR_STYLE = "color:#8a1c1c;background:#fdecea;border-left:4px solid #c0392b;padding:6px;white-space:pre-wrap"

Action = Callable[["Form"], Any]
Render = Callable[[Any], Any]


class FormError(XaccountOpsError):
    """An action run from code (:meth:`Form.submit`) failed; the message is the one shown."""


class Form:
    """Input fields, one button per action, and an output area.

    ``actions`` maps a button label to ``action(form)``, or to ``(action, render)`` when that
    action's result needs its own rendering (``render(result)`` gives what to show: a displayable
    or a list of them). ``live`` is a box an action may fill while it works (progress bars, the
    latest events); ``state`` is where actions leave things for each other (e.g. a plan).
    """

    def __init__(
        self,
        title: str,
        fields: Mapping[str, w.Widget],
        actions: Mapping[str, Action | tuple[Action, Render]],
        *,
        render: Render | None = None,
    ) -> None:
        self.fields = dict(fields)
        self.output = w.Output()
        self.live = w.VBox([])
        self.result: Any = None
        self.error: str | None = None
        self.state: dict[str, Any] = {}
        self._render = render or _render
        self.buttons: dict[str, w.Button] = {}
        self._actions: dict[str, tuple[Action, Render]] = {}
        for label, spec in actions.items():
            action, shown = spec if isinstance(spec, tuple) else (spec, self._render)
            self._actions[label] = (action, shown)
            button = w.Button(description=label, button_style="primary" if not self.buttons else "")
            button.on_click(lambda _button, _label=label: self.run(_label))
            self.buttons[label] = button
        self.status = w.HTML()
        self.widget = w.VBox(
            [
                w.HTML(f"<h3>{html.escape(title)}</h3>"),
                *self.fields.values(),
                w.HBox(list(self.buttons.values())),
                self.status,
                self.live,
                self.output,
            ]
        )

    def values(self) -> dict[str, Any]:
        return {name: field.value for name, field in self.fields.items()}

    def submit(self, label: str) -> Any:
        """Click ``label`` from code and return the result; raise :class:`FormError` if it failed.

        What a notebook cell uses to run the form with its parameters, so that a headless run
        fails on the cell instead of leaving the error only inside the form.
        """
        self.buttons[label].click()
        if self.error is not None:
            raise FormError(self.error)
        return self.result

    def run(self, label: str | Action) -> Any:
        """Run an action (by button label); show its result, or its error, in the output area."""
        if callable(label):
            action, render = label, self._render
        else:
            action, render = self._actions[label]
        self.error = None
        self.output.clear_output()
        self.status.value = "<i>working…</i>"
        for button in self.buttons.values():
            button.disabled = True
        failure: Exception | None = None
        shown: list[Any] = []
        notes = _Notes()
        library_log = logging.getLogger("xaccount_ops")
        library_log.addHandler(notes)
        try:
            # Progress bars and logs the action displays go to the output area (in a kernel).
            # The Output widget would swallow an exception, so it is caught inside.
            with self.output:
                try:
                    self.result = action(self)
                    rendered = render(self.result)
                    shown = rendered if isinstance(rendered, list) else [rendered]
                except Exception as err:  # shown to the person below
                    failure = err
            library_log.removeHandler(notes)
            if notes.lines:
                self.output.append_display_data(notes.html())
            # The result and the error are appended explicitly so plain Python sees them too.
            if failure is not None:
                log.debug("form action failed", exc_info=failure)
                self.error = f"{type(failure).__name__}: {failure}"
                self.output.append_display_data(
                    HTML(
                        f'<pre class="{ERROR_CLASS}" style="{ERROR_STYLE}">'
                        f"{html.escape(self.error)}</pre>"
                    )
                )
            else:
                for item in shown:
                    if item is not None:
                        self.output.append_display_data(item)
        finally:
            library_log.removeHandler(notes)
            for button in self.buttons.values():
                button.disabled = False
            self.status.value = "<b>failed</b>" if self.error else "<b>done</b>"
        return self.result

    def _ipython_display_(self) -> None:
        display(self.widget)


class _Notes(logging.Handler):
    """The library's warnings during one action, shown as notes (not as a red stderr block)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def html(self) -> HTML:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines)
        return HTML(f'<ul class="xacct-notes" style="color:#666;margin:2px 0">{items}</ul>')


def _render(result: Any) -> Any:
    """What an action's result shows: a table, a line of text, or its summary; never a repr
    (a static report would print ``Deployment(result=...)`` in quotes)."""
    if result is None or isinstance(result, pd.DataFrame):
        return result
    if isinstance(result, str):
        return _text_html(result)
    frame = getattr(result, "frame", None)
    if isinstance(frame, pd.DataFrame):
        return frame
    summary = _summary_of(result)
    return summary if summary is not None else None


class Shown(HTML):
    """HTML whose ``text/plain`` is readable text, not ``<IPython.core.display.HTML object>``
    (what plain Python, a terminal front end and a headless run's text see)."""

    def __init__(self, data: str, text: str) -> None:
        super().__init__(data)
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _text_html(text: str) -> Shown:
    """A line of text as HTML (a plain ``str`` would display as its quoted repr)."""
    return Shown(f'<p class="xacct-text">{html.escape(text)}</p>', text)


def _view(block: str, frame: pd.DataFrame, title: str) -> Shown:
    """A :mod:`xaccount_ops.lab.views` block; as text, its title and row count."""
    return Shown(block, f"{title}: {len(frame)} row(s)")


def text_list(value: str) -> list[str]:
    """Split a comma/space/newline separated text field into items."""
    return [item for item in value.replace("\n", ",").replace(" ", ",").split(",") if item]


# -- helpers for the builders ------------------------------------------------------------------

LOGZIO_REGIONS = ("us", "eu", "uk", "au", "ca", "nl", "wa")
STREAM_MODES = ("ON_DEMAND", "PROVISIONED")
ALL = "(all)"
_STYLE = {"description_width": "150px"}
_WIDE = w.Layout(width="560px")


def _text(value: str, label: str, *, placeholder: str = "", area: bool = False) -> w.Widget:
    kind = w.Textarea if area else w.Text
    return kind(value=value, description=label, placeholder=placeholder, style=_STYLE, layout=_WIDE)


def _multi(options: Sequence[str], label: str, selected: Sequence[str] = ()) -> w.SelectMultiple:
    chosen = tuple(o for o in (selected or options) if o in options)
    return w.SelectMultiple(
        options=list(options),
        value=chosen,
        description=label,
        rows=min(6, max(2, len(options))),
        style=_STYLE,
        layout=_WIDE,
    )


def _chosen(value: str | Sequence[str]) -> list[str]:
    return text_list(value) if isinstance(value, str) else [str(v) for v in value]


def _heading(text: str) -> HTML:
    return HTML(f"<h4>{html.escape(text)}</h4>")


def _selected(values: Any) -> list[str]:
    return [str(v) for v in values]


def full_table(frame: pd.DataFrame) -> HTML:
    """A table that shows long values (ARNs, URLs) whole, for copying."""
    return HTML(frame.to_html(index=False, border=0))


def _frame_of(result: Any) -> pd.DataFrame | None:
    frame = getattr(result, "frame", None)
    if callable(frame):
        frame = frame()
    return frame if isinstance(frame, pd.DataFrame) else None


def _summary_of(result: Any) -> Any:
    summary = getattr(result, "summary", None)
    value = summary() if callable(summary) else summary
    if isinstance(value, dict):
        return pd.DataFrame([value])
    if isinstance(value, str):
        return _text_html(value)
    return value if isinstance(value, pd.DataFrame) else None


# -- 01: deploy the landing stacks ---------------------------------------------------------------


@dataclass
class Deployment:
    """What the Deploy button gives: the deploy result, every stack event, the outputs."""

    result: Any  # landing.DeployResult
    events: pd.DataFrame
    outputs: pd.DataFrame
    fleet: Any

    @property
    def ok(self) -> bool:
        return bool(self.result.ok)


def deploy_fleet(form: Form, fleet: Any) -> Any:
    """The fleet as the deploy form describes it (validated like the config)."""
    from xaccount_ops.lab.context import with_overrides

    v = form.values()
    return with_overrides(
        fleet,
        accounts=v["accounts"],
        regions=v["regions"],
        logzio_region=v["logzio_region"],
        token_env=v["token_env"],
        stack_parameters={
            "KinesisStreamMode": v["stream_mode"],
            "KinesisStreamBatchSize": int(v["batch_size"]),
        },
    )


def deploy_form(
    fleet: Any,
    *,
    accounts: str = "",
    regions: str = "",
    logzio_region: str = "",
    token_env: str = "",
    stream_mode: str = "ON_DEMAND",
    batch_size: int = 100,
    include_speedups: bool = True,
) -> Form:
    """The seed's "Deploy integration" tab: parameters, then Dry run (change sets) or Deploy.

    Blank fields keep the config's values. The token is referenced by environment variable
    name only; by default the config's reference is used.
    """
    from xaccount_ops import landing

    cfg = fleet.config
    fields = {
        "accounts": _text(accounts or ", ".join(fleet.accounts), "Sending accounts", area=True),
        "regions": _text(regions or ", ".join(fleet.regions), "Regions"),
        "logzio_region": w.Dropdown(
            options=list(LOGZIO_REGIONS),
            value=logzio_region or cfg.logzio.region or "us",
            description="Logz.io region",
            style=_STYLE,
        ),
        "token_env": _text(
            token_env,
            "Token env variable",
            placeholder=f"blank: as in the config ({cfg.logzio.shipping_token})",
        ),
        "stream_mode": w.Dropdown(
            options=list(STREAM_MODES), value=stream_mode, description="Stream mode", style=_STYLE
        ),
        "batch_size": w.BoundedIntText(
            value=batch_size, min=1, max=10000, description="Batch size", style=_STYLE
        ),
        "include_speedups": w.Checkbox(
            value=include_speedups,
            description="Speed-ups (orjson, msgspec, pybase64, isal wheels) in the shipper artifact",
            indent=False,
            layout=_WIDE,
        ),
    }

    def dry_run(form: Form) -> pd.DataFrame:
        target = deploy_fleet(form, fleet)
        form.state["fleet"] = target
        return landing.plan_deploy(
            include_speedups=form.fields["include_speedups"].value, fleet=target
        )

    def deploy(form: Form) -> Deployment:
        target = deploy_fleet(form, fleet)
        form.state["fleet"] = target
        names = landing.stack_names(target)
        bar = w.IntProgress(value=0, min=0, max=len(names), description="stacks")
        latest = w.HTML()
        form.live.children = [bar, latest]
        events: list[dict[str, str]] = []

        def on_event(row: dict[str, str]) -> None:
            events.append(row)
            if row["resource_type"] == "AWS::CloudFormation::Stack" and row["status"].endswith(
                ("_COMPLETE", "_FAILED")
            ):
                bar.value = min(bar.max, bar.value + 1)
            shown = pd.DataFrame(events[-8:])[["stack", "logical_id", "status", "reason"]]
            latest.value = shown.to_html(index=False, border=0)

        result = landing.deploy(
            include_speedups=form.fields["include_speedups"].value,
            on_event=on_event,
            fleet=target,
        )
        bar.value = bar.max
        outputs = (
            landing.outputs_frame(landing.stack_outputs(target))
            if result.ok
            else landing.outputs_frame({})
        )
        frame = pd.DataFrame(events, columns=list(landing.EVENT_COLUMNS)).astype(
            landing.EVENT_COLUMNS
        )
        return Deployment(result=result, events=frame, outputs=outputs, fleet=target)

    def show_plan(plan: pd.DataFrame) -> list[Any]:
        return [_heading(f"Change sets: {len(plan)} changes (nothing was changed)"), plan]

    def show_deployment(done: Deployment) -> list[Any]:
        verdict = "deployed" if done.ok else "FAILED: see the stack messages"
        return [
            _heading(f"Stacks: {verdict}"),
            done.result.frame(),
            _heading("Outputs"),
            full_table(done.outputs),
        ]

    return Form(
        "Deploy the landing stacks",
        fields,
        {"Dry run": (dry_run, show_plan), "Deploy": (deploy, show_deployment)},
    )


# -- 02: attach the senders ------------------------------------------------------------------


def selection_fleet(form: Form, fleet: Any) -> Any:
    from xaccount_ops.lab.context import with_overrides

    v = form.values()
    if not v["accounts"] or not v["regions"]:
        raise ValueError("select at least one account and one region")
    return with_overrides(
        fleet,
        accounts=_selected(v["accounts"]),
        regions=_selected(v["regions"]),
        include=v["include"],
        exclude=v["exclude"],
    )


def subscriptions_form(
    fleet: Any,
    *,
    accounts: str | Sequence[str] = "",
    regions: str | Sequence[str] = "",
    include: str = "",
    exclude: str = "",
    remove: bool = False,
) -> Form:
    """Choose accounts, regions and log group patterns; Plan shows every change, Apply makes it.

    Blank arguments select every account and region and the config's patterns.
    """
    subs = fleet.config.subscriptions
    fields = {
        "accounts": _multi(list(fleet.accounts), "Accounts", _chosen(accounts)),
        "regions": _multi(list(fleet.regions), "Regions", _chosen(regions)),
        "include": _text(include or ", ".join(subs.include), "Include groups"),
        "exclude": _text(exclude or ", ".join(subs.exclude), "Exclude groups", placeholder="none"),
        "remove": w.Checkbox(
            value=remove, description="Remove our filters instead", indent=False, layout=_WIDE
        ),
    }

    def plan(form: Form) -> Any:
        from xaccount_ops import subscriptions

        target = selection_fleet(form, fleet)
        made = subscriptions.plan(target, remove=form.fields["remove"].value)
        form.state.update(plan=made, fleet=target)
        return made

    def apply(form: Form) -> Any:
        from xaccount_ops import subscriptions

        made = form.state.get("plan")
        if made is None:
            raise ValueError("no plan yet: press Plan first, check it, then Apply")
        return subscriptions.apply(form.state["fleet"], made, progress=True)

    def show(result: Any) -> list[Any]:
        from xaccount_ops.lab import views

        frame = _frame_of(result)
        title = "Applied" if frame is not None and "status" in frame else "Plan"
        parts: list[Any] = [_summary_of(result)]
        if frame is not None:
            parts.append(_view(views.apply_html(frame, title=title), frame, title))
        errors = getattr(result, "errors", None)
        if isinstance(errors, pd.DataFrame) and not errors.empty:
            parts += [_heading("Targets that failed"), errors]
        return parts

    return Form(
        "Attach subscription filters",
        fields,
        {"Plan": (plan, show), "Apply": (apply, show)},
    )


# -- 03: add or remove sending accounts ----------------------------------------------------------


def accounts_form(fleet: Any, *, accounts: str = "", mode: str = "add") -> Form:
    """The seed's "Update" tab: merge account ids into every stack (Preview first, then Apply)."""
    from xaccount_ops import landing

    fields = {
        "accounts": _text(
            accounts,
            "Account ids",
            placeholder='111111111111, 222222222222 (or the seed\'s "1111...","2222...")',
            area=True,
        ),
        "mode": w.ToggleButtons(options=["add", "remove"], value=mode, description="Mode"),
    }

    def ids(form: Form) -> list[str]:
        given = text_list(form.fields["accounts"].value)
        if not given:
            raise ValueError("enter at least one 12-digit account id")
        return given

    def preview(form: Form) -> pd.DataFrame:
        remove = form.fields["mode"].value == "remove"
        return landing.accounts_frame(
            landing.preview_accounts(ids(form), remove=remove, fleet=fleet)
        )

    def apply(form: Form) -> pd.DataFrame:
        change = (
            landing.remove_accounts
            if form.fields["mode"].value == "remove"
            else landing.add_accounts
        )
        return landing.accounts_frame(change(ids(form), fleet=fleet))

    return Form(
        "Add or remove sending accounts",
        fields,
        {"Preview": preview, "Apply": apply},
    )


# -- 04: audit ---------------------------------------------------------------------------------


@dataclass
class AuditView:
    """The inventory and findings narrowed by the filter form."""

    inventory: pd.DataFrame
    findings: pd.DataFrame
    summary: pd.DataFrame


def filter_audit(
    inventory: pd.DataFrame,
    findings: pd.DataFrame,
    *,
    account: str = ALL,
    region: str = ALL,
    severity: str = ALL,
    shipping: str = ALL,
    contains: str = "",
) -> AuditView:
    """Rows of both frames for one account/region, at or above a severity, matching a name."""
    from xaccount_ops.fleet import audit as audit_mod
    from xaccount_ops.fleet import inventory as inventory_mod

    inv, found = inventory, findings
    if account != ALL:
        inv, found = inv[inv["account_id"] == account], found[found["account_id"] == account]
    if region != ALL:
        inv = inv[inv["region"].astype("string") == region]
        found = found[found["region"] == region]
    if severity != ALL:
        found = audit_mod.at_or_above(found, severity)
    if shipping != ALL:
        inv = inv[inv["ships"] == (shipping == "shipping")]
    if contains:
        inv = inv[inv["log_group"].str.contains(contains, regex=False)]
        found = found[found["resource"].fillna("").str.contains(contains, regex=False)]
    return AuditView(
        inventory=inv.reset_index(drop=True),
        findings=found.reset_index(drop=True),
        summary=inventory_mod.summary(inv),
    )


INVENTORY_CSV_COLUMNS = (
    "account_id",
    "account_name",
    "region",
    "log_group",
    "stored_bytes",
    "retention_days",
    "filter_count",
    "our_filter",
    "foreign_filters",
    "ships",
)


def export_csv(view: AuditView, directory: str | Path) -> pd.DataFrame:
    """Write the (filtered) inventory, findings and summary as CSV; returns what was written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "log-groups.csv": view.inventory[
            [c for c in INVENTORY_CSV_COLUMNS if c in view.inventory.columns]
        ],
        "findings.csv": view.findings,
        "log-groups-summary.csv": view.summary,
    }
    rows = []
    for name, frame in files.items():
        frame.to_csv(out / name, index=False)
        rows.append({"file": str(out / name), "rows": len(frame)})
    return pd.DataFrame(rows)


def audit_form(inventory: pd.DataFrame, findings: pd.DataFrame, *, export_dir: str = ".") -> Form:
    """Filter the inventory and the findings; export what is shown to CSV."""
    accounts = sorted(set(inventory["account_id"].dropna()) | set(findings["account_id"].dropna()))
    regions = sorted(set(inventory["region"].astype("string").dropna()))
    fields = {
        "account": w.Dropdown(
            options=[ALL, *accounts], value=ALL, description="Account", style=_STYLE
        ),
        "region": w.Dropdown(
            options=[ALL, *regions], value=ALL, description="Region", style=_STYLE
        ),
        "severity": w.Dropdown(
            options=[ALL, "error", "warning", "info"],
            value=ALL,
            description="Findings at least",
            style=_STYLE,
        ),
        "shipping": w.Dropdown(
            options=[ALL, "shipping", "not shipping"],
            value=ALL,
            description="Log groups",
            style=_STYLE,
        ),
        "contains": _text("", "Name contains", placeholder="e.g. /aws/lambda/"),
        "export_dir": _text(export_dir, "Export to folder"),
    }

    def view(form: Form) -> AuditView:
        v = form.values()
        return filter_audit(
            inventory,
            findings,
            account=v["account"],
            region=v["region"],
            severity=v["severity"],
            shipping=v["shipping"],
            contains=v["contains"].strip(),
        )

    def show(result: AuditView) -> list[Any]:
        from xaccount_ops.lab import views

        title = f"Findings ({len(result.findings)})"
        return [
            _view(views.findings_html(result.findings, title=title), result.findings, title),
            _heading(f"Log groups ({len(result.inventory)}), per account and region"),
            _view(views.table_html(result.summary), result.summary, "Log groups"),
        ]

    def export(form: Form) -> pd.DataFrame:
        return export_csv(view(form), form.fields["export_dir"].value.strip() or ".")

    return Form("Filter and export", fields, {"Filter": (view, show), "Export CSV": export})


# -- 05: verify ----------------------------------------------------------------------------------


def verify_form(
    fleet: Any,
    *,
    accounts: str | Sequence[str] = "",
    regions: str | Sequence[str] = "",
    timeout_s: float = 120,
    prepare: bool = True,
) -> Form:
    """Send a canary down each selected (account, region) path and wait for it in Logz.io.

    Blank ``accounts``/``regions`` select every path of the fleet.
    """
    from xaccount_ops import verify as verify_mod
    from xaccount_ops.fleet.accounts import Target

    fields = {
        "accounts": _multi(list(fleet.accounts), "Accounts", _chosen(accounts)),
        "regions": _multi(list(fleet.regions), "Regions", _chosen(regions)),
        "timeout_s": w.BoundedIntText(
            value=int(timeout_s), min=5, max=3600, description="Wait up to (s)", style=_STYLE
        ),
        "prepare": w.Checkbox(
            value=prepare,
            description="Create or repair the canary group and its filter",
            indent=False,
            layout=_WIDE,
        ),
    }

    def send(form: Form) -> Any:
        v = form.values()
        targets = [
            Target(a, r, fleet.account_names.get(a))
            for a in _selected(v["accounts"])
            for r in _selected(v["regions"])
        ]
        if not targets:
            raise ValueError("select at least one account and one region")
        return verify_mod.verify(
            fleet, timeout_s=v["timeout_s"], prepare=v["prepare"], targets=targets
        )

    def show(result: Any) -> list[Any]:
        from xaccount_ops.lab import views

        delivered = int((result.frame["status"] == "delivered").sum())
        columns = ["account_id", "region", "status", "latency_s", "fields_ok", "marker", "detail"]
        shown = result.frame[[c for c in columns if c in result.frame]]
        title = f"Delivered {delivered}/{len(result.frame)}"
        parts: list[Any] = [_view(views.canary_html(shown, title=title), shown, title)]
        if not result.diagnosis.empty:
            parts += [_heading("Where the missing paths break"), result.diagnosis]
        return parts

    return Form("Verify delivery", fields, {"Send canaries": (send, show)})
