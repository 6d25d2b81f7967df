"""Protobuf encoded for many steps at once (clankers.envs.mcap_batch) equals what protobuf encodes."""

from __future__ import annotations

import numpy as np
from foxglove_schemas_protobuf.FrameTransforms_pb2 import FrameTransforms
from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.wrappers_pb2 import UInt64Value
from hypothesis import given, settings
from hypothesis import strategies as st

from clankers.envs import mcap_batch as mb
from clankers.envs.recording import state_message

STAMPS = st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=40)  # int64 nanoseconds


@given(st.lists(st.integers(1, 2**63 - 1), min_size=1, max_size=30))
def test_varints_are_protobufs(values: list[int]) -> None:
    digits, widths = mb.varints(np.array([0, *values], dtype=np.uint64))
    assert bytes(digits[0, : widths[0]]) == mb.varint(0) == b"\x00"  # (protobuf leaves a zero out)
    for value, row, width in zip(values, digits[1:], widths[1:], strict=True):
        expected = UInt64Value(value=value).SerializeToString()[1:]  # less the tag
        assert bytes(row[:width]) == expected == mb.varint(value)


@given(STAMPS)
def test_timestamps_are_protobufs(stamps: list[int]) -> None:
    for values in (stamps, sorted(stamps)):  # in any order, and in time order (runs of one width)
        encoded, widths = mb.timestamps(Timestamp.DESCRIPTOR, np.array(values, dtype=np.int64))
        for stamp, row, width in zip(values, encoded, widths, strict=True):
            expected = Timestamp(seconds=stamp // 10**9, nanos=stamp % 10**9).SerializeToString()
            assert bytes(row[:width]) == expected


def _frames(names: tuple[str, str], stamps: np.ndarray, values: np.ndarray) -> list[bytes]:
    """``foxglove.FrameTransforms`` with one moving frame and one fixed one, encoded by mcap_batch."""
    encoded, widths = mb.timestamps(Timestamp.DESCRIPTOR, stamps)
    columns = mb.Columns({"ts": (encoded, "u1"), "pose": (values, "<f8")})
    spec = {
        "transforms": [
            {
                "timestamp": mb.Column("ts"),
                "parent_frame_id": names[0],
                "child_frame_id": names[1],
                "translation": {k: mb.Column("pose", at=j) for j, k in enumerate("xyz")},
                "rotation": {k: mb.Column("pose", at=3 + j) for j, k in enumerate("xyzw")},
            },
            {
                "timestamp": mb.Column("ts"),
                "parent_frame_id": "world",
                "child_frame_id": "fixed",
                "translation": {"x": 0.5, "y": 0.0, "z": -1.0},
                "rotation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0},
            },
        ]
    }
    template = mb.message_template(FrameTransforms.DESCRIPTOR, spec, {"ts": 12})
    filled = mb.fill(template, slice(0, len(stamps)), columns, {"ts": widths})
    flat, ends = filled.data[filled.keep], np.cumsum(filled.sizes)
    return [flat[end - size : end].tobytes() for end, size in zip(ends, filled.sizes, strict=True)]


def _expected(names: tuple[str, str], stamp: int, pose: np.ndarray) -> FrameTransforms:
    message = FrameTransforms()
    for parent, child, xyz, xyzw in (
        (names[0], names[1], pose[:3], pose[3:]),
        ("world", "fixed", (0.5, 0.0, -1.0), (0.0, 0.0, 0.0, 1.0)),
    ):
        frame = message.transforms.add(parent_frame_id=parent, child_frame_id=child)
        frame.timestamp.seconds, frame.timestamp.nanos = divmod(stamp, 10**9)
        frame.translation.x, frame.translation.y, frame.translation.z = map(float, xyz)
        frame.rotation.x, frame.rotation.y, frame.rotation.z, frame.rotation.w = map(float, xyzw)
    return message


@settings(max_examples=30, deadline=None)
@given(STAMPS, st.integers(0, 130), st.booleans())
def test_frame_transforms_match_protobuf(stamps: list[int], name_length: int, zeros: bool) -> None:
    """Timestamps of every width and frame names around 128 bytes (so that the frame's length takes one
    byte or two, step by step): the bytes decode to the message protobuf builds; without zero values,
    they are the very bytes protobuf writes."""
    names = ("base", "link_" + "x" * name_length)
    rng = np.random.default_rng(len(stamps))
    values = rng.uniform(-2, 2, (len(stamps), 7))
    if zeros:
        values[::2, 1] = 0.0  # written explicitly here, left out by protobuf: same message
    stamps_array = np.array(stamps, dtype=np.int64)
    for data, stamp, pose in zip(_frames(names, stamps_array, values), stamps, values, strict=True):
        expected = _expected(names, stamp, pose)
        assert FrameTransforms.FromString(data) == expected
        if not zeros:
            assert data == expected.SerializeToString()


def test_present_fields_come_and_go() -> None:
    """``clankers.State`` of the first step of an episode has no action nor reward."""
    cls, _ = state_message()
    rows = 4
    columns = mb.Columns(
        {
            "step": (np.arange(rows), "<u4"),
            "qpos": (np.arange(rows * 2).reshape(rows, 2) + 0.5, "<f8"),
            "action": (np.full((rows, 3), 1.5), "<f8"),
            "reward": (np.full(rows, -2.0), "<f8"),
        }
    )
    spec = {
        "step": mb.Column("step"),
        "qpos": mb.Column("qpos", 2),
        "action": mb.Present("later", mb.Column("action", 3)),
        "reward": mb.Present("later", mb.Column("reward")),
    }
    template = mb.message_template(cls.DESCRIPTOR, spec, {})
    later = np.array([0, 1, 1, 0])
    filled = mb.fill(template, slice(0, rows), columns, {"later": later})
    flat, ends = filled.data[filled.keep], np.cumsum(filled.sizes)
    for row in range(rows):
        message = cls.FromString(flat[ends[row] - filled.sizes[row] : ends[row]].tobytes())
        expected = cls(step=row, qpos=[2 * row + 0.5, 2 * row + 1.5])
        if later[row]:
            expected.action.extend([1.5] * 3)
            expected.reward = -2.0
        assert message == expected
        assert len(message.action) == 3 * later[row]
