"""The deploy contract (format 1.2, gravity feedforward 1.3): what a robot-side runtime needs, written by
export, read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from clankers.errors import MetadataError
from clankers.policy.spaces import BoxSpace
from clankers.policy.spec import DeployContract, PolicyMetadata
from clankers.sim import asset_path

TASK = """
name = "arm_hold"
max_episode_steps = 20
[sim]
physics_dt = 0.002
control_dt = 0.02
integrator = "implicitfast"
[[robots]]
name = "arm"
urdf = "{urdf}"
home = {{ j2_elbow = 0.5 }}
[action]
kind = "position"
scale = 0.3
kp = {{ j1_shoulder = 40.0, j2_elbow = 15.0 }}
kd = 1.0
gravity_compensation = true
[[observations]]
kind = "joint_position"
[[observations]]
kind = "joint_velocity"
[[rewards]]
kind = "joint_position"
target = [0.0, 0.5]
weight = -1.0
"""


def contract(**changes: object) -> dict:
    base = {
        "joint_names": ["hip", "knee"],
        "action_semantics": "position",
        "default_joint_pos": [0.1, -1.2],
        "action_scale": [0.25, 0.5],
        "joint_stiffness": [20.0, 30.0],
        "joint_damping": [0.5, 0.6],
        "effort_limit": [10.0, 12.0],
        "velocity_limit": [5.0, None],
        "control_dt": 0.02,
        "observation_terms": [
            {"name": "joint_position", "size": 2},
            {"name": "projected_gravity", "size": 3},
        ],
    }
    return {**base, **changes}


def metadata(**changes: object) -> PolicyMetadata:
    return PolicyMetadata(
        action_space=BoxSpace(shape=[2], dtype="float32", low=[-1, -1], high=[1, 1]),
        observation_space=BoxSpace(shape=[5], dtype="float32", low=[-np.inf], high=[np.inf]),
        deploy=contract(**changes),
    )


def test_deploy_round_trips_with_mjlab_spellings() -> None:
    props = metadata().to_metadata_props()
    assert props["clanker_policy_version"] == "1.3.0"
    assert props["joint_names"] == "hip,knee"
    assert props["default_joint_pos"] == "0.1,-1.2"
    assert props["joint_stiffness"] == "20.0,30.0" and props["joint_damping"] == "0.5,0.6"
    assert props["observation_names"] == "joint_position,projected_gravity"
    assert props["action_scale"] == "[1.0, 1.0]"  # the 1.0 key keeps its meaning (graph output affine)
    again = PolicyMetadata.from_metadata_props(props)
    assert again.deploy == metadata().deploy
    assert again.minimum_version() == (1, 2, 0)  # no gravity_compensation: a 1.2 reader reads it all
    assert again.deploy is not None and again.deploy.gravity_compensation is None


def test_gravity_compensation_needs_format_1_3() -> None:
    """Saying whether gravity is fed forward needs format 1.3; 1.2 files without it still read (None)."""
    fed = metadata(gravity_compensation=True)
    assert fed.minimum_version() == (1, 3, 0)
    again = PolicyMetadata.from_metadata_props(fed.to_metadata_props())
    assert again.deploy is not None and again.deploy.gravity_compensation is True


@pytest.mark.parametrize(
    ("semantics", "action", "expected"),
    [
        ("position", [1.0, -1.0], [0.35, -1.7]),
        ("velocity", [40.0, -2.0], [5.0, -1.0]),  # hip clipped to its velocity limit
        ("torque", [0.5, -3.0], [5.0, -12.0]),  # normalized, saturating at the effort
    ],
)
def test_joint_targets(semantics: str, action: list[float], expected: list[float]) -> None:
    deploy = DeployContract(**contract(action_semantics=semantics))
    np.testing.assert_allclose(deploy.joint_targets(action), expected)
    np.testing.assert_allclose(deploy.joint_targets([action, action]), [expected, expected])


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"joint_names": ["hip"]}, "has 2 values for 1 joints"),
        ({"joint_stiffness": [1.0, float("nan")]}, "finite"),
        ({"control_dt": 0.0}, "control_dt"),
        ({"action_semantics": "torque", "effort_limit": None}, "effort_limit"),
        ({"observation_terms": [{"name": "x", "size": 4}]}, "add up to 4"),
        (
            {
                "joint_names": ["a", "b", "c"],
                "default_joint_pos": [0, 0, 0],
                "action_scale": [1, 1, 1],
                "joint_stiffness": [1, 1, 1],
                "joint_damping": [1, 1, 1],
                "effort_limit": [1, 1, 1],
                "velocity_limit": None,
            },
            "3 joints but the action space has 2",
        ),
    ],
)
def test_inconsistent_contracts_are_refused(changes: dict, match: str) -> None:
    with pytest.raises(MetadataError, match=match):
        metadata(**changes)


def test_flat_keys_that_disagree_with_deploy_are_refused() -> None:
    props = metadata().to_metadata_props()
    PolicyMetadata.from_metadata_props({**props, "joint_stiffness": "20,30.0000001"})  # same numbers
    with pytest.raises(MetadataError, match="joint_names"):
        PolicyMetadata.from_metadata_props({**props, "joint_names": "knee,hip"})
    with pytest.raises(MetadataError, match="joint_damping"):
        PolicyMetadata.from_metadata_props({**props, "joint_damping": "0.5,0.7"})


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A PPO model of a position-controlled arm task, trained for one rollout and exported."""
    from stable_baselines3 import PPO

    from clankers.envs import make_env
    from clankers.export import export_sb3

    folder = tmp_path_factory.mktemp("deploy")
    task = folder / "arm_hold.toml"
    task.write_text(TASK.format(urdf=asset_path("urdf/two_link_arm.urdf")))
    model = PPO(
        "MlpPolicy",
        make_env(str(task)),
        n_steps=64,
        batch_size=64,
        n_epochs=1,
        seed=0,
        policy_kwargs={"net_arch": [16]},
    )
    model.learn(64)
    model.save(folder / "model.zip")
    export_sb3(
        folder / "model.zip", folder / "policy.onnx", env=str(task), n_samples=200, n_episode_states=40
    )
    return task, folder / "policy.onnx"


