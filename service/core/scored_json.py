"""The scoring engine's output as JSON and back, bit for bit (stored scores).

:mod:`service.domain.score_store` keeps each bake-off's scores (every candidate's
:class:`metrics.scoring.Scored`) in the database so that the first read after an import
is a read. The stored form is JSON, never pickle: the database must not be a way to run
code. Decoding builds only

* JSON scalars, lists, tuples and mappings (keys of any of these types);
* NumPy arrays and scalars of plain numeric or boolean dtypes (the raw little-endian bytes,
  base64: exact to the last bit, NaN and infinities included), object arrays;
* pandas ``Index``/``MultiIndex``, ``Series`` and ``DataFrame`` (any dtype pandas names by
  a string, e.g. ``"category"``; values as above);
* timestamps and time deltas;
* frozen dataclasses defined in :mod:`metrics` or :mod:`reports` (the result types), built
  field by field without running their ``__init__``.

Anything else raises :class:`TypeError` when encoding, so a new result type is refused
loudly rather than stored approximately. Indexes shared by many series (every per-item
table of a bake-off is indexed by the same 50,000 item keys) are stored once, and so are
every numeric array of 4 KiB or more (a bake-off's per-item columns: nearly all of its
bytes) is stored once however often it repeats (the same column in a candidate's items and
in its metric results: about a fifth of them), and as raw bytes beside the JSON rather
than as base64 inside it.

The stored form (:func:`dumps`) is ``MAGIC``, the length of the compressed JSON document
(8 bytes, little-endian), the JSON document compressed (zlib), then the large arrays'
bytes one after another, each compressed when a sample of it shrinks by at least a quarter
(0/1 scores, costs and counts shrink 25-100 times; per-item latencies, random-looking
floats, shrink by a sixth at 20 ms per 100,000 items: they are kept raw, and a bake-off's
row stays near its old size, 4.9 MB for 100,000 items x 5 vendors). The document names
them ``{"$ar": position}`` (its ``arrays`` table gives each one's dtype, shape, length and
compression); each use is decoded into an array of its own. Rows written before this form
(the whole document as compressed JSON, arrays in base64) still read.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import math
import struct
import zlib
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["dumps", "loads"]

# Dataclasses may be rebuilt only from these packages (the engine's and reports' result
# types); a stored name outside them is refused, so a row cannot name an arbitrary class.
_ALLOWED_MODULES = ("metrics.", "reports.")
_NUMERIC_KINDS = "biufc"
# Numeric arrays of at least this many bytes are stored once however often they repeat.
_SHARED_ARRAY_BYTES = 4096
MAGIC = b"bakeoff-scores/2\n"
# An array is compressed when a sample of it compresses to under this share of its size.
_WORTH_COMPRESSING = 0.75
_SAMPLE_BYTES = 65536


def _allowed(cls: type, types: Collection[type]) -> bool:
    return cls.__module__.startswith(_ALLOWED_MODULES) or cls in types


def _numeric(dtype: str, shape: tuple[int, ...], data: bytes) -> Any:
    return {"$a": dtype, "shape": list(shape), "b64": base64.b64encode(data).decode("ascii")}


def _pack(data: bytes) -> bytes:
    """``data`` compressed, or as it is when a sample of it shrinks by under a quarter
    (compressed data is never as long as ``data``: a compressed stream of the same length
    would be mistaken for raw bytes, so it is then stored raw)."""
    sample = data[:_SAMPLE_BYTES]
    if len(zlib.compress(sample, 1)) > _WORTH_COMPRESSING * len(sample):
        return data
    packed = zlib.compress(data, 1)
    return packed if len(packed) < len(data) else data


class _Encoder:
    def __init__(self, types: Collection[type]) -> None:
        self.types = types
        self.indexes: list[Any] = []
        self._index_ids: dict[int, int] = {}
        self._by_length: dict[int, list[int]] = {}
        self._keep: list[pd.Index] = []  # keep encoded indexes alive: ids stay unique
        self.arrays: list[Any] = []
        self.blobs: list[bytes] = []
        self._array_ids: dict[tuple[str, tuple[int, ...], bytes], int] = {}

    def index(self, index: pd.Index) -> int:
        """The position of ``index`` in the shared table (equal indexes stored once)."""
        known = self._index_ids.get(id(index))
        if known is not None:
            return known
        for position in self._by_length.get(len(index), []):
            other = self._keep[position]
            if (
                type(other) is type(index)
                and other.dtype == index.dtype
                and other.names == index.names
                and other.equals(index)
            ):
                self._index_ids[id(index)] = position
                return position
        if isinstance(index, pd.RangeIndex):
            encoded: Any = {
                "$ri": [index.start, index.stop, index.step],
                "name": self.value(index.name),
            }
        elif isinstance(index, pd.MultiIndex):
            encoded = {
                "$mi": [self.value(list(t)) for t in index.to_list()],
                "names": [self.value(n) for n in index.names],
            }
        else:
            encoded = {
                "$i": self.array(index.to_numpy()),
                "dtype": str(index.dtype),
                "name": self.value(index.name),
            }
        position = len(self.indexes)
        self.indexes.append(encoded)
        self._keep.append(index)
        self._index_ids[id(index)] = position
        self._by_length.setdefault(len(index), []).append(position)
        return position

    def array(self, values: np.ndarray[Any, Any]) -> Any:
        if values.dtype.kind in _NUMERIC_KINDS:
            raw = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<"))
            data = raw.tobytes()
            if len(data) < _SHARED_ARRAY_BYTES:
                return _numeric(raw.dtype.str, values.shape, data)
            key = (raw.dtype.str, tuple(values.shape), data)
            position = self._array_ids.get(key)
            if position is None:
                position = self._array_ids[key] = len(self.arrays)
                packed = _pack(data)
                self.arrays.append(
                    {
                        "$a": raw.dtype.str,
                        "shape": list(values.shape),
                        "n": len(packed),
                        "z": len(packed) != len(data),
                    }
                )
                self.blobs.append(packed)
            return {"$ar": position}
        if values.dtype.kind in "mM":
            return {
                "$a": values.dtype.str,
                "shape": list(values.shape),
                "b64": base64.b64encode(values.view(np.int64).tobytes()).decode("ascii"),
            }
        if values.dtype.kind == "O" and values.ndim == 1:
            items = values.tolist()
            if set(map(type, items)) <= {str}:  # item keys, class names: stored as is
                return {"$aos": items}
            return {"$ao": [self.value(v) for v in items]}
        if values.dtype.kind in "US" and values.ndim == 1:
            return {"$as": values.dtype.str, "v": values.tolist()}
        raise TypeError(f"cannot store an array of dtype {values.dtype} and shape {values.shape}")

    def series(self, s: pd.Series[Any]) -> Any:
        return {
            "$s": self.column(s),
            "index": self.index(s.index),
            "name": self.value(s.name),
        }

    def column(self, s: pd.Series[Any]) -> Any:
        dtype = s.dtype
        if isinstance(dtype, np.dtype):
            return {"dtype": dtype.str, "values": self.array(s.to_numpy())}
        if isinstance(dtype, pd.CategoricalDtype):
            return {
                "dtype": "category",
                "categories": self.value(list(dtype.categories)),
                "ordered": bool(dtype.ordered),
                "values": [self.value(v) for v in s.astype(object).tolist()],
            }
        # other extension dtypes (nullable ints, strings): values, rebuilt by dtype name
        return {"dtype": str(dtype), "values": [self.value(v) for v in s.astype(object).tolist()]}

    def frame(self, df: pd.DataFrame) -> Any:
        return {
            "$df": [self.column(df.iloc[:, j]) for j in range(df.shape[1])],
            "columns": self.index(df.columns),
            "index": self.index(df.index),
        }

    def value(self, v: Any) -> Any:  # noqa: C901 - one branch per stored type
        if v is None or isinstance(v, bool | str):
            return v
        if isinstance(v, int) and not isinstance(v, np.integer):
            return v
        if isinstance(v, float) and not isinstance(v, np.floating):
            return v if math.isfinite(v) else {"$f": repr(v)}
        if isinstance(v, np.generic):
            return {"$n": self.array(np.asarray([v]))}
        if isinstance(v, np.ndarray):
            return self.array(v)
        if isinstance(v, pd.DataFrame):
            return self.frame(v)
        if isinstance(v, pd.Series):
            return self.series(v)
        if isinstance(v, pd.Index):
            return {"$ix": self.index(v)}
        if isinstance(v, pd.Timestamp | datetime):
            return {"$ts": pd.Timestamp(v).isoformat()}
        if isinstance(v, pd.Timedelta | timedelta):
            return {"$td": pd.Timedelta(v).value}
        if v is pd.NaT:
            return {"$nat": True}
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            cls = type(v)
            if not _allowed(cls, self.types):
                raise TypeError(f"cannot store a {cls.__module__}.{cls.__qualname__}")
            return {
                "$dc": f"{cls.__module__}:{cls.__qualname__}",
                "f": {f.name: self.value(getattr(v, f.name)) for f in dataclasses.fields(v)},
            }
        if isinstance(v, tuple):
            return {"$t": [self.value(x) for x in v]}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, frozenset | set):
            kind = "$fs" if isinstance(v, frozenset) else "$set"
            return {kind: [self.value(x) for x in sorted(v, key=repr)]}
        if isinstance(v, Mapping):
            return {"$m": [[self.value(k), self.value(x)] for k, x in v.items()]}
        raise TypeError(f"cannot store a value of type {type(v).__qualname__}")


class _Decoder:
    def __init__(
        self,
        indexes: list[Any],
        types: Collection[type],
        arrays: list[Any] | None = None,
        blobs: memoryview | None = None,
    ) -> None:
        self.types = {f"{t.__module__}:{t.__qualname__}": t for t in types}
        self._raw = indexes
        self._done: dict[int, pd.Index] = {}
        self._arrays = arrays or []
        self._offsets: list[int] = []
        self._blobs = blobs if blobs is not None else memoryview(b"")
        self._bytes: dict[int, bytes] = {}
        offset = 0
        for entry in self._arrays:
            self._offsets.append(offset)
            offset += int(entry["n"])
        if offset != len(self._blobs):
            raise ValueError("stored scores: the arrays' bytes do not match their table")

    def index(self, position: int) -> pd.Index:
        done = self._done.get(position)
        if done is not None:
            return done
        raw = self._raw[position]
        if "$ri" in raw:
            start, stop, step = raw["$ri"]
            index: pd.Index = pd.RangeIndex(start, stop, step, name=self.value(raw["name"]))
        elif "$mi" in raw:
            index = pd.MultiIndex.from_tuples(
                [tuple(self.value(x)) for x in raw["$mi"]],
                names=[self.value(n) for n in raw["names"]],
            )
        else:
            values = self.array(raw["$i"])
            index = pd.Index(values, dtype=raw["dtype"], name=self.value(raw["name"]))
        self._done[position] = index
        return index

    def array(self, raw: Any) -> np.ndarray[Any, Any]:
        if "$ar" in raw:  # a stored array: read once, a fresh copy for each use
            position = int(raw["$ar"])
            if not 0 <= position < len(self._arrays):
                raise ValueError(f"stored scores: no array {position}")
            entry = self._arrays[position]
            data = self._bytes.get(position)
            if data is None:
                start = self._offsets[position]
                stored = self._blobs[start : start + int(entry["n"])]
                data = zlib.decompress(stored) if entry.get("z") else bytes(stored)
                self._bytes[position] = data
            return self._numeric(entry, data)
        if "$aos" in raw:
            strings = np.empty(len(raw["$aos"]), dtype=object)
            strings[:] = raw["$aos"]
            return strings
        if "$ao" in raw:
            out = np.empty(len(raw["$ao"]), dtype=object)
            out[:] = [self.value(v) for v in raw["$ao"]]
            return out
        if "$as" in raw:
            return np.asarray(raw["v"], dtype=np.dtype(raw["$as"]))
        return self._numeric(raw, base64.b64decode(raw["b64"]))

    def _numeric(self, raw: Any, data: bytes) -> np.ndarray[Any, Any]:
        dtype = np.dtype(raw["$a"])
        if dtype.kind not in _NUMERIC_KINDS + "mM":
            raise ValueError(f"stored scores: refusing array dtype {dtype}")
        result: np.ndarray[Any, Any]
        if dtype.kind in "mM":
            result = np.frombuffer(data, dtype=np.int64).view(dtype).reshape(raw["shape"]).copy()
        else:
            native = dtype.newbyteorder("=")
            result = np.frombuffer(data, dtype=dtype).reshape(raw["shape"]).astype(native)
        return result

    def column(self, raw: Any, index: pd.Index, name: Any) -> pd.Series[Any]:
        dtype = raw["dtype"]
        values = raw["values"]
        if dtype == "category":
            cat = pd.CategoricalDtype(self.value(raw["categories"]), ordered=raw["ordered"])
            return pd.Series([self.value(v) for v in values], index=index, name=name, dtype=cat)
        if isinstance(values, dict):
            return pd.Series(self.array(values), index=index, name=name, copy=False)
        out: pd.Series[Any] = pd.Series(
            [self.value(v) for v in values], index=index, name=name, dtype=dtype
        )
        return out

    def value(self, v: Any) -> Any:  # noqa: C901 - one branch per stored type
        if v is None or isinstance(v, bool | int | float | str):
            return v
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if "$f" in v:
            return float(v["$f"])
        if "$n" in v:
            return self.array(v["$n"])[0]
        if "$a" in v or "$ar" in v or "$ao" in v or "$aos" in v or "$as" in v:
            return self.array(v)
        if "$df" in v:
            index = self.index(v["index"])
            columns = self.index(v["columns"])
            data = {j: self.column(c, index, None) for j, c in enumerate(v["$df"])}
            frame = pd.DataFrame(data, index=index)
            frame.columns = columns
            return frame
        if "$s" in v:
            return self.column(v["$s"], self.index(v["index"]), self.value(v["name"]))
        if "$ix" in v:
            return self.index(v["$ix"])
        if "$ts" in v:
            return pd.Timestamp(v["$ts"])
        if "$td" in v:
            return pd.Timedelta(int(v["$td"]), unit="ns")
        if "$nat" in v:
            return pd.NaT
        if "$dc" in v:
            return self.dataclass(v["$dc"], v["f"])
        if "$t" in v:
            return tuple(self.value(x) for x in v["$t"])
        if "$fs" in v:
            return frozenset(self.value(x) for x in v["$fs"])
        if "$set" in v:
            return {self.value(x) for x in v["$set"]}
        if "$m" in v:
            return {self.value(k): self.value(x) for k, x in v["$m"]}
        raise ValueError(f"stored scores: unknown value {sorted(v)[:3]}")

    def dataclass(self, name: str, fields: dict[str, Any]) -> Any:
        module_name, _, qualname = name.partition(":")
        target: Any = self.types.get(name)
        if target is None:
            if not module_name.startswith(_ALLOWED_MODULES):
                raise ValueError(f"stored scores: refusing to build {name}")
            target = importlib.import_module(module_name)
            for part in qualname.split("."):
                target = getattr(target, part)
        if not (isinstance(target, type) and dataclasses.is_dataclass(target)):
            raise ValueError(f"stored scores: {name} is not a result type")
        known = {f.name for f in dataclasses.fields(target)}
        if set(fields) != known:  # stored by other code: never build a half object
            raise ValueError(f"stored scores: fields of {name} changed")
        obj = object.__new__(target)
        for key, raw in fields.items():
            object.__setattr__(obj, key, self.value(raw))
        return obj


def dumps(value: Any, *, types: Collection[type] = ()) -> bytes:
    """``value`` as compressed JSON (see the module docstring for what may be stored).

    ``types``: further dataclasses that may be stored (the caller's own result types).

    Raises
    ------
    TypeError
        A value of a type that cannot be stored exactly.
    """
    encoder = _Encoder(types)
    body = encoder.value(value)
    doc = {"indexes": encoder.indexes, "arrays": encoder.arrays, "value": body}
    header = zlib.compress(json.dumps(doc, allow_nan=False).encode("utf-8"), 1)
    return b"".join([MAGIC, struct.pack("<Q", len(header)), header, *encoder.blobs])


def loads(data: bytes, *, types: Collection[type] = ()) -> Any:
    """The value stored by :func:`dumps` (``types``: as given to :func:`dumps`).

    Raises
    ------
    ValueError
        The data is not what :func:`dumps` writes (or names a type it may not build).
    """
    try:
        if not data.startswith(MAGIC):  # written before arrays were kept apart
            doc = json.loads(zlib.decompress(data).decode("utf-8"))
            return _Decoder(doc["indexes"], types).value(doc["value"])
        view = memoryview(data)[len(MAGIC) :]
        (length,) = struct.unpack_from("<Q", view)
        header = view[8 : 8 + length]
        if len(header) != length:
            raise ValueError("stored scores: truncated")
        doc = json.loads(zlib.decompress(header).decode("utf-8"))
        decoder = _Decoder(doc["indexes"], types, doc["arrays"], view[8 + length :])
        return decoder.value(doc["value"])
    except (zlib.error, struct.error) as exc:
        raise ValueError(f"stored scores: cannot be read ({exc})") from exc
