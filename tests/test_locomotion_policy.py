"""The shipped Go1 policy walks: torch-free, on the evaluation command (0.5 m/s forward), from the file alone.

The policy file is produced by ``clankers train go1_velocity`` and ``clankers export`` (see docs/tasks.md,
Locomotion); until it is in the package this test skips, saying so.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from clankers.envs import find_task
from clankers.envs.tasks import TaskEnv
from clankers.sim.robot import ASSETS_DIR
from clankers.sim.urdf import RobotImportWarning, example_robot_data

POLICY = ASSETS_DIR / "policies" / "go1_velocity.onnx"
pytestmark = [
    pytest.mark.skipif(
        example_robot_data() is None, reason="needs example-robot-data (pip install 'clankers[robots]')"
    ),
    pytest.mark.skipif(
        not POLICY.is_file(),
        reason=f"the shipped Go1 policy {POLICY.relative_to(ASSETS_DIR.parent)} is not in this checkout yet "
        "(clankers train go1_velocity, then clankers export ... -o that path)",
    ),
]
warnings.filterwarnings("ignore", category=RobotImportWarning)


def test_shipped_policy_walks_forward_more_than_1m_in_4s_without_falling() -> None:
    from clankers.policy import OnnxPolicy

    policy = OnnxPolicy(POLICY)
    env = TaskEnv(find_task("go1_velocity").config, command="evaluation", max_episode_steps=200)
    assert policy.metadata.observation_layout in (None, list(env.observation_names))
    for seed in (0, 1):
        obs, _ = env.reset(seed=seed)
        qpos = env.sim.data.qpos
        start = qpos[:2].copy()
        w, x, y, z = qpos[3:7]
        heading = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
        terminated = truncated = False
        steps = 0
        while not (terminated or truncated):
            obs, _, terminated, truncated, info = env.step(policy.act(obs))
            steps += 1
        assert not terminated, f"seed {seed}: fell after {steps * env.dt:.2f} s ({info['termination']})"
        assert steps * env.dt == pytest.approx(4.0)
        progress = float(np.dot(qpos[:2] - start, [math.cos(heading), math.sin(heading)]))
        assert progress > 1.0, f"seed {seed}: {progress:.2f} m in 4 s"


def test_shipped_policy_carries_the_deploy_contract() -> None:
    from clankers.policy import OnnxPolicy

    deploy = OnnxPolicy(POLICY).deploy
    assert deploy is not None and deploy.action_semantics == "position"
    env = find_task("go1_velocity").make()
    assert deploy.joint_names == list(env.layout.names)
    np.testing.assert_allclose(deploy.default_joint_pos, env.robot.home)
    assert deploy.control_dt == pytest.approx(0.02)
    assert [t.name for t in deploy.observation_terms or []] == list(env.observation_slices)


def test_clankers_run_drives_the_shipped_policy() -> None:
    from typer.testing import CliRunner

    from clankers.cli import app

    result = CliRunner().invoke(
        app, ["run", str(POLICY), "--env", "go1_velocity", "--episodes", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
