"""Base64, JSON and gzip backends: pybase64, orjson, msgspec and isal when importable, the
standard library otherwise.

The shipper must work stdlib-only (the artifact may be built without wheels), so every function
here has a stdlib path that produces the same bytes on the wire modulo JSON key spacing. Setting
``SHIPPER_STDLIB_ONLY=1`` before import (or calling :func:`select`) forces the stdlib path; the
benchmark and the tests use it to measure and check both.

The fast paths fall back to the stdlib per call where orjson is stricter than JSON allows in
practice (lone surrogates, integers beyond 64 bits), so a record is never lost to a backend quirk.
Output is always valid UTF-8: a lone surrogate (``"\\ud800"`` in a payload decodes to one) cannot
be encoded, so the dumps functions replace each with U+FFFD and count it in :data:`surrogates`.
:func:`exact_loads` parses without orjson's one lossy habit (integers beyond 64 bits become
floats there), for callers that re-serialise what they parse.

msgspec does one job: checking that a JSON-object message is valid JSON and reading its keys
(:data:`raw_strict_loads`) without building its nested values, which halves the cost of the
shipper's most expensive per-event step (profile in the shipper README). orjson does the rest.

When speed-ups are bundled (importable as modules) but fail to import, as a wheel built for
another Python or architecture does, one WARNING is logged at import: once per cold start.
"""

from __future__ import annotations

import binascii
import gzip
import importlib.util
import json
import logging
import os
import re
import zlib
from typing import Any

log = logging.getLogger(__name__)

STDLIB_ONLY_ENV = "SHIPPER_STDLIB_ONLY"
GZIP_LEVEL = 1  # fast: the listener is not the bottleneck, the function's CPU time is

_c_encode_str = json.encoder.c_encode_basestring or json.encoder.py_encode_basestring
_std_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

_broken: list[str] = []


def _speedup(package: str, *submodules: str) -> Any:
    """The bundled ``package`` (its ``submodules`` imported), or None. Absent is fine (the
    artifact may be stdlib-only); present but failing to import is noted for the WARNING."""
    try:
        return __import__(package, fromlist=submodules)
    except ImportError as err:
        if importlib.util.find_spec(package) is not None:
            _broken.append(f"{package} ({err})")
        return None


_orjson = _speedup("orjson")
_msgspec = _speedup("msgspec", "json")
_pybase64 = _speedup("pybase64")
_isal = _speedup("isal", "igzip", "isal_zlib")
_igzip = _isal.igzip if _isal else None
_isal_zlib = _isal.isal_zlib if _isal else None
if _broken:
    # Bundled but unusable: a wheel for another runtime/architecture. Still correct, slower.
    log.warning(
        "speed-ups bundled but not importable, using the stdlib instead: %s; rebuild the artifact "
        "for this function's runtime and architecture (xaccount-ops package --runtime/--arch)",
        "; ".join(_broken),
    )

BACKEND = "stdlib"
SURROGATE = re.compile("[\ud800-\udfff]")
# An integer orjson would turn into a float: 19+ digits (2**63 has 19). Floats with long
# mantissas match too; they only cost the stdlib parse.
_LONG_NUMBER = re.compile(r"\d{19}")
surrogates = 0  # lone surrogates replaced by U+FFFD since import (callers take differences)


