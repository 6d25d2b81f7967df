"""Observation kinds of format 1.1: raw uint8 images, Dict observations, and declared observation layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _policy_graphs import dict_model, image_model, linear_model, metadata_props, save, standard_props
from clankers.errors import MetadataError, ObservationError, ObservationLayoutError, PolicyTensorError
from clankers.policy import OnnxPolicy, check_policy
from clankers.policy.spaces import BoxSpace, DictSpace

IMG = BoxSpace(shape=[6, 5, 3], dtype="uint8", low=[0], high=[255], image_layout="HWC")
ACT2 = BoxSpace(shape=[2], dtype="float32", low=[-1.0], high=[1.0])


def _image_policy(tmp_path: Path) -> OnnxPolicy:
    props = metadata_props(action_space=ACT2, observation_space=IMG)
    return OnnxPolicy(save(image_model((6, 5, 3), 2, props), tmp_path / "img.onnx"))


def test_image_policy_takes_the_raw_frame(tmp_path: Path) -> None:
    policy = _image_policy(tmp_path)
    frame = np.random.default_rng(0).integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    np.testing.assert_allclose(policy.act(frame), frame.mean(axis=(0, 1))[:2] / 255.0, rtol=1e-5)
    frames = np.stack([frame, 255 - frame])
    out = policy.act_batch(frames)
    np.testing.assert_allclose(out[1], (255 - frame).mean(axis=(0, 1))[:2] / 255.0, rtol=1e-5)
    # integer arrays within 0..255 are accepted (e.g. a frame decoded as int64)
    np.testing.assert_allclose(policy.act(frame.astype(np.int64)), policy.act(frame))
    assert check_policy(policy.path).conforms


@pytest.mark.parametrize("bad", [np.full((6, 5, 3), 0.5), np.full((6, 5, 3), 300), np.full((6, 5, 3), -1)])
def test_image_refuses_scaled_or_out_of_range_pixels(tmp_path: Path, bad: np.ndarray) -> None:
    with pytest.raises(ObservationError, match="raw uint8"):
        _image_policy(tmp_path).act(bad)


def test_image_wrong_layout_is_a_shape_error(tmp_path: Path) -> None:
    with pytest.raises(ObservationError, match="expects"):
        _image_policy(tmp_path).act(np.zeros((3, 6, 5), dtype=np.uint8))  # CHW given to an HWC policy


def test_observation_space_must_match_the_input(tmp_path: Path) -> None:
    wrong = BoxSpace(shape=[5, 6, 3], dtype="uint8", low=[0], high=[255], image_layout="HWC")
    props = metadata_props(action_space=ACT2, observation_space=wrong)
    with pytest.raises(MetadataError, match=r"shape \[5, 6, 3\]"):
        OnnxPolicy(save(image_model((6, 5, 3), 2, props), tmp_path / "img.onnx"))


def _dict_space() -> DictSpace:
    return DictSpace(
        spaces={
            "joints": BoxSpace(shape=[3], dtype="float32", low=[-10.0], high=[10.0]),
            "camera": BoxSpace(shape=[4, 4, 1], dtype="uint8", low=[0], high=[255], image_layout="HWC"),
        }
    )


def _dict_obs(rng: np.random.Generator, n: int | None = None) -> dict[str, np.ndarray]:
    lead = () if n is None else (n,)
    return {
        "joints": rng.normal(size=(*lead, 3)).astype(np.float32),
        "camera": rng.integers(0, 256, size=(*lead, 4, 4, 1), dtype=np.uint8),
    }


def test_dict_observation_one_input_per_key(tmp_path: Path) -> None:
    props = metadata_props(action_space=ACT2, observation_space=_dict_space())
    policy = OnnxPolicy(
        save(dict_model(3, (4, 4, 1), ("obs.joints", "obs.camera"), props), tmp_path / "d.onnx")
    )
    assert policy.is_dict and set(policy.input_names) == {"obs.joints", "obs.camera"}
    assert policy.obs_shapes == {"joints": (3,), "camera": (4, 4, 1)} and policy.obs_dim == 19
    rng = np.random.default_rng(1)
    obs = _dict_obs(rng)
    np.testing.assert_allclose(
        policy.act(obs), [obs["joints"].sum(), obs["camera"].mean() / 255.0], rtol=1e-5
    )
    batch = _dict_obs(rng, 4)
    out = policy.act_batch(batch)
    assert out.shape == (4, 2)
    np.testing.assert_allclose(out[:, 0], batch["joints"].sum(axis=1), rtol=1e-5)
    assert check_policy(policy.path).conforms


def test_dict_inputs_named_by_metadata(tmp_path: Path) -> None:
    props = metadata_props(
        action_space=ACT2,
        observation_space=_dict_space(),
        observation_inputs={"joints": "q", "camera": "rgb"},
    )
    policy = OnnxPolicy(save(dict_model(3, (4, 4, 1), ("q", "rgb"), props), tmp_path / "d.onnx"))
    assert policy.act(_dict_obs(np.random.default_rng(2))).shape == (2,)


def test_dict_observation_errors(tmp_path: Path) -> None:
    props = metadata_props(action_space=ACT2, observation_space=_dict_space())
    policy = OnnxPolicy(
        save(dict_model(3, (4, 4, 1), ("obs.joints", "obs.camera"), props), tmp_path / "d.onnx")
    )
    obs = _dict_obs(np.random.default_rng(3))
    with pytest.raises(ObservationError, match="missing"):
        policy.act({"joints": obs["joints"]})
    with pytest.raises(ObservationError, match="unexpected"):
        policy.act({**obs, "extra": np.zeros(1)})
    with pytest.raises(ObservationError, match="Dict observation"):
        policy.act(np.zeros(19))
    with pytest.raises(ObservationError, match=r"observation\['joints'\]"):
        policy.act({**obs, "joints": np.zeros(4)})
    with pytest.raises(ObservationError, match="NaN"):
        policy.act({**obs, "joints": np.array([0.0, np.nan, 0.0])})
    batch = _dict_obs(np.random.default_rng(4), 3)
    with pytest.raises(ObservationError, match="same number of rows"):
        policy.act_batch({**batch, "joints": batch["joints"][:2]})


def test_dict_input_missing_from_graph(tmp_path: Path) -> None:
    props = metadata_props(action_space=ACT2, observation_space=_dict_space())
    with pytest.raises(PolicyTensorError, match=r"obs\.camera"):
        OnnxPolicy(save(dict_model(3, (4, 4, 1), ("obs.joints", "image"), props), tmp_path / "d.onnx"))


LAYOUT = ["cart_slide.pos", "pole_hinge.pos", "cart_slide.vel", "pole_hinge.vel"]


def _layout_policy_path(tmp_path: Path) -> Path:
    props = metadata_props(
        action_space=ACT2,
        observation_space=BoxSpace(shape=[4], dtype="float32", low=["-inf"], high=["inf"]),
        observation_layout=LAYOUT,
    )
    return save(linear_model(np.ones((4, 2), np.float32), props=props), tmp_path / "p.onnx")


def test_matching_layout_loads(tmp_path: Path) -> None:
    policy = OnnxPolicy(_layout_policy_path(tmp_path), expected_layout=list(LAYOUT))
    assert policy.metadata.observation_layout == LAYOUT


def test_joint_order_mistake_is_caught_at_load_time(tmp_path: Path) -> None:
    swapped = ["pole_hinge.pos", "cart_slide.pos", "pole_hinge.vel", "cart_slide.vel"]
    with pytest.raises(ObservationLayoutError, match="mismatch"):
        OnnxPolicy(_layout_policy_path(tmp_path), expected_layout=swapped)


def test_expected_layout_needs_a_declared_layout(tmp_path: Path) -> None:
    path = save(linear_model(np.ones((4, 2), np.float32), props=standard_props()), tmp_path / "p.onnx")
    with pytest.raises(ObservationLayoutError, match="declares no observation_layout"):
        OnnxPolicy(path, expected_layout=LAYOUT)


def test_layout_length_must_match_the_space() -> None:
    with pytest.raises(MetadataError, match="3 names for 4 elements"):
        metadata_props(
            action_space=ACT2,
            observation_space=BoxSpace(shape=[4], dtype="float32", low=[-1.0], high=[1.0]),
            observation_layout=LAYOUT[:3],
        )
