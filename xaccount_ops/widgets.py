"""Notebook forms (ipywidgets). Forms only: every action calls the library and shows its result.

A form keeps its last ``result`` and ``error`` so it can be tested in plain Python:
set ``form.fields[...]``'s ``.value``, call ``form.buttons[...].click()``, assert on ``form.result``
or ``form.error``. ipywidgets swallows exceptions raised in click handlers, so a form catches them
itself and shows the message in its output area with the CSS class ``xacct-error``; the notebook
tests fail on that class as on any error output.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w
import pandas as pd
from IPython.display import HTML, display

log = logging.getLogger(__name__)

ERROR_CLASS = "xacct-error"

Action = Callable[["Form"], Any]


class Form:
    """Input fields, one button per action, and an output area."""

    def __init__(
        self,
        title: str,
        fields: Mapping[str, w.Widget],
        actions: Mapping[str, Action],
        *,
        render: Callable[[Any], Any] | None = None,
    ) -> None:
        self.fields = dict(fields)
        self.output = w.Output()
        self.result: Any = None
        self.error: str | None = None
        self._render = render or _render
        self.buttons: dict[str, w.Button] = {}
        for label, action in actions.items():
            button = w.Button(description=label, button_style="primary" if not self.buttons else "")
            button.on_click(lambda _button, _action=action: self.run(_action))
            self.buttons[label] = button
        self.status = w.HTML()
        self.widget = w.VBox(
            [
                w.HTML(f"<h3>{html.escape(title)}</h3>"),
                *self.fields.values(),
                w.HBox(list(self.buttons.values())),
                self.status,
                self.output,
            ]
        )

    def values(self) -> dict[str, Any]:
        return {name: field.value for name, field in self.fields.items()}

    def run(self, action: Action) -> Any:
        """Run ``action``; show its result, or its error, in the output area."""
        self.error = None
        self.output.clear_output()
        self.status.value = "<i>working…</i>"
        for button in self.buttons.values():
            button.disabled = True
        failure: Exception | None = None
        try:
            # Progress bars and logs the action displays go to the output area (in a kernel).
            # The Output widget would swallow an exception, so it is caught inside.
            with self.output:
                try:
                    self.result = action(self)
                except Exception as err:  # shown to the person below
                    failure = err
            # The result and the error are appended explicitly so plain Python sees them too.
            if failure is not None:
                log.debug("form action failed", exc_info=failure)
                self.error = f"{type(failure).__name__}: {failure}"
                self.output.append_display_data(
                    HTML(f'<pre class="{ERROR_CLASS}">{html.escape(self.error)}</pre>')
                )
            elif (shown := self._render(self.result)) is not None:
                self.output.append_display_data(shown)
        finally:
            for button in self.buttons.values():
                button.disabled = False
            self.status.value = "<b>failed</b>" if self.error else "<b>done</b>"
        return self.result

    def _ipython_display_(self) -> None:
        display(self.widget)


def _render(result: Any) -> Any:
    if result is None or isinstance(result, pd.DataFrame | str):
        return result
    frame = getattr(result, "frame", None)
    return frame if isinstance(frame, pd.DataFrame) else result


def text_list(value: str) -> list[str]:
    """Split a comma/space/newline separated text field into items."""
    return [item for item in value.replace("\n", ",").replace(" ", ",").split(",") if item]
