"""Domain randomization: distributions, physical effect of each randomized quantity, readability, seeding.

Physics checks use closed forms: the gravity torque of a horizontal pendulum link is ``m g l`` (so it
follows randomized mass and gravity), a push of force F for time T changes a free slider's velocity by
``F_x T / m``, and a randomized motor strength scales the torque a joint receives.
"""

from __future__ import annotations

import math
from pathlib import Path

import mujoco
import numpy as np
import pytest

from clankers.errors import ConfigError
from clankers.sim import SimConfig, Simulation, load_robot
from clankers.sim.randomization import DomainRandomizer, Param, RandomizationSpec
from clankers.sim.seeding import RANDOMIZATION, SeedHierarchy

ROBOT_URDF = """<?xml version="1.0"?>
<robot name="rig">
  <link name="base"/>
  <link name="sled"><inertial><mass value="2"/>
    <inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><geometry><box size="0.1 0.1 0.1"/></geometry></collision></link>
  <link name="arm"><inertial><origin xyz="0.5 0 0"/><mass value="0.5"/>
    <inertia ixx="0.001" iyy="0.001" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0.5 0 0"/><geometry><sphere radius="0.05"/></geometry></collision></link>
  <joint name="slide" type="prismatic"><parent link="base"/><child link="sled"/><axis xyz="1 0 0"/>
    <limit lower="-100" upper="100" effort="10"/></joint>
  <joint name="swing" type="continuous"><parent link="sled"/><child link="arm"/><axis xyz="0 1 0"/>
    <limit effort="5"/></joint>
</robot>
"""


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory):
    path = Path(tmp_path_factory.mktemp("rig")) / "rig.urdf"
    path.write_text(ROBOT_URDF)
    return load_robot(path, SimConfig(physics_dt=0.001, control_dt=0.01))


def rng(seed: int = 0) -> np.random.Generator:
    return SeedHierarchy(seed).generator(0, 0, RANDOMIZATION)


# --- distributions --------------------------------------------------------------------------------------


def test_short_forms_expand_to_distributions():
    assert Param.parse(3.0) == Param(kind="fixed", value=3.0)
    assert Param.parse({"scale": [0.8, 1.2]}) == Param(kind="uniform", low=0.8, high=1.2, operation="scale")
    assert Param.parse({"add": [-1, 1]}).operation == "add"
    g = Param.parse({"gaussian": [1.0, 0.1], "low": 0.9})
    assert (g.kind, g.mean, g.std, g.low, g.operation) == ("gaussian", 1.0, 0.1, 0.9, "set")


def test_distribution_statistics():
    g = np.random.default_rng(0)
    n = 20_000
    uniform = Param.parse({"uniform": [2.0, 4.0]}).sample(g, n)
    assert uniform.min() >= 2.0 and uniform.max() <= 4.0 and uniform.mean() == pytest.approx(3.0, abs=0.02)
    logu = Param.parse({"log_uniform": [0.01, 100.0]}).sample(g, n)
    assert np.log10(logu).mean() == pytest.approx(0.0, abs=0.06)  # uniform in the exponent
    assert np.mean(logu < 1.0) == pytest.approx(0.5, abs=0.015)
    clipped = Param.parse({"gaussian": [0.0, 1.0], "low": -0.5, "high": 0.5}).sample(g, n)
    assert clipped.min() == -0.5 and clipped.max() == 0.5
    assert np.mean(clipped == 0.5) == pytest.approx(0.3085, abs=0.015)  # P(Z > 0.5)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"uniform": [2.0, 1.0]}, "low <= high"),
        ({"log_uniform": [0.0, 1.0]}, "low > 0"),
        ({"scale": [1.0]}, "pair"),
        ({"kind": "uniform"}, "finite low"),
        ({"gaussian": [0.0, -1.0]}, "std"),
    ],
)
def test_bad_params_raise_config_error(data, match):
    with pytest.raises(ConfigError, match=match):
        Param.parse(data)


# --- physical effect --------------------------------------------------------------------------------------


def gravity_torque(sim: Simulation) -> float:
    """Gravity's torque about the swing axis (+y) with the arm horizontal along +x: (0.5, 0, 0) x (0, 0, -m g)."""
    sim.reset()
    return -float(sim.data.qfrc_bias[sim.layout["swing"].qvel_index])  # MuJoCo's bias is minus the torque


def test_mass_and_gravity_randomization_change_static_torque_as_m_g_l(rig):
    sim = Simulation(rig)
    spec = {"link_mass": {"arm": {"scale": [0.5, 2.0]}}, "gravity": {"z": {"uniform": [-12.0, -8.0]}}}
    randomizer = DomainRandomizer(spec, sim)
    assert sim.model is not rig.model  # private copy: the shared robot model is never touched
    for episode in range(5):
        applied = randomizer.reset(SeedHierarchy(1).generator(0, episode, RANDOMIZATION))
        mass, g = applied["link_mass.arm"], -applied["gravity.z"]
        assert 0.25 <= mass <= 1.0 and 8.0 <= g <= 12.0
        assert gravity_torque(sim) == pytest.approx(mass * g * 0.5, rel=1e-9)
        # inertia scales with the mass (same shape, denser material)
        np.testing.assert_allclose(sim.model.body_inertia[2], rig.model.body_inertia[2] * mass / 0.5)
    randomizer.restore()
    assert gravity_torque(sim) == pytest.approx(0.5 * 9.81 * 0.5)
    assert rig.model.body_mass[2] == 0.5


