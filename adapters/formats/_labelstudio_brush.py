"""Label Studio brush masks: its bit-packed run-length encoding, both ways."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["decode_brush_rle", "encode_brush_rle"]


class _BitReader:
    def __init__(self, data: Sequence[int]) -> None:
        self._bits = "".join(f"{b:08b}" for b in data)
        self._pos = 0

    def read(self, n: int) -> int:
        if self._pos + n > len(self._bits):
            raise ValueError("brush RLE ends early")
        out = int(self._bits[self._pos : self._pos + n], 2)
        self._pos += n
        return out


def decode_brush_rle(rle: Sequence[int]) -> npt.NDArray[np.uint8]:
    """Decode Label Studio's brush RLE into its flat value array.

    The stream is big-endian bits: 32 bits value count, 5 bits word size - 1, four
    4-bit run-length field sizes - 1; then blocks of (1 bit repeat flag, 2 bits field
    size index, count - 1, then one repeated word or ``count`` literal words).

    Parameters
    ----------
    rle
        The ``value.rle`` byte list of a ``brushlabels`` region.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` uint8 values; for an image these are RGBA pixels, ``(h, w, 4)``.

    Raises
    ------
    ValueError
        If the stream is truncated or malformed.
    """
    bits = _BitReader(rle)
    num = bits.read(32)
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    out = np.zeros(num, dtype=np.uint8)
    i = 0
    while i < num:
        repeat = bits.read(1)
        count = bits.read(sizes[bits.read(2)]) + 1
        if i + count > num:
            raise ValueError("brush RLE run passes the end of the image")
        if repeat:
            out[i : i + count] = bits.read(word)
        else:
            for k in range(count):
                out[i + k] = bits.read(word)
        i += count
    return out


_RLE_FIELD_SIZES = (3, 4, 8, 16)


def encode_brush_rle(values: npt.NDArray[np.uint8]) -> list[int]:
    """Encode a flat uint8 array (RGBA pixels) as Label Studio brush RLE.

    The inverse of :func:`decode_brush_rle`, with 8-bit words and run-length field
    sizes 3, 4, 8 and 16 bits.

    Parameters
    ----------
    values
        ``(n,)`` uint8 values.

    Returns
    -------
    list[int]
        The ``value.rle`` byte list.
    """
    flat = np.asarray(values, dtype=np.uint8).ravel()
    parts = [f"{flat.size:032b}", f"{8 - 1:05b}", "".join(f"{s - 1:04b}" for s in _RLE_FIELD_SIZES)]
    if flat.size:
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [flat.size]))
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            value = int(flat[start])
            remaining = end - start
            while remaining:
                count = min(remaining, 1 << 16)
                idx = next(k for k, s in enumerate(_RLE_FIELD_SIZES) if count - 1 < (1 << s))
                size = _RLE_FIELD_SIZES[idx]
                parts.append(f"{1 if count > 1 else 0}{idx:02b}{count - 1:0{size}b}{value:08b}")
                remaining -= count
    bits = "".join(parts)
    bits += "0" * (-len(bits) % 8)
    return [int(bits[k : k + 8], 2) for k in range(0, len(bits), 8)]
