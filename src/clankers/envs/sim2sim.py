"""Sim-to-sim: does a policy still walk when the physics is not the one it was trained in?

Before a policy meets a real robot, the field's habit is to run it in a *second* simulator setting: a
smaller physics step and another integrator, more or less grip, a payload, shoves. A policy that only
works in its training physics has overfitted the simulator. :func:`sim2sim` runs one policy (any
``act(observations[N, n]) -> actions[N, m]``, e.g. an ONNX file through onnxruntime) on a locomotion task
under each :class:`Setting` and reports forward speed and falls per setting:

| setting (default list)  | what changes                                                          |
|-------------------------|-----------------------------------------------------------------------|
| `nominal`               | the task's physics, domain randomization off                          |
| `2 ms implicitfast`     | physics step 2 ms (10 substeps), MuJoCo's implicit-in-velocity integrator |
| `1 ms rk4`              | physics step 1 ms (20 substeps), 4th-order Runge-Kutta                |
| `friction x0.5`         | every contact's sliding friction halved (all geoms, ground included)  |
| `friction x1.5`         | ... and 1.5x                                                          |
| `payload +2 kg`         | 2 kg added to the base body (inertia scaled with it)                  |
| `pushes 40 N`           | 40 N horizontal shoves of 0.1 s on the base, every 2 s on average     |

The control period (the policy's rate) never changes. Episodes use the task's evaluation command
(``command="evaluation"``, e.g. walk forward at 0.5 m/s) and seeds ``seed, seed + 1, ...``, the same in
every setting. Forward speed is the base's displacement along its initial heading divided by the time
the episode lasted; a fall is an episode that terminated (the task's termination terms fired) before
``duration``. Everything runs in-process on :class:`~clankers.envs.vector.ClankersVectorEnv` (one env per
episode), without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import mujoco
import numpy as np

from clankers.errors import ConfigError

Act = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Setting:
    """One physics setting of the check (see the module table for the defaults)."""

    name: str
    physics_dt: float | None = None
    integrator: Literal["euler", "implicitfast", "rk4"] | None = None
    friction_scale: float = 1.0
    payload_kg: float = 0.0
    push_force: float = 0.0  # N; pushes on the base body when > 0
    push_interval: float = 2.0  # s between pushes, on average
    push_duration: float = 0.1  # s


DEFAULT_SETTINGS: tuple[Setting, ...] = (
    Setting("nominal"),
    Setting("2 ms implicitfast", physics_dt=0.002, integrator="implicitfast"),
    Setting("1 ms rk4", physics_dt=0.001, integrator="rk4"),
    Setting("friction x0.5", friction_scale=0.5),
    Setting("friction x1.5", friction_scale=1.5),
    Setting("payload +2 kg", payload_kg=2.0),
    Setting("pushes 40 N", push_force=40.0),
)


@dataclass
class SettingResult:
    """What one setting's episodes did."""

    setting: Setting
    speeds: list[float] = field(default_factory=list)  # m/s along the initial heading, per episode
    lateral: list[float] = field(default_factory=list)  # m/s sideways (drift), per episode
    durations: list[float] = field(default_factory=list)  # s each episode lasted
    falls: int = 0

    @property
    def episodes(self) -> int:
        return len(self.speeds)

    @property
    def mean_speed(self) -> float:
        return float(np.mean(self.speeds)) if self.speeds else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting.name,
            "episodes": self.episodes,
            "mean_speed": self.mean_speed,
            "std_speed": float(np.std(self.speeds)) if self.speeds else float("nan"),
            "mean_lateral": float(np.mean(self.lateral)) if self.lateral else float("nan"),
            "falls": self.falls,
            "mean_duration": float(np.mean(self.durations)) if self.durations else float("nan"),
        }


def _make_envs(task: Any, setting: Setting, episodes: int, duration_steps: int) -> Any:
    from clankers.envs.tasks import TaskEnv
    from clankers.envs.vector import ClankersVectorEnv
    from clankers.sim import SimConfig

    config = task.config
    if config.locomotion is None:
        raise ConfigError(
            f"sim2sim measures walking: task {task.name!r} has no [locomotion] section",
            hint="run it on a locomotion task, e.g. --env go1_velocity",
        )
    sim = config.sim
    sim_config = SimConfig(
        physics_dt=setting.physics_dt or sim.physics_dt,
        control_dt=sim.control_dt,
        gravity=sim.gravity,
        integrator=setting.integrator or sim.integrator,
    )
    update: dict[str, Any] = {"randomization": None, "max_episode_steps": duration_steps}
    if setting.push_force > 0:
        probe = TaskEnv(config.model_copy(update=update), sim_config=sim_config)
        base_name = probe.sim.model.body(probe.robot.base_body).name
        probe.close()
        update["randomization"] = {
            "push": {
                "bodies": [base_name],
                "force": setting.push_force,
                "interval": setting.push_interval,
                "duration": setting.push_duration,
            }
        }
    variant = config.model_copy(update=update)

    def factory() -> TaskEnv:
        return TaskEnv(variant, sim_config=sim_config, command="evaluation")

    venv = ClankersVectorEnv(factory, episodes, autoreset_mode="NextStep")
    for env in venv.envs:
        _perturb(env, setting)
    return venv