def test_push_changes_slider_momentum_by_impulse(rig):
    sim = Simulation(rig)
    spec = {
        "push": {"bodies": ["sled"], "force": {"uniform": [10.0, 20.0]}, "interval": 1e-6, "duration": 0.05}
    }
    randomizer = DomainRandomizer(spec, sim)
    randomizer.reset(rng(3))
    sim.reset()
    total_mass = 2.5  # the arm rides along the slide
    randomizer.step(np.zeros(2))  # interval ~0: a push starts at once
    push = randomizer.pushes[0]
    assert push.body == "sled" and 10.0 <= math.hypot(*push.force[:2]) <= 20.0 and push.force[2] == 0.0
    assert push.duration == pytest.approx(0.05)
    for _ in range(4):
        randomizer.step(np.zeros(2))
    assert len(randomizer.pushes) == 1
    # 5 control steps of 10 ms under F_x: the x-momentum of sled + arm (the rail's reaction has no x
    # component and gravity is vertical) grows by exactly F_x * 0.05, however the arm swings meanwhile.
    mujoco.mj_forward(sim.model, sim.data)
    mujoco.mj_subtreeVel(sim.model, sim.data)
    momentum = sim.model.body_subtreemass[1] * sim.data.subtree_linvel[1, 0]
    assert sim.model.body_subtreemass[1] == pytest.approx(total_mass)
    # Semi-implicit Euler conserves this only to first order in dt while the arm swings (measured 8e-4).
    assert momentum == pytest.approx(push.force[0] * 0.05, rel=3e-3)
    randomizer.step(np.zeros(2))
    assert not sim.data.xfrc_applied.any()  # the push ended


def test_actuator_strength_scales_fast_path_gear_and_pipeline_torque(rig):
    spec = {"actuator_strength": {"*": {"scale": [0.5, 0.9]}}}
    plain = Simulation(rig)
    r1 = DomainRandomizer(spec, plain)
    applied = r1.reset(rng(4))
    plain.reset()
    plain.step(np.array([1.0, 0.0]))
    assert plain.data.qfrc_actuator[plain.layout["slide"].qvel_index] == pytest.approx(
        10.0 * applied["actuator_strength.slide"]
    )

    frictionless = {"preset": "direct_drive", "friction": {"coulomb": 0.0, "viscous": 0.0}}
    driven = Simulation(rig, actuators={"slide": frictionless})
    r2 = DomainRandomizer(spec | {"actuator_kp": {}}, driven)
    applied = r2.reset(rng(4))
    driven.reset()
    driven.step(np.array([0.5, 0.0]))
    assert driven.data.qfrc_actuator[0] == pytest.approx(0.5 * 20.0 * applied["actuator_strength.slide"])


def test_gains_damping_friction_and_actuation_noise_are_applied_and_logged(rig):
    sim = Simulation(rig, actuators={"swing": "quadruped_leg"})
    spec = RandomizationSpec(
        actuator_kp={"swing": Param.parse({"scale": [0.5, 1.5]})},
        actuator_kd={"swing": Param.parse(0.3)},
        joint_damping={"*": Param.parse({"log_uniform": [0.01, 1.0]})},
        friction={"sled": Param.parse({"uniform": [0.2, 0.4]})},
        actuation_noise=Param.parse({"uniform": [0.01, 0.02]}),
    )
    randomizer = DomainRandomizer(spec, sim)
    applied = randomizer.reset(rng(5))
    p = sim.actuators.pipeline
    assert p.kp[0] == applied["actuator_kp.swing"] and 10.0 <= p.kp[0] <= 30.0  # preset kp 20
    assert p.kd[0] == 0.3
    for joint in ("slide", "swing"):
        assert sim.model.dof_damping[sim.layout[joint].qvel_index] == applied[f"joint_damping.{joint}"]
    assert sim.model.geom_friction[sim.model.geom_bodyid == 1, 0] == pytest.approx(applied["friction.sled"])
    std = applied["actuation_noise"]
    noisy = np.array([randomizer.perturb_command(np.zeros(2)) for _ in range(4000)])
    assert noisy.std() == pytest.approx(std, rel=0.05)
    assert set(applied) == {
        "actuator_kp.swing",
        "actuator_kd.swing",
        "joint_damping.slide",
        "joint_damping.swing",
        "friction.sled",
        "actuation_noise",
    }


def test_same_seed_same_episode_values_different_episodes_differ(rig):
    spec = {"link_mass": {"*": {"scale": [0.8, 1.2]}}, "joint_damping": {"*": {"uniform": [0.0, 1.0]}}}
    a = DomainRandomizer(spec, Simulation(rig))
    b = DomainRandomizer(spec, Simulation(rig))
    seeds = SeedHierarchy(11)
    first = a.reset(seeds.generator(0, 0, RANDOMIZATION))
    assert b.reset(SeedHierarchy(11).generator(0, 0, RANDOMIZATION)) == first
    assert a.reset(seeds.generator(0, 1, RANDOMIZATION)) != first
    assert a.reset(seeds.generator(1, 0, RANDOMIZATION)) != first


def test_spec_errors_name_the_problem(rig):
    sim = Simulation(rig)
    with pytest.raises(ConfigError, match="matches no link"):
        DomainRandomizer({"link_mass": {"leg*": 1.0}}, sim)
    with pytest.raises(ConfigError, match="no actuator pipeline"):
        DomainRandomizer({"actuator_kp": {"slide": 1.0}}, sim)
    with pytest.raises(ConfigError, match="push body"):
        DomainRandomizer({"push": {"bodies": ["torso"], "force": 1.0, "interval": 1.0}}, sim)
    with pytest.raises(ConfigError, match="extra"):
        RandomizationSpec(link_masses={})
