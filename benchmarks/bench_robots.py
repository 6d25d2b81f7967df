"""Real robots: URDF import time of the corpus's largest robots, and the Go1 standing step under PD.

- Import: ``load_robot`` (clean the URDF, resolve packages, convert meshes, repair inertias, compile) of
  the biggest ``example-robot-data`` robots with visual geometry, median of 3 warm loads (converted
  meshes cached), and one cold load with an empty mesh cache (every COLLADA mesh converted). Target:
  the 29-DoF humanoid with meshes in under 2 s.
- Step: a floating Go1 standing on its home pose, 5 ms physics, 20 ms control (4 substeps, implicitfast),
  position actions (kp 100, kd 2). ``Simulation.step`` with the PD as MuJoCo servos, against bare
  ``mj_step(nstep=4)`` on the same model with the same targets already in ``ctrl`` (the physics alone),
  and against the PD evaluated in Python every substep (the actuator pipeline with an ideal motor).
  Target: Simulation.step <= 1.3x bare mj_step.

    python -m benchmarks.run robots
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import mujoco
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import compare, machine_line, us
from clankers.sim import RobotImportWarning, SimConfig, Simulation, load_robot
from clankers.sim.urdf import example_robot_data, read_srdf_states

LARGEST = [
    "g1_description/urdf/g1_29dof_rev_1_0.urdf",
    "g1_description/urdf/g1_29dof_with_hand_rev_1_0.urdf",
    "talos_data/robots/talos_full_v2.urdf",
    "romeo_description/urdf/romeo.urdf",
    "tiago_description/robots/tiago_dual.urdf",
    "anymal_b_simple_description/robots/anymal-kinova.urdf",
]


def _load(path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RobotImportWarning)
        return load_robot(path, **kwargs)  # type: ignore[arg-type]


def _import_rows(robots: Path) -> list[str]:
    rows = [
        "### URDF import (load_robot, visual geometry included)",
        "",
        "| robot | joints | meshes | warm (median of 3) | cold (empty mesh cache) |",
        "|---|---|---|---|---|",
    ]
    for name in LARGEST:
        path = robots / name
        _load(path)  # fill the mesh cache
        times = []
        for _ in range(3):
            start = time.perf_counter()
            robot = _load(path)
            times.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as cache:
            previous = os.environ.get("CLANKERS_CACHE_DIR")
            os.environ["CLANKERS_CACHE_DIR"] = cache
            try:
                start = time.perf_counter()
                _load(path)
                cold = f"{time.perf_counter() - start:.2f} s"
            finally:
                if previous is None:
                    os.environ.pop("CLANKERS_CACHE_DIR", None)
                else:
                    os.environ["CLANKERS_CACHE_DIR"] = previous
        rows.append(
            f"| {name.split('/')[-1]} | {len(robot.layout)} | {robot.model.nmesh} | "
            f"{statistics.median(times):.2f} s | {cold} |"
        )
    return rows


def _go1_rows(robots: Path) -> list[str]:
    home = read_srdf_states(robots / "go1_description/srdf/go1.srdf")["standing"]
    robot = _load(
        robots / "go1_description/urdf/go1.urdf",
        config=SimConfig(physics_dt=0.005, control_dt=0.02, integrator="implicitfast"),
        base="floating",
        home=home,
        visual=False,
    )
    action = {"kind": "position", "kp": 100.0, "kd": 2.0, "scale": 0.25}
    servo = Simulation(robot, action=action)
    python_pd = Simulation(
        robot, actuators={"*": {"control": {"mode": "position", "kp": 100.0, "kd": 2.0}}}, action=action
    )
    zero = np.zeros(len(robot.layout))

    def stepper(sim: Simulation):  # type: ignore[no-untyped-def]
        sim.reset()

        def step() -> None:
            sim.step(zero)
            if sim.time > 5.0:
                sim.reset()

        return step

    bare_model = servo.model
    bare = mujoco.MjData(bare_model)

    def reset_bare() -> None:
        mujoco.mj_resetData(bare_model, bare)
        bare.qpos[robot.layout.qpos_indices] = robot.home
        bare.ctrl[robot.layout.actuator_indices] = robot.home  # targets = home, as action 0 asks
        mujoco.mj_forward(bare_model, bare)

    reset_bare()

    def bare_step() -> None:
        mujoco.mj_step(bare_model, bare, nstep=4)
        if bare.time > 5.0:
            reset_bare()

    alternatives = {
        "bare mj_step(nstep=4), PD servos": bare_step,
        "Simulation.step, PD as MuJoCo servos": stepper(servo),
        "Simulation.step, PD in Python per substep": stepper(python_pd),
    }
    times = compare(alternatives, number=200, rounds=9)
    base = times["bare mj_step(nstep=4), PD servos"]
    rows = [
        "### Floating Go1 standing: cost per control step (20 ms = 4 x 5 ms physics)",
        "",
        "| step | per control step | vs bare mj_step |",
        "|---|---|---|",
    ]
    rows += [f"| {name} | {us(t)} | {t / base:.2f}x |" for name, t in times.items()]
    ratio = times["Simulation.step, PD as MuJoCo servos"] / base
    rows += [
        "",
        f"Target Simulation.step <= 1.3x bare mj_step: **{ratio:.2f}x** "
        f"({'met' if ratio <= 1.3 else 'missed'}); one physics substep of the standing Go1 costs "
        f"{us(base / 4)}.",
    ]
    return rows


def main() -> str:
    robots = example_robot_data()
    if robots is None:
        return "## Real robots\n\nexample-robot-data is not installed (pip install 'clankers[robots]')."
    lines = ["## Real robots: URDF import and the Go1 standing step", "", machine_line(), ""]
    lines += _import_rows(robots)
    lines += [""]
    lines += _go1_rows(robots)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