def scrub(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    global surrogates
    if isinstance(value, str):
        fixed, count = SURROGATE.subn("\ufffd", value)
        surrogates += count
        return fixed
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Duplicates:
    """``object_pairs_hook`` that builds the dict (last value wins, at the first one's place,
    as ``json.loads`` does) and notes whether any object, at any depth, had a key twice:
    :attr:`dup` is set by the hook and cleared only by :meth:`parse`."""

    __slots__ = ("dup",)

    def __init__(self) -> None:
        self.dup = False

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        doc = dict(pairs)
        if len(doc) != len(pairs):
            self.dup = True
        return doc

    def parse(self, text: str) -> tuple[Any, bool]:
        """(the strict parse of ``text``, whether a key repeats in any of its objects)."""
        self.dup = False
        return _std_strict_loads(text), self.dup


_duplicates = _Duplicates()
# RFC 8259 JSON only (no NaN/Infinity): a message that parses with it is valid JSON text as is.
_std_strict_loads = json.JSONDecoder(
    parse_constant=_reject_constant, object_pairs_hook=_duplicates
).decode
# A number that may not fit a double (1e400, 1.8e308, 309+ digits): orjson would write it null.
# Only a number token: not preceded by a word character or a dot (hex ids like "a3e412" are not).
HUGE_NUMBER = re.compile(r"(?<![\w.])-?[0-9]+(?:\.[0-9]+)?[eE]\+?[0-9]{3}|(?<![\w.])-?[0-9]{309}")


def _std_loads(data: bytes | str) -> Any:
    return json.loads(data)


def _std_dumps_str(value: str) -> bytes:
    try:
        return _c_encode_str(value).encode()
    except UnicodeEncodeError:
        # Lone surrogates cannot be UTF-8 (and \udXXX escapes are refused by strict parsers).
        return _c_encode_str(scrub(value)).encode()


def _std_dumps_obj(value: Any) -> bytes:
    try:
        return _std_dumps(value).encode()
    except UnicodeEncodeError:
        return _std_dumps(scrub(value)).encode()


def _std_gzip(data: bytes | bytearray | memoryview) -> bytes:
    return zlib.compress(data, GZIP_LEVEL, 31)


def _one_member(decompressobj: Any, data: bytes) -> bytes | None:
    """A single-member gzip (what CloudWatch sends) in one C call; None for anything else
    (concatenated members, trailing bytes), which the callers hand to the full reader."""
    inflater = decompressobj(31)
    out = inflater.decompress(data)
    if not inflater.eof:
        raise EOFError("compressed data ended before the end-of-stream marker")
    return None if inflater.unused_data else out


def _std_gunzip(data: bytes) -> bytes:
    out = _one_member(zlib.decompressobj, data)
    return gzip.decompress(data) if out is None else out


def _fast_loads(data: bytes | str) -> Any:
    try:
        return _orjson.loads(data)
    except _orjson.JSONDecodeError:
        # Valid for Python's json (lone surrogates, huge numbers) or truly invalid: let json decide.
        return json.loads(data)


def _fast_strict_loads(text: str) -> Any:
    try:
        return _orjson.loads(text)
    except _orjson.JSONDecodeError:
        return _std_strict_loads(text)


def _fast_dumps_str(value: str) -> bytes:
    try:
        return _orjson.dumps(value)
    except TypeError:  # surrogates
        return _std_dumps_str(value)


def _fast_dumps_obj(value: Any) -> bytes:
    try:
        return _orjson.dumps(value)
    except TypeError:  # surrogates, integers beyond 64 bits: the stdlib writes them exactly
        return _std_dumps_obj(value)


def _fast_exact_loads(text: str) -> Any:
    if _LONG_NUMBER.search(text):
        return _std_strict_loads(text)
    return _fast_strict_loads(text)


# dict[str, Raw]: the object's keys; each value is validated (RFC 8259, lone surrogates refused,
# as orjson does) but left as its text. Raises a ValueError subclass, or RecursionError.
_msgspec_object = _msgspec.json.Decoder(dict[str, _msgspec.Raw]).decode if _msgspec else None
# Writes a dict of Raw values as ``{"key":<raw>,...}``: keys once each, values byte for byte.
_msgspec_encode = _msgspec.json.Encoder().encode if _msgspec else None


def _std_object(text: str) -> tuple[dict[str, Any], bytes | None]:
    doc, dup = _duplicates.parse(text)
    if type(doc) is not dict:
        raise TypeError("not a JSON object")
    return doc, DUPLICATE_KEYS if dup else None


def _msgspec_object_bytes(text: str) -> tuple[dict[str, Any], bytes | None]:
    doc = _msgspec_object(text)
    return doc, _msgspec_encode(doc)


def _orjson_object(text: str) -> tuple[dict[str, Any], bytes | None]:
    doc = _orjson.loads(text)
    if type(doc) is not dict:
        raise TypeError("not a JSON object")
    # orjson alone cannot tell a repeated key (at any depth): the stdlib's parse says, when
    # there can be one (two top-level keys, or a nested object).
    if (len(doc) > 1 or text.find("{", 1) > 0) and _duplicates.parse(text)[1]:
        return doc, DUPLICATE_KEYS
    return doc, None


def dumps_finite(value: Any, source: str) -> bytes:
    """``dumps_obj(value)``, refusing (ValueError) a float beyond a double instead of writing
    null as orjson does; ``source`` is the text ``value`` was parsed from (checked first)."""
    if HUGE_NUMBER.search(source):
        return _std_dumps_obj(value)  # allow_nan=False: raises for inf
    return dumps_obj(value)


def _fast_b64decode(data: str | bytes) -> bytes:
    try:
        return _pybase64.b64decode(data, validate=True)  # SIMD: a tenth of binascii's time
    except (binascii.Error, ValueError):
        return binascii.a2b_base64(data)  # lenient like the stdlib path, or its error


def _fast_gzip(data: bytes | bytearray | memoryview) -> bytes:
    return _igzip.compress(data, compresslevel=GZIP_LEVEL)


def _fast_gunzip(data: bytes) -> bytes:
    out = _one_member(_isal_zlib.decompressobj, data)
    return _igzip.decompress(data) if out is None else out


loads = _std_loads
strict_loads = _std_strict_loads
exact_loads = _std_strict_loads
dumps_str = _std_dumps_str
# The backends' own functions, without the fallback wrapper (one Python call less per event):
# they may raise TypeError/ValueError where the wrapped ones fall back. Hot loops only.
raw_dumps_str = _std_dumps_str
# A JSON text's top-level value, strictly; for an object only its keys are sure to be usable.
raw_strict_loads = _std_strict_loads
RAW_LOADS_REFUSES_SURROGATES = False  # True with orjson/msgspec: what they parse has none
# (doc, body) of a JSON-object text: its top-level keys (values may be msgspec.Raw) and the
# object's bytes to reuse (compact, duplicate keys collapsed, values as written), or None to
# reuse the text itself, or DUPLICATE_KEYS: a key repeats at the top level, re-serialise.
# Raises ValueError/TypeError/RecursionError for anything but a strict JSON object.
DUPLICATE_KEYS = b""
raw_object = _std_object
raw_object_decode = None  # msgspec's dict[str, Raw] decode alone (raw_object's first half)
RAW_OBJECT_VALUES_RAW = False  # True with msgspec: raw_object's values are msgspec.Raw
raw_object_bytes = _std_dumps_obj  # writes a raw_object doc (msgspec: Raw values as they are)
dumps_obj = _std_dumps_obj
gzip_compress = _std_gzip
gunzip = _std_gunzip
b64decode = binascii.a2b_base64  # lenient: characters outside the alphabet are skipped


def select(stdlib_only: bool = False, *, msgspec: bool = True) -> str:
    """Bind the module functions to the fastest available backends (or the stdlib ones).

    Returns the backend name, e.g. ``"pybase64+orjson+msgspec+isal"`` or ``"stdlib"``.
    ``msgspec=False`` leaves msgspec out (what a bundle without it runs; tests). Callers
    look the functions up on this module at use time, so a switch takes effect on the next record.
    """
    global loads, strict_loads, exact_loads, dumps_str, dumps_obj, gzip_compress, gunzip, BACKEND
    global raw_dumps_str, raw_strict_loads, RAW_LOADS_REFUSES_SURROGATES, b64decode
    global raw_object, RAW_OBJECT_VALUES_RAW, raw_object_bytes, raw_object_decode
    use_orjson = _orjson is not None and not stdlib_only
    use_msgspec = _msgspec is not None and not stdlib_only and msgspec
    use_isal = _igzip is not None and not stdlib_only
    use_pybase64 = _pybase64 is not None and not stdlib_only
    b64decode = _fast_b64decode if use_pybase64 else binascii.a2b_base64
    loads = _fast_loads if use_orjson else _std_loads
    strict_loads = _fast_strict_loads if use_orjson else _std_strict_loads
    exact_loads = _fast_exact_loads if use_orjson else _std_strict_loads
    dumps_str = _fast_dumps_str if use_orjson else _std_dumps_str
    raw_dumps_str = _orjson.dumps if use_orjson else _std_dumps_str
    if use_msgspec:
        raw_strict_loads = _msgspec_object
        raw_object = _msgspec_object_bytes
    else:
        raw_strict_loads = _orjson.loads if use_orjson else _std_strict_loads
        raw_object = _orjson_object if use_orjson else _std_object
    RAW_OBJECT_VALUES_RAW = use_msgspec
    raw_object_decode = _msgspec_object if use_msgspec else None
    RAW_LOADS_REFUSES_SURROGATES = use_orjson or use_msgspec
    dumps_obj = _fast_dumps_obj if use_orjson else _std_dumps_obj
    raw_object_bytes = _msgspec_encode if use_msgspec else dumps_obj
    gzip_compress = _fast_gzip if use_isal else _std_gzip
    gunzip = _fast_gunzip if use_isal else _std_gunzip
    used = (
        ("pybase64", use_pybase64),
        ("orjson", use_orjson),
        ("msgspec", use_msgspec),
        ("isal", use_isal),
    )
    names = [name for name, on in used if on]
    BACKEND = "+".join(names) or "stdlib"
    return BACKEND


select(stdlib_only=os.environ.get(STDLIB_ONLY_ENV, "").lower() in ("1", "true", "yes"))
