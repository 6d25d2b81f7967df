"""Cost of the simulation components, against the bare fast path, in one process, interleaved.

Cart-pole, 20 substeps of 1 ms per control step:

- control step: the plain normalized motor (one ``mj_step(nstep=20)``), against the actuator pipeline on
  the cart joint (20 ``mj_step`` calls plus 20 pipeline evaluations) with an ideal direct-drive motor and
  with the full hobby-servo model (DC motor with lag, backlash, Stribeck friction);
- the six-DOF arm with every joint on the industrial-joint preset, against its fast path;
- sensor reads: joint state alone (no refresh), and with an IMU (one ``mj_forward`` refresh) plus noise;
- one episode's domain randomization (masses, damping, gravity), and a 64x64 RGB camera frame.

    python -m benchmarks.run sim_components
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import compare, machine_line, us
from clankers.sim import Simulation, asset_path, load_robot
from clankers.sim.noise import mems_accelerometer, mems_gyro
from clankers.sim.randomization import DomainRandomizer
from clankers.sim.sensors import IMU, Camera, JointState, SensorSuite, gl_available


def _stepper(sim: Simulation):
    command = np.array([0.3] + [0.1] * (sim.n_joints - 1))
    sim.reset()

    def step() -> None:
        sim.step(command)
        if sim.time > 5.0:
            sim.reset()

    return step


def _physics_rows() -> list[str]:
    cartpole = load_robot(asset_path("urdf/cartpole.urdf"))
    alternatives = {
        "cart-pole, plain motor (fast path)": _stepper(Simulation(cartpole)),
        "cart-pole, pipeline: direct drive": _stepper(
            Simulation(cartpole, actuators={"cart_slide": "direct_drive"})
        ),
        "cart-pole, pipeline: hobby servo": _stepper(
            Simulation(
                cartpole, actuators={"cart_slide": {"preset": "hobby_servo", "control": {"mode": "torque"}}}
            )
        ),
    }
    arm_path = asset_path("urdf/six_dof_arm.urdf")
    if arm_path.exists():
        arm = load_robot(arm_path)
        alternatives["six-DOF arm, plain motors (fast path)"] = _stepper(Simulation(arm))
        alternatives["six-DOF arm, pipeline: industrial joint x6"] = _stepper(
            Simulation(arm, actuators={"*": "industrial_joint"})
        )
    times = compare(alternatives, number=200, rounds=9)
    base = times["cart-pole, plain motor (fast path)"]
    rows = [
        "| control step (20 x 1 ms) | time | vs cart-pole fast path | per substep over fast path |",
        "|---|---|---|---|",
    ]
    for name, t in times.items():
        reference = times["six-DOF arm, plain motors (fast path)"] if name.startswith("six") else base
        rows.append(f"| {name} | {us(t)} | {t / base:.2f}x | {us((t - reference) / 20)} |")
    return rows


def _sensor_rows() -> list[str]:
    robot = load_robot(asset_path("urdf/cartpole.urdf"))
    sim = Simulation(robot)
    sim.reset(qpos=np.array([0.0, 0.1]))
    joints = SensorSuite([JointState("joints")], sim.model, sim.layout)
    imu = SensorSuite(
        [JointState("joints"), IMU("imu", body="pole")],
        sim.model,
        sim.layout,
        noise={"imu": {"accel_*": mems_accelerometer(), "gyro_*": mems_gyro()}},
    )
    imu.reset(np.random.default_rng(0))
    out = np.empty(imu.size)
    randomizer = DomainRandomizer(
        {
            "link_mass": {"*": {"scale": [0.8, 1.2]}},
            "joint_damping": {"*": {"uniform": [0.0, 0.1]}},
            "gravity": {"z": {"gaussian": [-9.81, 0.1]}},
        },
        Simulation(robot),
    )
    rng = np.random.default_rng(1)
    alternatives = {
        "read joint state (4 values)": lambda: joints.read(sim.model, sim.data),
        "read joint state + IMU with MEMS noise (mj_forward refresh)": lambda: imu.read(
            sim.model, sim.data, out
        ),
        "domain randomization of one episode (3 kinds, 5 values)": lambda: randomizer.reset(rng),
    }
    reason = gl_available()
    camera = None
    if reason is None:
        camera = Camera("cam", width=64, height=64, lookat=(0, 0, 0.5), distance=3.0)
        camera.bind(sim.model)
        alternatives["camera: one 64x64 RGB frame (EGL)"] = lambda: camera.render(sim.data)
    times = compare(alternatives, number=100, rounds=7)
    if camera is not None:
        camera.close()
    rows = ["| operation | time |", "|---|---|"]
    rows += [f"| {name} | {us(t)} |" for name, t in times.items()]
    if reason is not None:
        rows.append(f"| camera | skipped: {reason} |")
    return rows


def main() -> str:
    lines = [
        "## Simulation components (actuators, sensors, randomization)",
        "",
        f"Machine: {machine_line()}. Medians of interleaved rounds; `python -m benchmarks.run sim_components`.",
        "",
        *_physics_rows(),
        "",
        *_sensor_rows(),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
