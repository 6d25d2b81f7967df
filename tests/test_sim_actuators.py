"""The actuator pipeline obeys its documented equations, stage by stage and inside MuJoCo.

Stage tests drive :class:`ActuatorPipeline` with chosen positions/velocities and compare against the
equations of ``docs/simulation.md``. Integration tests put one actuated joint on a rotor of known inertia
(vertical axis, so gravity exerts no torque) and compare the simulated motion with closed-form solutions;
tolerances allow the first-order error of semi-implicit Euler at 1 ms.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clankers.errors import ConfigError
from clankers.sim import SimConfig, Simulation, load_robot
from clankers.sim.actuators import (
    ACTUATOR_PRESETS,
    TRANSMISSION_PRESETS,
    ActuatorConfig,
    ActuatorPipeline,
    DCMotor,
    Friction,
    FullDCMotor,
    IdealMotor,
    PositionControl,
    TorqueControl,
    Transmission,
    VelocityControl,
    actuator_config,
    resolve_actuators,
)

INERTIA = 0.1  # kg m^2 about the rotor axis
DT = 0.001

ROTOR_URDF = """<?xml version="1.0"?>
<robot name="rotor">
  <link name="base"/>
  <link name="disc"><inertial><mass value="1"/>
    <inertia ixx="0.05" iyy="0.05" izz="{inertia}" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <joint name="spin" type="{kind}"><parent link="base"/><child link="disc"/><axis xyz="0 0 1"/>
    <limit lower="-3" upper="1" effort="5"/></joint>
</robot>
"""


@pytest.fixture(scope="module")
def rotor(tmp_path_factory: pytest.TempPathFactory):
    path = Path(tmp_path_factory.mktemp("rotor")) / "rotor.urdf"
    path.write_text(ROTOR_URDF.format(inertia=INERTIA, kind="continuous"))
    return load_robot(path, SimConfig(physics_dt=DT, control_dt=0.01))


def pipeline(
    config: ActuatorConfig, effort: float = 5.0, lower=-math.inf, upper=math.inf
) -> ActuatorPipeline:
    return ActuatorPipeline([config], [effort], [lower], [upper], DT)


def joint_inertia(config: ActuatorConfig) -> float:
    """Rotor inertia plus the motor's reflected inertia J_m N^2 (the pipeline adds it as armature)."""
    return INERTIA + config.transmission.motor_inertia * config.transmission.gear_ratio**2


def run(sim: Simulation, command: float, seconds: float) -> None:
    for _ in range(round(seconds / (sim.substeps * DT))):
        sim.step(np.array([command]))


# --- motors ---------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(demand=st.floats(-20, 20), speed=st.floats(-60, 60))
def test_ideal_motor_torque_falls_linearly_to_zero_at_max_velocity_when_driving(demand, speed):
    p = pipeline(ActuatorConfig(motor=IdealMotor(max_torque=4.0, max_velocity=50.0)))
    torque = p.motor(np.array([demand]), np.array([speed]))[0]
    driving = demand * speed > 0
    limit = 4.0 * max(0.0, 1 - abs(speed) / 50.0) if driving else 4.0
    assert torque == pytest.approx(float(np.clip(demand, -limit, limit)), abs=1e-12)


