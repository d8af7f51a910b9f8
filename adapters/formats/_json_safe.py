"""The one place JSON text becomes Python values: a depth limit and finite numbers only.

Every JSON reader (JSON Lines, Label Studio, COCO; the service's request bodies and its CLI)
decodes through :func:`loads` or :func:`raw_decode`, which refuse, as a :class:`FormatError`
naming the file and the place:

* nesting deeper than :data:`MAX_JSON_DEPTH` levels (Python's parser would raise
  ``RecursionError`` past about 1,000; code that walks the value later recurses too);
* ``NaN``, ``Infinity``, ``-Infinity`` and numbers too large for a float (``1e999``), which
  JSON does not allow and which would be stored as infinities (the error names the path of
  the number in the value, e.g. ``label[0].bbox[2]``).

The checks cost little: non-finite numbers stop the decoder itself (its float hook), and the
depth is examined only when the text holds more than :data:`MAX_JSON_DEPTH` brackets, with
byte-level operations.

Examples
--------
>>> loads('{"a": [1, 2.5]}', source="x.json")
{'a': [1, 2.5]}
>>> loads("[" * 100 + "]" * 100, source="x.json")
Traceback (most recent call last):
...
adapters.formats._errors.FormatError: x.json: JSON nested deeper than 64 levels
>>> try:
...     loads('{"w": 1e999}', source="x.json", where="line 3")
... except FormatError as exc:
...     print(exc.location, "|", exc.problem[:45])
line 3: w | Input should be a finite number, got Infinity
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

import numpy as np

from adapters.formats._errors import FormatError

__all__ = [
    "MAX_JSON_DEPTH",
    "JsonLimitError",
    "decoder",
    "decode",
    "loads",
    "raw_decode",
    "json_problem",
]

MAX_JSON_DEPTH: Final = 64
"""Deepest nesting of arrays and objects accepted in any JSON input."""

_BRACKETS: Final = frozenset(b'[]{}"\\')
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in _BRACKETS)
_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN: Final = (ord("["), ord("{"))


class JsonLimitError(ValueError):
    """JSON that is valid but too deep or holds a non-finite number (``path`` says where)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class _NonFinite(Exception):
    """Raised inside the decoder by a ``NaN``/``Infinity`` literal or an overflowing float."""


def _strict_float(text: str, _float: Any = float, _finite: Any = math.isfinite) -> float:
    value: float = _float(text)
    if not _finite(value):
        raise _NonFinite
    return value


def _no_constant(_name: str) -> float:
    raise _NonFinite


def decoder() -> json.JSONDecoder:
    """A decoder for :func:`raw_decode`: non-finite numbers stop it at once."""
    return json.JSONDecoder(parse_float=_strict_float, parse_constant=_no_constant)


_DECODER: Final = decoder()
_LENIENT: Final = json.JSONDecoder()  # only re-reads a refused value to name the number