def test_export_writes_the_tasks_contract_and_the_runtime_uses_it(exported: tuple[Path, Path]) -> None:
    from clankers.policy import OnnxPolicy

    _, path = exported
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["joint_names"] == "j1_shoulder,j2_elbow"
    assert props["observation_names"] == "joint_position,joint_velocity"
    policy = OnnxPolicy(path)
    deploy = policy.deploy
    assert deploy is not None and deploy.action_semantics == "position"
    assert deploy.default_joint_pos == [0.0, 0.5]
    assert deploy.action_scale == [0.3, 0.3]
    assert (deploy.joint_stiffness, deploy.joint_damping) == ([40.0, 15.0], [1.0, 1.0])
    assert deploy.effort_limit == [12.0, 5.0] and deploy.velocity_limit == [20.0, 20.0]
    assert (deploy.control_dt, deploy.physics_dt, deploy.base) == (0.02, 0.002, "fixed")
    assert deploy.gravity_compensation is True  # the task feeds gravity forward: a robot must too
    action = policy.act(np.zeros(4, dtype=np.float32))
    np.testing.assert_allclose(policy.joint_targets(action), np.array([0.0, 0.5]) + 0.3 * action, rtol=1e-6)


def test_check_shows_and_accepts_the_contract(exported: tuple[Path, Path]) -> None:
    from clankers.policy.check import check_policy

    report = check_policy(exported[1])
    assert report.conforms, [f.message for f in report.failures]
    for key in ("deploy", "joint_names", "joint_stiffness", "observation_names"):
        assert key in report.metadata
        assert f"metadata {key}" not in {f.subject for f in report.failures + report.warnings}
    assert "joint_names" in report.to_text(width=200)


def test_check_refuses_gravity_compensation_under_an_older_version(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    from clankers.policy.check import check_policy

    model = onnx.load(str(exported[1]))
    for prop in model.metadata_props:
        if prop.key == "clanker_policy_version":
            prop.value = "1.2.0"
    path = tmp_path / "old.onnx"
    onnx.save(model, str(path))
    failures = [
        f.message for f in check_policy(path).failures if f.subject == "metadata clanker_policy_version"
    ]
    assert failures and "declares 1.2.0 but uses format 1.3.0" in failures[0]