def test_dc_motor_envelope_and_first_order_lag():
    motor = DCMotor(stall_torque=2.0, no_load_speed=100.0, time_constant=0.01)
    p = pipeline(ActuatorConfig(motor=motor))
    # At half the no-load speed, full forward demand gets half the stall torque after the lag settles;
    # the k-th step of an exact first-order lag reaches target * (1 - exp(-k dt / tau)).
    for k in range(1, 6):
        torque = p.motor(np.array([10.0]), np.array([50.0]))[0]
        assert torque == pytest.approx(1.0 * (1 - math.exp(-k * DT / 0.01)), rel=1e-12)
    for _ in range(200):
        torque = p.motor(np.array([10.0]), np.array([50.0]))[0]
    assert torque == pytest.approx(1.0, rel=1e-6)
    # Reverse demand at +50 rad/s: -stall (1 + 0.5) = -3 is beyond the current limit, so -stall.
    for _ in range(500):
        torque = p.motor(np.array([-10.0]), np.array([50.0]))[0]
    assert torque == pytest.approx(-2.0, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(speed=st.floats(-500, 500), demand=st.floats(-5, 5))
def test_full_dc_motor_steady_state_obeys_ohm_and_back_emf(speed, demand):
    motor = FullDCMotor(resistance=0.5, inductance=0.0, back_emf=0.1, voltage_limit=24.0, current_limit=30.0)
    p = pipeline(ActuatorConfig(motor=motor))
    torque = p.motor(np.array([demand]), np.array([speed]))[0]
    voltage = np.clip(0.5 * demand / 0.1 + 0.1 * speed, -24, 24)
    current = np.clip((voltage - 0.1 * speed) / 0.5, -30, 30)
    assert torque == pytest.approx(0.1 * current, abs=1e-9)
    assert motor.stall_torque == pytest.approx(3.0) and motor.no_load_speed == pytest.approx(240.0)


def test_full_dc_motor_current_rises_with_time_constant_l_over_r():
    motor = FullDCMotor(resistance=1.0, inductance=0.01, back_emf=0.1, voltage_limit=12.0)
    p = pipeline(ActuatorConfig(motor=motor))
    torques = [p.motor(np.array([0.5]), np.array([0.0]))[0] for _ in range(10)]
    expected = [0.5 * (1 - math.exp(-(k + 1) * DT / 0.01)) for k in range(10)]
    np.testing.assert_allclose(torques, expected, rtol=1e-9)


# --- controllers and command mapping -------------------------------------------------------------------


def test_position_command_maps_onto_joint_limits():
    p = pipeline(ActuatorConfig(control=PositionControl(kp=1.0)), lower=-3.0, upper=1.0)
    np.testing.assert_allclose(p.set_command(np.array([-1.0])), [-3.0])
    np.testing.assert_allclose(p.set_command(np.array([0.5])), [0.0])
    np.testing.assert_allclose(p.set_command(np.array([7.0])), [1.0])  # clipped to [-1, 1] first


def test_pid_integral_and_output_limits():
    control = PositionControl(kp=10.0, ki=100.0, kd=2.0, output_limit=8.0, integral_limit=3.0)
    p = pipeline(ActuatorConfig(control=control))
    p.set_target(np.array([0.5]))
    # kp e - kd v = 5 - 1 = 4 plus the integral term 100 * 0.5 * dt = 0.05
    tau = p.controller(np.array([0.0]), np.array([0.5]))[0]
    assert tau == pytest.approx(4.05)
    for _ in range(1000):
        p.controller(np.array([0.0]), np.array([0.0]))
    assert p.ki[0] * p.integral[0] == pytest.approx(3.0)  # anti-windup: the integral term stops at 3 N m
    assert p.controller(np.array([0.0]), np.array([0.0]))[0] == pytest.approx(8.0)  # 5 + 3 clipped at 8


def test_velocity_controller_damps_measured_acceleration():
    p = pipeline(ActuatorConfig(control=VelocityControl(kp=2.0, kd=0.1, max_velocity=10.0)))
    p.set_command(np.array([0.5]))  # 5 rad/s
    p.controller(np.array([0.0]), np.array([1.0]))
    tau = p.controller(np.array([0.0]), np.array([1.2]))[0]
    assert tau == pytest.approx(2.0 * (5 - 1.2) - 0.1 * (0.2 / DT))


def test_velocity_control_needs_a_finite_speed():
    with pytest.raises(ConfigError, match="max_velocity"):
        pipeline(ActuatorConfig(control=VelocityControl(kp=1.0)))


# --- inside MuJoCo: closed-form motions ----------------------------------------------------------------


def test_torque_control_through_gearbox_accelerates_rotor(rotor):
    config = ActuatorConfig(
        motor=IdealMotor(max_torque=0.2), transmission=Transmission(gear_ratio=10.0, efficiency=0.8)
    )
    sim = Simulation(rotor, actuators={"spin": config})
    sim.reset()
    run(sim, 0.5, 0.5)  # half of the peak joint torque 10 * 0.8 * 0.2 = 1.6 N m
    assert joint_inertia(config) == pytest.approx(0.101)  # 1e-5 kg m^2 rotor x 10^2
    assert sim.model.dof_armature[0] == pytest.approx(0.001)
    assert sim.joint_velocities()[0] == pytest.approx(0.8 * 0.5 / joint_inertia(config), rel=1e-6)
    assert sim.data.qfrc_actuator[0] == pytest.approx(0.8)


def test_ideal_motor_speed_limit_sets_terminal_velocity(rotor):
    config = ActuatorConfig(motor=IdealMotor(max_torque=1.0, max_velocity=20.0))
    sim = Simulation(rotor, actuators={"spin": config})
    sim.reset()
    run(sim, 1.0, 3.0)  # dv/dt = (1 - v/20) / I: v -> 20 with time constant 2 s... 3 s gives 1 - e^-1.5
    expected = 20.0 * (1 - math.exp(-3.0 / (20.0 * joint_inertia(config))))
    assert sim.joint_velocities()[0] == pytest.approx(expected, rel=2e-3)


def test_dc_motor_reaches_joint_side_no_load_speed(rotor):
    config = ActuatorConfig(
        motor=DCMotor(stall_torque=0.05, no_load_speed=300.0),
        transmission=Transmission(gear_ratio=30.0),
    )
    sim = Simulation(rotor, actuators={"spin": config})
    sim.reset()
    run(sim, 1.0, 1.0)  # dv/dt = N T_s (1 - N v / w0) / I: time constant I w0 / (N^2 T_s) = 0.73 s
    time_constant = joint_inertia(config) * 300.0 / (900.0 * 0.05)
    assert sim.joint_velocities()[0] == pytest.approx(10.0 * (1 - math.exp(-1.0 / time_constant)), rel=2e-3)


def test_full_dc_motor_without_inductance_equals_dc_motor_with_same_corners(rotor):
    # Stall torque k V / R = 0.1 * 12 / 2 = 0.6 N m, no-load speed V / k = 120 rad/s: the same line.
    full = FullDCMotor(resistance=2.0, inductance=0.0, back_emf=0.1, voltage_limit=12.0)
    simple = DCMotor(stall_torque=0.6, no_load_speed=120.0)
    speeds = []
    for motor in (full, simple):
        config = ActuatorConfig(motor=motor, transmission=Transmission(gear_ratio=12.0, motor_inertia=1e-5))
        sim = Simulation(rotor, actuators={"spin": config})
        sim.reset()
        run(sim, 1.0, 0.5)
        speeds.append(sim.joint_velocities()[0])
    time_constant = joint_inertia(config) * 120.0 / (144.0 * 0.6)  # I w0 / (N^2 T_s)
    assert speeds[0] == pytest.approx(speeds[1], rel=1e-9)
    assert speeds[0] == pytest.approx(10.0 * (1 - math.exp(-0.5 / time_constant)), rel=2e-3)


def test_velocity_control_is_a_first_order_lag(rotor):
    kp = 0.5  # I dv/dt = kp (v* - v): v = v* (1 - exp(-kp t / I))
    config = ActuatorConfig(
        motor=IdealMotor(max_torque=100.0), control=VelocityControl(kp=kp, max_velocity=10.0)
    )
    sim = Simulation(rotor, actuators={"spin": config})
    sim.reset()
    run(sim, 0.4, 0.2)  # target 4 rad/s
    expected = 4.0 * (1 - math.exp(-kp * 0.2 / joint_inertia(config)))
    assert sim.joint_velocities()[0] == pytest.approx(expected, rel=3e-3)


def test_position_pd_matches_damped_oscillator(rotor):
    kp, kd = 4.0, 0.4  # I q'' = kp (q* - q) - kd q': w_n = sqrt(40), zeta = kd / (2 sqrt(kp I)) = 0.316
    config = ActuatorConfig(motor=IdealMotor(max_torque=100.0), control=PositionControl(kp=kp, kd=kd))
    sim = Simulation(rotor, actuators={"spin": config})
    sim.reset()
    target = 0.3 * math.pi  # unlimited joint: command 0.3 -> 0.3 pi
    inertia = joint_inertia(config)
    wn, zeta = math.sqrt(kp / inertia), kd / (2 * math.sqrt(kp * inertia))
    wd = wn * math.sqrt(1 - zeta**2)
    times, errors = [], []
    for _ in range(100):
        sim.step(np.array([0.3]))
        t = sim.time
        analytic = target * (
            1
            - math.exp(-zeta * wn * t) * (math.cos(wd * t) + zeta / math.sqrt(1 - zeta**2) * math.sin(wd * t))
        )
        times.append(t)
        errors.append(sim.joint_positions()[0] - analytic)
    assert max(abs(e) for e in errors) < 0.01 * target


def test_viscous_friction_gives_terminal_velocity(rotor):
    config = ActuatorConfig(motor=IdealMotor(max_torque=1.0), friction=Friction(viscous=0.5))
    sim = Simulation(rotor, actuators={"spin": config})
    sim.reset()
    run(sim, 1.0, 2.0)  # v(t) = (tau / c) (1 - exp(-c t / I))
    expected = 2.0 * (1 - math.exp(-0.5 * 2.0 / joint_inertia(config)))
    assert sim.joint_velocities()[0] == pytest.approx(expected, rel=1e-3)


def test_stiction_holds_below_breakaway_and_coulomb_acts_above(rotor):
    friction = Friction(coulomb=0.3, stiction=0.6, stiction_velocity=0.01)
    config = ActuatorConfig(motor=IdealMotor(max_torque=1.0), friction=friction)
    sim = Simulation(rotor, actuators={"spin": config})
    sim.reset()
    run(sim, 0.5, 1.0)  # 0.5 N m < 0.6 N m breakaway
    assert abs(sim.joint_positions()[0]) < 5e-4  # a stiff constraint, not a lock: it creeps ~0.1 mrad/s
    sim.reset()
    run(sim, 0.9, 1.0)  # above breakaway: accelerates at (0.9 - 0.3) / I once moving
    assert sim.joint_velocities()[0] == pytest.approx((0.9 - 0.3) / joint_inertia(config) * 1.0, rel=0.02)


def test_backlash_delays_torque_by_gap_crossing_time(rotor):
    gap, motor_inertia, ratio = 0.02, 1e-4, 10.0
    config = ActuatorConfig(
        motor=IdealMotor(max_torque=0.1),
        transmission=Transmission(gear_ratio=ratio, backlash=gap, motor_inertia=motor_inertia),
    )
    sim = Simulation(rotor, actuators={"spin": config})
    sim.reset()
    run(sim, 1.0, 0.5)
    torque = 1.0  # N m at the joint
    # From the centre of the gap the input side travels gap / 2 under torque / (J N^2) before engaging.
    t_gap = math.sqrt(gap * motor_inertia * ratio**2 / torque)
    assert t_gap == pytest.approx(0.01414, rel=1e-3)  # 14 substeps without torque
    inertia = joint_inertia(config)  # 0.11: the rotor's 0.01 rides along (armature)
    expected = torque * (0.5 - t_gap) / inertia
    assert sim.joint_velocities()[0] == pytest.approx(expected, abs=torque * 2 * DT / inertia)
    assert sim.joint_velocities()[0] < torque * (0.5 - 0.01) / inertia  # visibly later than no backlash


def test_without_actuators_simulation_keeps_fast_path_and_shared_model(rotor):
    plain = Simulation(rotor)
    ideal = Simulation(rotor, actuators={"*": "ideal"})
    assert plain.actuators is None and ideal.actuators is None
    assert plain.model is rotor.model and ideal.model is rotor.model
    driven = Simulation(rotor, actuators={"spin": "direct_drive"})
    assert driven.model is not rotor.model and rotor.model.actuator_gear[0, 0] == 5.0


# --- presets and specs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ACTUATOR_PRESETS))
def test_every_preset_drives_a_joint(rotor, name):
    sim = Simulation(rotor, actuators={"spin": name})
    sim.reset()
    run(sim, 0.2, 0.2)
    assert np.isfinite(sim.joint_positions()).all()
    assert abs(sim.joint_positions()[0]) > 1e-4  # it moved


def test_preset_peak_torques_are_the_documented_ones():
    assert ACTUATOR_PRESETS["hobby_servo"].peak_joint_torque(0) == pytest.approx(1.0, rel=0.01)
    assert ACTUATOR_PRESETS["industrial_joint"].peak_joint_torque(0) == pytest.approx(150.0)
    assert ACTUATOR_PRESETS["quadruped_leg"].peak_joint_torque(0) == pytest.approx(17.1)
    assert ACTUATOR_PRESETS["quadruped_leg"].joint_speed_limit() == pytest.approx(40.0)
    assert set(TRANSMISSION_PRESETS) == {"harmonic", "planetary", "cycloidal"}


def test_dict_spec_overrides_preset_fields_and_gearbox():
    config = actuator_config(
        {"preset": "industrial_joint", "transmission": "cycloidal", "control": {"kp": 500.0}}
    )
    assert config.transmission == TRANSMISSION_PRESETS["cycloidal"]
    assert config.control.kp == 500.0 and config.control.ki == 200.0  # the rest of the preset's PID
    switched = actuator_config({"preset": "hobby_servo", "control": {"mode": "torque"}})
    assert isinstance(switched.control, TorqueControl)
    amended = actuator_config({"preset": "hobby_servo", "transmission": {"backlash": 0.0}})
    assert amended.transmission.gear_ratio == 200.0 and amended.transmission.backlash == 0.0


def test_resolve_by_pattern_then_exact_name():
    names = ["arm_a", "arm_b", "wrist"]
    configs = resolve_actuators(names, {"*": "direct_drive", "arm_*": "hobby_servo", "arm_b": "ideal"})
    assert configs["wrist"] == ACTUATOR_PRESETS["direct_drive"]
    assert configs["arm_a"] == ACTUATOR_PRESETS["hobby_servo"]
    assert configs["arm_b"] == ACTUATOR_PRESETS["ideal"]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"nope": "ideal"}, "matches no joint"),
        ({"spin": "warp_drive"}, "unknown actuator preset"),
        ({"spin": {"transmission": "belt"}}, "unknown transmission preset"),
        ({"spin": {"friction": {"coulomb": 1.0, "stiction": 0.5}}}, "stiction"),
        ({"spin": {"transmission": {"efficiency": 1.5}}}, "efficiency"),
        ({"spin": {"motor": {"kind": "dc", "stall_torque": -1, "no_load_speed": 1}}}, "stall_torque"),
    ],
)
def test_bad_specs_raise_config_error(spec, match):
    with pytest.raises(ConfigError, match=match):
        resolve_actuators(["spin"], spec)


@settings(max_examples=40, deadline=None)
@given(
    torques=st.lists(st.floats(-2, 2), min_size=1, max_size=60),
    speeds=st.lists(st.floats(-5, 5), min_size=60, max_size=60),
)
def test_backlash_state_stays_in_gap_and_passes_all_or_nothing(torques, speeds):
    config = ActuatorConfig(
        transmission=Transmission(gear_ratio=5.0, efficiency=0.9, backlash=0.02, motor_inertia=1e-4)
    )
    joint = pipeline(config).joints[0]
    for torque, speed in zip(torques, speeds, strict=False):
        out = joint.transmission(torque, speed)
        assert abs(joint.lead) <= 0.01 + 1e-15
        assert out == 0.0 or out == pytest.approx(4.5 * torque)