def _perturb(env: Any, setting: Setting) -> None:
    """Friction and payload: changed in the env's own model copy (its randomizer, if any, keeps them)."""
    model, data = env.sim.model, env.sim.data
    if setting.friction_scale != 1.0:
        model.geom_friction[:, 0] *= setting.friction_scale
    if setting.payload_kg:
        base = env.robot.base_body
        mass = float(model.body_mass[base])
        model.body_inertia[base] *= (mass + setting.payload_kg) / mass
        model.body_mass[base] = mass + setting.payload_kg
        mujoco.mj_setConst(model, data)
    randomizer = getattr(env, "_randomizer", None)
    if randomizer is not None:  # its restore() at every reset must restore the perturbed values
        randomizer._nominal["geom_friction"] = model.geom_friction.copy()
        randomizer._nominal["body_mass"] = model.body_mass.copy()
        randomizer._nominal["body_inertia"] = model.body_inertia.copy()


def run_setting(
    act: Act, task: Any, setting: Setting, episodes: int = 5, duration: float = 10.0, seed: int = 0
) -> SettingResult:
    """``episodes`` episodes of ``duration`` seconds under ``setting`` (see the module docstring)."""
    if episodes < 1 or duration <= 0:
        raise ConfigError(f"episodes ({episodes}) must be >= 1 and duration ({duration}) > 0")
    control_dt = task.config.sim.control_dt
    steps = max(1, round(duration / control_dt))
    venv = _make_envs(task, setting, episodes, steps)
    try:
        obs, _ = venv.reset(seed=[seed + i for i in range(episodes)])
        bases = [env.sim.base for env in venv.envs]
        start = np.array(
            [
                env.sim.data.qpos[b.qpos_address : b.qpos_address + 2]
                for env, b in zip(venv.envs, bases, strict=True)
            ]
        )
        heading = np.array(
            [
                _yaw(env.sim.data.qpos[b.qpos_address + 3 : b.qpos_address + 7])
                for env, b in zip(venv.envs, bases, strict=True)
            ]
        )
        forward = np.stack([np.cos(heading), np.sin(heading)], axis=1)
        left = np.stack([-np.sin(heading), np.cos(heading)], axis=1)
        end = start.copy()
        lasted = np.full(episodes, steps, dtype=np.int64)
        live = np.ones(episodes, dtype=np.bool_)
        fell = np.zeros(episodes, dtype=np.bool_)
        for t in range(1, steps + 1):
            actions = np.asarray(act(obs), dtype=np.float64).reshape(episodes, -1)
            obs, _, terminated, truncated, _ = venv.step(np.clip(actions, -1.0, 1.0))
            for i in np.flatnonzero(live):
                b = bases[i]
                end[i] = venv.envs[i].sim.data.qpos[b.qpos_address : b.qpos_address + 2]
                if terminated[i] or truncated[i]:
                    live[i] = False
                    lasted[i] = t
                    fell[i] = bool(terminated[i]) and t < steps
            if not live.any():
                break
    finally:
        venv.close()
    seconds = lasted * control_dt
    moved = end - start
    result = SettingResult(setting)
    result.speeds = (np.sum(moved * forward, axis=1) / seconds).tolist()
    result.lateral = (np.sum(moved * left, axis=1) / seconds).tolist()
    result.durations = seconds.tolist()
    result.falls = int(fell.sum())
    return result


def _yaw(quat: np.ndarray) -> float:
    w, x, y, z = (float(v) for v in quat)
    return float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))


def sim2sim(
    act: Act,
    task: str,
    settings: Sequence[Setting] = DEFAULT_SETTINGS,
    episodes: int = 5,
    duration: float = 10.0,
    seed: int = 0,
    progress: Callable[[SettingResult], None] | None = None,
) -> list[SettingResult]:
    """Run ``act`` on ``task`` (any form :func:`clankers.envs.resolve_task` accepts) under every setting."""
    from clankers.envs import find_task

    entry = find_task(task)
    if entry is None:
        raise ConfigError(
            f"{task!r} is not a clankers task", hint="pass a locomotion task, e.g. go1_velocity"
        )
    results = []
    for setting in settings:
        result = run_setting(act, entry, setting, episodes=episodes, duration=duration, seed=seed)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


__all__ = ["DEFAULT_SETTINGS", "Setting", "SettingResult", "run_setting", "sim2sim"]
