"""Rendering: every registered task draws its robot on a floor, in rgb_array and depth_array; the
decoration leaves the physics alone; the default camera frames and tracks; videos round-trip."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import clankers.envs
from clankers.errors import ConfigError, RenderingError
from clankers.render import SceneRenderer, decorate_spec, frame_robot, place_floor
from clankers.render.scene import FLOOR_NAME, lowest_point
from clankers.render.video import VideoWriter, draw_overlay, read_video
from clankers.sim import SimConfig, asset_path, load_robot

TASKS = sorted(t.env_id for t in clankers.envs.registered_tasks().values())


@pytest.mark.parametrize("env_id", TASKS)
def test_every_task_renders_its_robot(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array", width=240, height=180)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(3):
        env.step(env.action_space.sample())
    frame = env.render()
    assert frame.shape == (180, 240, 3) and frame.dtype == np.uint8
    assert frame.std() > 5  # not a blank picture
    base = env.unwrapped
    ids = base._rendering.renderer(base.sim.model).segmentation(base.sim.data)
    model = base.sim.model
    robot_pixels = np.isin(ids, np.flatnonzero(model.geom_bodyid > 0)).sum()
    assert robot_pixels > 60, f"{env_id}: the robot covers {robot_pixels} pixels"
    assert frame[-40:].mean() > 40, "the lit floor fills the bottom of the picture (not black)"
    env.close()


def test_depth_array_is_metric_depth() -> None:
    env = gym.make("clankers/ArmReach-v0", render_mode="depth_array", width=64, height=48)
    env.reset(seed=1)
    depth = env.render()
    assert depth.shape == (48, 64) and depth.dtype == np.float32
    assert np.isfinite(depth).all() and depth.min() > 0.1
    env.close()


def test_render_modes_are_checked_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(gym.error.Error, match="rgb_array"):
        gym.make("clankers/Pendulum-v0", render_mode="video")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(RenderingError, match=r"display.*rgb_array.*clankers view"):
        gym.make("clankers/Pendulum-v0", render_mode="human")
    with pytest.raises(ConfigError, match="no camera 'nope'"):
        env = gym.make("clankers/Pendulum-v0", render_mode="rgb_array", camera="nope")
        env.reset(seed=0)
        env.render()


def test_render_mode_none_renders_nothing() -> None:
    env = gym.make("clankers/Pendulum-v0")
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode=None"):
        assert env.unwrapped.render() is None


def _trajectory(model_of: mujoco.MjModel, steps: int = 60) -> np.ndarray:
    data = mujoco.MjData(model_of)
    data.qpos[:] = 0.3
    rng = np.random.default_rng(0)
    states = []
    for _ in range(steps):
        data.ctrl[:] = rng.uniform(-1, 1, model_of.nu)
        mujoco.mj_step(model_of, data, nstep=5)
        states.append(np.concatenate([data.qpos, data.qvel]))
    return np.array(states)


@pytest.mark.parametrize("urdf", ["cartpole.urdf", "six_dof_arm.urdf"])
def test_decoration_leaves_the_physics_bit_identical(urdf: str) -> None:
    plain = load_robot(asset_path(f"urdf/{urdf}"), SimConfig())
    decorated = load_robot(asset_path(f"urdf/{urdf}"), SimConfig(), scenery=decorate_spec)
    place_floor(decorated.model)
    assert decorated.model.ngeom == plain.model.ngeom + 1 and decorated.model.nlight == plain.model.nlight + 1
    floor = mujoco.mj_name2id(decorated.model, mujoco.mjtObj.mjOBJ_GEOM, FLOOR_NAME)
    assert decorated.model.geom_contype[floor] == 0 and decorated.model.geom_conaffinity[floor] == 0
    np.testing.assert_array_equal(_trajectory(plain.model), _trajectory(decorated.model))


def test_floor_sits_under_everything_a_hinge_can_swing() -> None:
    robot = load_robot(asset_path("urdf/pendulum.urdf"), SimConfig(), scenery=decorate_spec)
    height = place_floor(robot.model)
    assert height == pytest.approx(lowest_point(robot.model)) and height < -0.99  # a 1 m rod hangs down
    data = mujoco.MjData(robot.model)
    mujoco.mj_forward(robot.model, data)
    floor = mujoco.mj_name2id(robot.model, mujoco.mjtObj.mjOBJ_GEOM, FLOOR_NAME)
    assert data.geom_xpos[floor][2] == pytest.approx(height)


FLOATING = """
<mujoco>
  <worldbody>
    <geom type="plane" size="0 0 1"/>
    <body name="base" pos="0 0 0.5">
      <freejoint/>
      <geom type="box" size="0.2 0.1 0.05"/>
    </body>
  </worldbody>
</mujoco>
"""


def test_default_camera_tracks_a_floating_base() -> None:
    model = mujoco.MjModel.from_xml_string(FLOATING)
    data = mujoco.MjData(model)
    lookat, distance = frame_robot(model)
    assert lookat == pytest.approx([0, 0, 0.5]) and distance > 0.3
    with SceneRenderer(model, 64, 48) as renderer:
        renderer.rgb(data)
        data.qpos[:3] = [2.0, -1.0, 0.5]
        renderer.rgb(data)
        assert renderer.camera.lookat == pytest.approx([2.0, -1.0, 0.5])
        assert renderer.camera.distance == pytest.approx(distance)


def test_video_round_trip(tmp_path: Path) -> None:
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(6)]
    with VideoWriter(tmp_path / "v.mp4", fps=30) as mp4:
        for frame in frames:
            mp4.write(frame)
    decoded = read_video(tmp_path / "v.mp4")
    assert decoded.shape == (6, 48, 64, 3)
    assert np.abs(decoded.astype(int).mean(axis=(1, 2, 3)) - [20 * i for i in range(6)]).max() < 3
    with VideoWriter(tmp_path / "v.gif", fps=10) as gif:
        for frame in frames:
            gif.write(frame)
    assert read_video(tmp_path / "v.gif").shape == (6, 48, 64, 3)
    assert not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(ConfigError, match=r"\.mp4 or \.gif"):
        VideoWriter(tmp_path / "v.avi", fps=30)


def test_overlay_writes_text_into_the_corner() -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    out = draw_overlay(frame, ["step 3", "return 1.00"])
    assert out.shape == frame.shape and out[:20, :60].max() > 200 and out[60:].max() == 0
