"""Row-wise arithmetic for batched terms: each row's result has the same bits in a batch of any size.

A vector env must equal N single environments bit for bit, so a term may only use operations whose
result for one row does not depend on the other rows, their number or where they sit in memory.
Element-wise operations qualify (IEEE arithmetic is exact per element, SIMD or not). numpy's sums along a
row do not: its SIMD reduction adds in an order that depends on the row's memory alignment and the
array's shape, so a row can sum to another last bit alone than in a batch of 64. These helpers add
columns one by one instead.
"""

from __future__ import annotations

import numpy as np


def row_sum(values: np.ndarray) -> np.ndarray:
    """``[N, k] -> [N]``: each row's sum, in an order fixed by ``k`` alone.

    Not ``np.sum(axis=1)``: numpy's SIMD reduction adds in an order that depends on the row's memory
    alignment and the batch's shape, so the same row could sum to another last bit in a batch of 64
    than alone. Here columns are added pairwise in halving rounds (``k = 12``: 6 + 3 + 2 element-wise
    additions), each round element-wise, hence the same bits in any batch.
    """
    x = values
    while x.shape[1] > 1:
        half = x.shape[1] // 2
        folded = x[:, :half] + x[:, half : 2 * half]
        if x.shape[1] % 2:
            folded[:, 0] += x[:, 2 * half]
        x = folded
    return x[:, 0].copy() if x is values else x[:, 0]


def row_sum_squares(values: np.ndarray) -> np.ndarray:
    """``[N, k] -> [N]``: each row's sum of squares (see :func:`row_sum`)."""
    return row_sum(values * values)


def rotate_into_frame(quat: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``R(q)^T v`` row by row: world vectors ``[N, 3]`` in the frames of unit quaternions ``[N, 4]``
    (w, x, y, z, world from body). Element-wise arithmetic only, so each row's result does not depend
    on the batch it is computed in."""
    w, x, y, z = quat[:, 0], quat[:, 1], quat[:, 2], quat[:, 3]
    vx, vy, vz = vectors[:, 0], vectors[:, 1], vectors[:, 2]
    # t = 2 (u x v) with u = -(x, y, z) (the inverse rotation), v' = v + w t + u x t
    tx = 2.0 * (-y * vz + z * vy)
    ty = 2.0 * (-z * vx + x * vz)
    tz = 2.0 * (-x * vy + y * vx)
    out = np.empty_like(vectors)
    out[:, 0] = vx + w * tx + (-y * tz + z * ty)
    out[:, 1] = vy + w * ty + (-z * tx + x * tz)
    out[:, 2] = vz + w * tz + (-x * ty + y * tx)
    return out
