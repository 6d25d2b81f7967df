"""Comparing the infos of two vector envs (ours and Gymnasium's), shared by the vector-env tests."""

from __future__ import annotations

from typing import Any

import numpy as np


def assert_same_infos(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Same keys, nested dicts alike, arrays equal; ``final_obs`` entries may be None in both."""
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, dict):
            assert_same_infos(ours[key], value)
        elif key == "final_obs":
            for a, b in zip(ours[key], value, strict=True):
                assert (a is None and b is None) or np.array_equal(a, b)
        else:
            assert np.array_equal(ours[key], value), key