def _too_deep(text: str, limit: int) -> bool:
    """Whether the (valid) JSON ``text`` nests arrays/objects deeper than ``limit``.

    Byte-level, no Python loop over the text: keep brackets, quotes and backslashes, drop the
    strings, then the running sum of +1 per opening and -1 per closing bracket is the depth.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    kept = text.encode("utf-8", "surrogatepass").translate(None, _NOT_STRUCTURE)
    if b'"' in kept:
        if b"\\" not in kept:
            # Without escapes quotes alternate open/close: dropping adjacent pairs removes
            # empty strings (or joins two strings with nothing structural between them).
            kept = kept.replace(b'""', b"")
        kept = _STRING.sub(b"", kept)
    codes = np.frombuffer(kept, dtype=np.uint8)
    steps = np.where(np.isin(codes, _OPEN), 1, -1).astype(np.int32)
    return bool(steps.size) and int(np.cumsum(steps).max()) > limit


def _non_finite(value: Any) -> tuple[str, float] | None:
    """``(path, value)`` of the first non-finite float in ``value``, or ``None``."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, float):
            if not math.isfinite(node):
                return path, node
        elif isinstance(node, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
    return None


def _non_finite_error(value: Any) -> JsonLimitError:
    found = _non_finite(value)
    path, number = found if found is not None else ("", math.nan)
    got = "NaN" if math.isnan(number) else ("-Infinity" if number < 0 else "Infinity")
    return JsonLimitError(
        path,
        f"Input should be a finite number, got {got} (NaN, Infinity and numbers out "
        "of a float's range such as 1e999 are refused)",
    )


def _parse(json_decoder: json.JSONDecoder, buf: str, pos: int) -> tuple[Any, int]:
    """``raw_decode`` that turns every limit into :class:`JsonLimitError`."""
    try:
        return json_decoder.raw_decode(buf, pos)
    except json.JSONDecodeError:
        raise
    except _NonFinite:
        value, _ = _LENIENT.raw_decode(buf, pos)  # the same text, to say where the number is
        raise _non_finite_error(value) from None
    except RecursionError as exc:
        raise JsonLimitError("", f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:  # e.g. an integer over Python's 4,300-digit limit
        raise JsonLimitError("", f"number out of range ({exc})") from exc


def _check_depth(text: str) -> None:
    if _too_deep(text, MAX_JSON_DEPTH):
        raise JsonLimitError("", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


def decode(text: str) -> Any:
    """Decode a whole JSON document within the limits.

    Raises
    ------
    json.JSONDecodeError
        Invalid JSON (the caller words the error).
    JsonLimitError
        Too deep, or a non-finite number; ``path`` says where in the value.
    """
    start = len(text) - len(text.lstrip(" \t\n\r"))
    value, end = _parse(_DECODER, text, start)
    _check_depth(text[start:end])
    if text[end:].strip(" \t\n\r"):
        raise json.JSONDecodeError(
            "Extra data", text, end + len(text[end:]) - len(text[end:].lstrip())
        )
    return value


def loads(text: str | bytes, *, source: str, where: str = "") -> Any:
    """Decode JSON ``text`` (bytes as UTF-8) within the limits.

    Parameters
    ----------
    text
        The JSON document.
    source, where
        The file and the place in it, used in errors.

    Raises
    ------
    FormatError
        Not UTF-8, invalid JSON, too deep, or a non-finite number.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FormatError(source, where or f"byte {exc.start}", "not UTF-8 text") from exc
    try:
        value = decode(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            source, where or f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}"
        ) from exc
    except JsonLimitError as exc:
        raise FormatError(source, _join(where, exc.path), exc.problem) from exc
    return value


def raw_decode(
    json_decoder: json.JSONDecoder, buf: str, pos: int, *, source: str, where: str
) -> tuple[Any, int]:
    """``json_decoder.raw_decode(buf, pos)`` within the limits (for streaming readers).

    ``json.JSONDecodeError`` passes through (the reader may need more input); the limits raise
    :class:`FormatError`. Use a decoder from :func:`decoder`.
    """
    try:
        value, end = _parse(json_decoder, buf, pos)
        _check_depth(buf[pos:end])
    except JsonLimitError as exc:
        raise FormatError(source, _join(where, exc.path), exc.problem) from exc
    return value, end


def json_problem(text: str) -> JsonLimitError | None:
    """Why ``text`` breaks the depth or finite-number rule, or ``None`` (for request bodies).

    Invalid JSON is not reported here (the caller's own parser does that with its usual
    message).
    """
    try:
        decode(text)
    except json.JSONDecodeError:
        return None
    except JsonLimitError as exc:
        return exc
    return None


def _join(where: str, path: str) -> str:
    if not (where and path):
        return where or path
    if where.endswith("]") and where.startswith("["):  # an array element: [3].score
        return f"{where}{path}" if path.startswith("[") else f"{where}.{path}"
    return f"{where}: {path}"
