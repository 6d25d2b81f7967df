"""Binary observation frames (protocol >= 1.1 for images, >= 1.2 for batches; docs/protocol.md §6).

A JSON response whose observations travel in binary carries empty observations (``{"data": []}``) and an
``obs_encoding`` object; the very next frame holds the data:

- one image (``binary_obs``): the raw HWC ``uint8`` bytes, ``height * width * channels`` of them;
- a batch (``binary_batch``): a 24-byte little-endian header, then ``num_envs * dim`` values:
  ``u32 version=1 | u8 kind | 3 pad bytes | u32 num_envs | u32 dim | 2 x u32 reserved``,
  kind 0 = float32 values, kind 1 = uint8 images (HWC per env).

Binary frames exist for speed: decoding a JSON array of 64 x 4 floats costs far more than copying 1 KiB.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from clankers.errors import ProtocolError

BATCH_HEADER = struct.Struct("<IB3xIIII")
BATCH_VERSION = 1
KIND_F32 = 0
KIND_U8_IMAGE = 1
_DTYPES = {KIND_F32: np.dtype("<f4"), KIND_U8_IMAGE: np.dtype(np.uint8)}


def image_encoding(shape: tuple[int, ...]) -> dict[str, Any]:
    h, w, c = shape
    return {"type": "RawU8Image", "width": int(w), "height": int(h), "channels": int(c), "layout": "Hwc"}


def batch_encoding(
    num_envs: int, *, dim: int | None = None, image_shape: tuple[int, ...] | None = None
) -> dict[str, Any]:
    """The ``obs_encoding`` of a batch response: float vectors of ``dim``, or HWC images."""
    if image_shape is not None:
        h, w, c = image_shape
        return {
            "type": "BatchRawU8Image",
            "num_envs": int(num_envs),
            "width": int(w),
            "height": int(h),
            "channels": int(c),
            "layout": "Hwc",
        }
    return {"type": "BatchF32", "num_envs": int(num_envs), "obs_dim": int(dim or 0)}


def encode_batch(obs: np.ndarray, image: bool) -> bytes:
    """``[num_envs, ...]`` observations -> header + flat little-endian payload."""
    kind = KIND_U8_IMAGE if image else KIND_F32
    flat = np.ascontiguousarray(obs, dtype=_DTYPES[kind]).reshape(obs.shape[0], -1)
    return BATCH_HEADER.pack(BATCH_VERSION, kind, flat.shape[0], flat.shape[1], 0, 0) + flat.tobytes()


def decode_batch(frame: bytes) -> np.ndarray:
    """Header + payload -> ``[num_envs, dim]`` array (float32 or uint8); :class:`ProtocolError` if malformed."""
    if len(frame) < BATCH_HEADER.size:
        raise ProtocolError(f"binary batch frame too short: {len(frame)} bytes, header is 24", 101)
    version, kind, num_envs, dim, _, _ = BATCH_HEADER.unpack_from(frame)
    if version != BATCH_VERSION or kind not in _DTYPES:
        raise ProtocolError(f"unsupported binary batch frame (version {version}, kind {kind})", 101)
    dtype = _DTYPES[kind]
    expected = BATCH_HEADER.size + num_envs * dim * dtype.itemsize
    if len(frame) != expected:
        raise ProtocolError(f"binary batch frame has {len(frame)} bytes, header implies {expected}", 101)
    return np.frombuffer(frame, dtype=dtype, offset=BATCH_HEADER.size).reshape(num_envs, dim)
