"""Redaction of log messages (``LOGZIO_REDACT``), per event, before the line is built.

A rule replaces its matches in the message text. A message that is a JSON object (strict JSON,
starts with ``{``) is redacted value by value: every string value at any depth, or only the
values at the rule's ``fields`` paths, then re-serialised; keys and the line's metadata (``id``,
``@timestamp``, ``owner``, ``region``, ``logGroup``, ``logStream``, ``type``: added later, by
the encoder) are never touched. So a match never straddles JSON syntax, an escaped character
(``\\u0040`` for ``@``) is matched as the character it is, and a replacement holding a quote
cannot break the JSON. A rule with ``fields`` applies to JSON-object messages only.

Each rule is searched only where its prefilter literals occur (``rules``): in a JSON text, a
literal may also hide behind an escape, so a text holding ``\\u`` (or a backslash, for literals
with characters JSON escapes short) is searched value by value. Counts are replacements per rule
(the metrics line's ``redacted_<name>``). An oversize event is redacted whole, before it is
split into parts, so no match hides across a cut.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shipper_lambda import codec
from shipper_lambda.rules import RegexRule

_SHORT_ESCAPED = frozenset('/"\\\b\f\n\r\t')


class Redactor:
    """Applies rules to messages and counts replacements per rule name."""

    def __init__(self, rules: Sequence[RegexRule]) -> None:
        self.rules = tuple(rules)
        self.counts: dict[str, int] = {rule.name: 0 for rule in self.rules}
        self._by_group: dict[str, tuple[RegexRule, ...]] = {}
        # Per rule: may a prefilter literal hide behind a short JSON escape (\/ \" \\ \n ...)?
        # May a rule redact a JSON text in place (:meth:`_json_text`)? Built-ins whose matches
        # cannot reach past a quote, with a replacement JSON writes without an escape.
        self._text_safe = {
            rule.name: rule.text_safe
            and rule.fields is None
            and "\x00" not in rule.replacement
            and json.dumps(rule.replacement, ensure_ascii=False)[1:-1] == rule.replacement
            for rule in self.rules
        }
        self._short = {
            rule.name: bool(rule.literals)
            and any(c in _SHORT_ESCAPED for lit in rule.literals or () for c in lit)
            for rule in self.rules
        }

    def for_group(self, log_group: str) -> tuple[RegexRule, ...]:
        """The rules whose ``log_groups`` take this group (cached per group)."""
        rules = self._by_group.get(log_group)
        if rules is None:
            rules = self._by_group[log_group] = tuple(
                r for r in self.rules if r.applies_to(log_group)
            )
        return rules

    def events(self, events: list[Any], rules: Sequence[RegexRule]) -> list[Any]:
        """A record's events redacted (the same list when nothing can match).

        The prefilters first run once over the record's messages joined: most records hold
        no candidate for any rule, and then no event is looked at one by one."""
        try:
            joined = "\n".join([event["message"] for event in events])
        except (TypeError, KeyError):  # a malformed event or a non-text message: one by one
            joined = None
        if joined is not None:
            rules = [r for r in rules if self._json_may_match(r, joined)]
            if not rules:
                return events
            if all(self._text_safe[r.name] for r in rules):
                done = self._record_text(events, rules)
                if done is not None:
                    return done
        out = []
        for event in events:
            message = event.get("message") if isinstance(event, dict) else None
            if type(message) is str:
                redacted = self.message(message, rules)
                if redacted is not message:
                    event = dict(event)
                    event["message"] = redacted
            out.append(event)
        return out

    def _record_text(self, events: list[Any], rules: list[RegexRule]) -> list[Any] | None:
        """Built-in rules on a record's text messages at once: joined by NUL (which no built-in
        pattern matches, so no match crosses from one message into the next, and a message's
        edge looks like a string's edge to every lookaround), each rule's spans found and
        replaced in one pass, then split back. JSON-object messages go one by one (their keys
        are not redacted). None when a message holds a NUL itself (one by one, then)."""
        texts = [i for i, e in enumerate(events) if e["message"][:1] != "{"]
        messages = [events[i]["message"] for i in texts]
        text = "\x00".join(messages)
        if text.count("\x00") != len(messages) - 1:
            return None
        for rule in rules:
            if rule.fields is None and rule.may_match(text):
                text = self._apply(rule, text)
        out = list(events)
        for index, new in zip(texts, text.split("\x00"), strict=True):
            if new != out[index]["message"]:
                out[index] = {**out[index], "message": new}
        if len(texts) < len(events):
            for index, event in enumerate(events):
                message = event["message"]
                if message[:1] == "{":
                    redacted = self.message(message, rules)
                    if redacted is not message:
                        out[index] = {**event, "message": redacted}
        return out

    def message(self, text: str, rules: Sequence[RegexRule]) -> str:
        """``text`` with every rule applied (the same object when nothing matched)."""
        if text[:1] == "{":
            candidates = [r for r in rules if self._json_may_match(r, text)]
            if not candidates:
                return text
            if "\\" not in text and all(self._text_safe[r.name] for r in candidates):
                redacted = self._json_text(text, candidates)
                if redacted is not None:
                    return redacted
            redacted = self._json(text, candidates)
            if redacted is not None:
                return redacted
            rules = candidates  # not a JSON object after all: redact it as text
        for rule in rules:
            if rule.fields is None and rule.may_match(text):
                text = self._apply(rule, text)
        return text

    def _json_text(self, text: str, rules: list[RegexRule]) -> str | None:
        """A JSON object without a backslash, redacted in its text: with no escape anywhere,
        every quote delimits a string, so a match inside a string value (not a key) is the same
        match in the decoded value, and replacing it in place keeps the JSON valid. Saves a
        parse, a walk over every value and a re-serialisation (CloudTrail events: ~3 KB of
        nested JSON each). None when the text is not a strict JSON object."""
        try:  # msgspec validates without building values; the stdlib parses
            if type(codec.raw_strict_loads(text)) is not dict:
                return None
        except (ValueError, TypeError, RecursionError):
            return None
        for rule in rules:
            spans = [span for span in rule.spans(text) if _in_string_value(text, *span)]
            if spans:
                text = _splice(text, spans, rule.replacement)
                self.counts[rule.name] += len(spans)
        return text

    def _json_may_match(self, rule: RegexRule, text: str) -> bool:
        if rule.may_match(text):
            return True  # (also when the rule has no prefilter)
        return "\\" in text and ("\\u" in text or self._short[rule.name])

    def _json(self, text: str, rules: list[RegexRule]) -> str | None:
        """The JSON-object message redacted value by value and re-serialised (the text itself
        when nothing matched); None when it is not a JSON object (redact it as text)."""
        try:
            doc = codec.exact_loads(text)
        except (ValueError, TypeError, RecursionError):
            return None
        if type(doc) is not dict:
            return None
        changed = False
        for rule in rules:
            if rule.fields is None:
                changed |= self._walk(rule, doc)
            else:
                for path in rule.fields:
                    changed |= self._at_path(rule, doc, path)
        if not changed:
            return text
        try:
            return codec.dumps_finite(doc, text).decode()
        except (ValueError, TypeError):
            return None  # a number beyond a double: redact the text instead

    def _walk(self, rule: RegexRule, node: Any) -> bool:
        changed = False
        is_dict = type(node) is dict
        items = node.items() if is_dict else enumerate(node)
        for key, value in items:
            kind = type(value)
            if kind is str:
                if rule.may_match(value):
                    new = self._apply(rule, value)
                elif rule.key_value and is_dict and rule.may_match(key):
                    new = self._apply_pair(rule, key, value)
                else:
                    continue
                if new is not value:
                    node[key] = new
                    changed = True
            elif kind is dict or kind is list:
                changed |= self._walk(rule, value)
        return changed

    def _apply_pair(self, rule: RegexRule, key: str, value: str) -> str:
        """A rule that reads a value after its key (``"SecretAccessKey": "..."``), on a decoded
        object: matched on ``key=value``, replaced in the value only."""
        head = len(key) + 1
        pair = f"{key}={value}"
        spans = [(s - head, e - head) for s, e in rule.spans(pair) if s >= head]
        if not spans:
            return value
        self.counts[rule.name] += len(spans)
        return _splice(value, spans, rule.replacement)

    def _at_path(self, rule: RegexRule, doc: dict[str, Any], path: tuple[str, ...]) -> bool:
        node: Any = doc
        for key in path[:-1]:
            node = node.get(key) if type(node) is dict else None
        if type(node) is not dict or path[-1] not in node:
            return False
        value = node[path[-1]]
        if type(value) is str:
            if not rule.may_match(value):
                return False
            new = self._apply(rule, value)
            node[path[-1]] = new
            return new is not value
        if type(value) in (dict, list):
            return self._walk(rule, value)  # a field holding an object: all its strings
        return False

    def _apply(self, rule: RegexRule, text: str) -> str:
        """One rule on one string; the same object when nothing was replaced."""
        if rule.finder is None and rule.check is None and not rule.group:
            # A literal replacement: re.sub reads backslashes in it as escapes, so double them.
            new, replaced = rule.regex.subn(rule.replacement.replace("\\", "\\\\"), text)
        else:
            spans = rule.spans(text)
            replaced = len(spans)
            if replaced:
                new = _splice(text, spans, rule.replacement)
        if not replaced:
            return text
        self.counts[rule.name] += replaced
        return new


def _splice(text: str, spans: list[tuple[int, int]], replacement: str) -> str:
    pieces: list[str] = []
    add = pieces.append
    at = 0
    for start, end in spans:
        add(text[at:start])
        add(replacement)
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


def _in_string_value(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` lies inside one string value of a JSON text that holds no
    backslash (so every quote is a string's first or last character)."""
    if '"' in text[start:end] or not text.count('"', 0, start) % 2:
        return False
    close = text.find('"', end)
    after = text[close + 1 : close + 64].lstrip()
    return not after.startswith(":")  # a key's closing quote is followed by a colon
