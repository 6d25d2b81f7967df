"""The generic, config-driven environment: one class for every declared task.

Per step: validate the command, hold it for ``control_dt`` (``Simulation.step``), refresh the
:class:`~clankers.envs.tasks.state.TaskState` arrays in place, write every observation term into one
preallocated buffer, then evaluate the composite reward and termination. No name lookups or
allocations beyond a few small arrays happen in ``step``, and the instance shares nothing mutable with
other instances, so N copies can be stepped from N threads.

A task that runs batched (``batched`` in its file, see :mod:`clankers.envs.tasks.batch`) evaluates its
terms over ``[N, ...]`` arrays: this environment is then a batch of one, and a vector env of the task
evaluates every term once for all its environments.

Randomness comes from the seed hierarchy of :mod:`clankers.sim.seeding`: ``reset(seed=s)`` restarts
it at root ``s`` (``reset()`` moves on to the next episode), and each episode gives every subsystem its
own generator: ``randomization`` (model parameters, pushes, actuation noise), ``start_state`` (start
positions, then velocities), ``task`` (targets, in declaration order) and ``noise`` (observation noise). Adding noise to a sensor therefore never changes the start
states or targets of a seed. The same seed gives the same episodes bit for bit; another seed gives
other episodes. (Gymnasium's ``np_random`` is seeded too, for wrappers that use it.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from clankers.envs.tasks.batch import TaskBatch, runs_batched
from clankers.envs.tasks.config import TargetConfig, TaskConfig, load_task_config, require_urdf
from clankers.envs.tasks.locomotion import command_override
from clankers.envs.tasks.rewards import CompositeReward
from clankers.envs.tasks.scene import PlacedRobot, Scene, build_scene
from clankers.envs.tasks.state import PointTracker, TaskState
from clankers.envs.tasks.terminations import CompositeTermination, Timeout
from clankers.errors import ConfigError
from clankers.render import DEFAULT_HEIGHT, DEFAULT_WIDTH, Marker
from clankers.render.modes import RENDER_MODES, EnvRendering
from clankers.sim import SimConfig, Simulation, validate_command
from clankers.sim.noise import AxisNoise, build_noise
from clankers.sim.seeding import NOISE, RANDOMIZATION, START_STATE, TASK, EpisodeCounter, EpisodeSeeds

_MAX_TARGET_DRAWS = 100


def _uniform(rng: np.random.Generator, low: np.ndarray, span: np.ndarray) -> np.ndarray:
    """``rng.uniform(low, low + span)``, bit for bit (the same draws, the same arithmetic), without the
    argument checks that make ``Generator.uniform`` on arrays ~6x slower (20 us per call)."""
    return low + span * rng.random(low.shape)


def _term_scale(term: Any, label: str, size: int) -> float | np.ndarray | None:
    """An observation term's ``scale`` as a number or one per entry; None when it is 1."""
    scale = getattr(term, "scale", 1.0)
    if isinstance(scale, list):
        if len(scale) != size:
            raise ConfigError(
                f"observation {label!r} has {size} entries but {len(scale)} scales",
                hint="give one number for all entries or one per entry",
            )
        return None if all(v == 1.0 for v in scale) else np.array(scale, dtype=np.float64)
    return None if scale == 1.0 else float(scale)


class TaskEnv(gym.Env[np.ndarray, np.ndarray]):
    """A Gymnasium environment built from a :class:`~clankers.envs.tasks.config.TaskConfig`.

    ## Description
    Whatever the config declares (see :mod:`clankers.envs.tasks.config`): robots from URDF simulated
    by MuJoCo, start-state and target distributions, observation, reward and termination terms.

    ## Action Space
    ``Box(-1, 1, (n_joints,), float32)``: one normalized command per joint of the scene layout (robots
    in declaration order, each robot's joints alphabetical), scaled by the joint's URDF effort.
    ``action_slices[robot]`` is each robot's part. Commands outside [-1, 1] saturate; a wrong shape,
    NaN or inf raises :class:`clankers.errors.ActionError`.

    ## Observation Space
    ``Box(-inf, inf, (n,), float32)``: the observation terms grouped by robot;
    ``observation_names`` names every entry, ``observation_slices[term]`` and
    ``robot_observation_slices[robot]`` locate them.

    ## Rewards
    The weighted sum of the reward terms; ``info["reward_terms"]`` holds each weighted term.

    ## Starting State
    Joint positions and velocities drawn uniformly from the ``start`` ranges (positions clipped to the
    joint limits), then the targets, all from the generator seeded by ``reset(seed=...)``.

    ## Episode End
    - Termination: any non-timeout termination term fires (``info["termination"]`` lists them).
    - Truncation: after ``max_episode_steps`` control steps, enforced inside the environment.
    ``info["is_success"]`` reports the success condition at every step (SB3 reads it at episode end);
    a task without a ``success`` condition has no ``is_success`` key (never a false "failure").

    ## Arguments
    | argument            | default            | meaning                                             |
    |---------------------|--------------------|-----------------------------------------------------|
    | `config`            | required           | a TaskConfig, a mapping, or a .toml/.json file path |
    | `max_episode_steps` | the config's value | truncation horizon                                  |
    | `sim_config`        | the config's `sim` | physics/control timestep, gravity, integrator       |
    | `render_mode`       | None               | `rgb_array`, `depth_array` or `human` (a window)    |
    | `width`, `height`   | 640, 480           | frame size of `render()`                            |
    | `camera`            | None               | a model camera (name or id); None frames the robot  |
    | `command`           | None               | locomotion: a fixed command, ``"evaluation"`` or ``[vx, vy, yaw_rate]``; None draws them |
    | `visual`            | when rendering     | load the robots' visual geometry (only rendering needs it; the physics is the same) |
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 50}  # noqa: RUF012 - Gymnasium's convention

    def __init__(
        self,
        config: TaskConfig | Mapping[str, Any] | str | Path,
        *,
        max_episode_steps: int | None = None,
        sim_config: SimConfig | None = None,
        render_mode: str | None = None,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        camera: str | int | None = None,
        command: str | Sequence[float] | None = None,
        visual: bool | None = None,
    ) -> None:
        self.render_mode = render_mode
        self._rendering = EnvRendering(render_mode, width, height, camera, self._markers)
        self.config = cfg = load_task_config(config)
        if max_episode_steps is not None:
            if int(max_episode_steps) < 1:
                raise ConfigError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
            cfg = self.config = cfg.model_copy(update={"max_episode_steps": int(max_episode_steps)})
        self.max_episode_steps = cfg.max_episode_steps
        self._command = command_override(cfg.locomotion, command)
        self._batched = runs_batched(cfg)
        self._engine: TaskBatch | None = None
        self._row = 0
        sim = sim_config or cfg.sim
        self.metadata = {**self.metadata, "render_fps": round(1.0 / sim.control_dt)}

        self.scene: Scene = build_scene(
            [PlacedRobot(r.name, require_urdf(r), tuple(r.position), r.base, r.home) for r in cfg.robots],
            sim,
            name=cfg.name,
            visual=render_mode is not None if visual is None else visual,
        )
        self.robot = self.scene.robot
        self.layout = self.robot.layout
        self.sim = Simulation(self.robot, actuators=cfg.actuators or None, action=cfg.action)
        self._home = self.robot.home_pose  # start positions are drawn around it
        self._control_dt = sim.control_dt
        self._episodes = EpisodeCounter()
        self.episode_seeds: EpisodeSeeds | None = None
        self._noise_rng = np.random.default_rng(0)
        self._randomizer = None
        self.randomization_applied: dict[str, float] = {}
        if cfg.randomization:
            from clankers.sim.randomization import DomainRandomizer

            # Gives the simulation its own model copy, which then varies episode by episode.
            self._randomizer = DomainRandomizer(cfg.randomization, self.sim)
        n = len(self.layout)
        self.state = state = TaskState.for_scene(self.scene)
        state.sim = self.sim
        self._qpos_idx, self._qvel_idx = self.layout.qpos_indices, self.layout.qvel_indices
        data = self.sim.data
        # A scene whose joints are MuJoCo's whole qpos/qvel in order (hinges and slides only): the state
        # reads MuJoCo's arrays in place, so nothing is copied per step.
        self._state_in_place = np.array_equal(self._qpos_idx, np.arange(data.qpos.size)) and np.array_equal(
            self._qvel_idx, np.arange(data.qvel.size)
        )
        if self._state_in_place:
            state.qpos, state.qvel = data.qpos, data.qvel

        # Points and targets: register the live arrays first, so terms can bind to them.
        point_specs = []
        for point in cfg.points:
            robot = self.scene.resolve_robot(point.robot)
            state.points[point.name] = np.zeros(3)
            state.point_robots[point.name] = robot
            point_specs.append(
                (point.name, robot, self.scene.body_id(robot, point.body), np.array(point.offset))
            )
        self._points = PointTracker(state, point_specs)
        for target in cfg.targets:
            state.targets[target.name] = np.zeros(3)
            owner = target.robot or (state.point_robots.get(target.point) if target.point else None)
            state.target_robots[target.name] = owner
        self._target_samplers = [self._target_sampler(t) for t in cfg.targets]
        self._start_low, self._start_high = self._start_ranges()
        self._lower = np.array([j.lower for j in self.layout])
        self._upper = np.array([j.upper for j in self.layout])

        self._success = cfg.success.bind(state) if cfg.success is not None else None
        if not self._batched:
            self._reward = CompositeReward(cfg.rewards, state, self._success)
            self._termination = CompositeTermination(
                [*cfg.terminations, Timeout(name="timeout", steps=cfg.max_episode_steps)],
                state,
                self._success,
            )
        self._build_observation(n)
        sensor_stages = [t.stage(state) for t in cfg.observations if hasattr(t, "stage")]
        self._stage = max([1 if point_specs else 0, *sensor_stages])
        self.action_space = spaces.Box(-1.0, 1.0, shape=(n,), dtype=np.float32)
        self.action_slices = dict(self.scene.joint_slices)
        if self._batched:
            TaskBatch([self])  # a batch of one; attaches itself as self._engine

    @property
    def dt(self) -> float:
        """Simulated seconds per ``step`` (the control period), as Gymnasium's MuJoCo envs expose it."""
        return self._control_dt

    @property
    def observation_scales(self) -> dict[str, float | list[float]]:
        """The ``scale`` of every scaled observation term, by its label in :attr:`observation_slices`."""
        labels = {block.start: label for label, block in self.observation_slices.items()}
        return {
            labels[block.start]: scale.tolist() if isinstance(scale, np.ndarray) else scale
            for block, scale in self._scales
        }

    # --- construction helpers -------------------------------------------------------------------

    def _build_observation(self, n: int) -> None:
        robots = self.scene.robot_names
        order = {name: i for i, name in enumerate(robots)}
        terms = list(enumerate(self.config.observations))
        sensor_names = [t.name for t in self.config.observations if t.kind == "sensor"]
        repeated = sorted({n for n in sensor_names if sensor_names.count(n) > 1})
        if repeated:
            raise ConfigError(
                f"sensor names {repeated} are used more than once; give each sensor its own name"
            )
        if len(robots) > 1:  # group by robot; a lone robot keeps the declared order
            terms.sort(key=lambda it: (order.get(it[1].owner(self.state), len(robots)), it[0]))  # type: ignore[arg-type]
        names: list[str] = []
        self.observation_slices: dict[str, slice] = {}
        self.robot_observation_slices: dict[str, slice] = {}
        writers = []
        self._noises: list[tuple[AxisNoise, slice]] = []
        self._scales: list[tuple[slice, float | np.ndarray]] = []
        self._observation_terms: list[tuple[object, slice, float | np.ndarray | None]] = []
        for index, term in terms:
            term_names = term.names(self.state)
            block = slice(len(names), len(names) + len(term_names))
            label = f"{term.label}[{index}]" if term.label in self.observation_slices else term.label
            self.observation_slices[label] = block
            owner = term.owner(self.state)
            if owner is not None:
                start = self.robot_observation_slices.get(owner, block).start
                self.robot_observation_slices[owner] = slice(start, block.stop)
            scale = _term_scale(term, label, len(term_names))
            if scale is not None:
                self._scales.append((block, scale))
            self._observation_terms.append((term, block, scale))
            if not self._batched:
                writers.append((term.bind(self.state), block))
            if term.noise is not None:
                noise = build_noise(term.noise, term_names, self._control_dt)
                if not noise.empty:
                    self._noises.append((noise, block))
            names.extend(term_names)
        if len(robots) == 1:
            self.robot_observation_slices = {robots[0]: slice(0, len(names))}
        self.observation_names = tuple(names)
        self._obs = np.zeros(len(names))
        # Each writer fills its own view of the one buffer (views made once, not per step).
        self._writers = [(write, self._obs[block]) for write, block in writers]
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(len(names),), dtype=np.float32)

    def _start_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """(2, n) arrays of low/high for positions (row 0) and velocities (row 1)."""
        start = self.config.start
        n = len(self.layout)
        low = np.tile(np.array([[start.default.position[0]], [start.default.velocity[0]]]), (1, n))
        high = np.tile(np.array([[start.default.position[1]], [start.default.velocity[1]]]), (1, n))
        for joint, spec in start.joints.items():
            for i in self.scene.joint_indices(None, [joint]):
                low[:, i] = spec.position[0], spec.velocity[0]
                high[:, i] = spec.position[1], spec.velocity[1]
        return low, high

    def _joint_ranges(
        self, robot: str, overrides: Mapping[str, tuple[float, float]]
    ) -> tuple[np.ndarray, ...]:
        idx = self.scene.joint_indices(robot, None)
        low = np.array([max(self.layout[i].lower, -np.pi) for i in idx])
        high = np.array([min(self.layout[i].upper, np.pi) for i in idx])
        for joint, (lo, hi) in overrides.items():
            (i,) = self.scene.joint_indices(robot, [joint])
            low[list(idx).index(i)], high[list(idx).index(i)] = lo, hi
        return idx, low, high

    def _target_sampler(self, target: TargetConfig):  # type: ignore[no-untyped-def]
        """A function ``rng -> position`` for one target (``reachable`` uses a private scratch MjData)."""
        if target.kind == "fixed":
            position = np.array(target.position)
            return lambda rng: position
        if target.kind == "box":
            low = np.array(target.low)
            span = np.array(target.high) - low
            return lambda rng: _uniform(rng, low, span)
        robot = self.state.point_robots.get(target.point)  # type: ignore[arg-type]
        if robot is None:
            raise ConfigError(
                f"target {target.name!r}: no point named {target.point!r}; declare it in [[points]]"
            )
        idx, low, high = self._joint_ranges(robot, target.joint_ranges)
        span = high - low
        qpos_addr = self._qpos_idx[idx]
        scratch = mujoco.MjData(self.robot.model)
        point = next(p for p in self.config.points if p.name == target.point)
        body_id, offset = self.scene.body_id(robot, point.body), np.array(point.offset)
        model = self.robot.model

        def sample(rng: np.random.Generator) -> np.ndarray:
            scratch.qpos[qpos_addr] = _uniform(rng, low, span)
            mujoco.mj_kinematics(model, scratch)
            return scratch.xpos[body_id] + scratch.xmat[body_id].reshape(3, 3) @ offset

        return sample

    # --- the Gymnasium API ----------------------------------------------------------------------

    def _refresh(self) -> None:
        data = self.sim.data
        if not self._state_in_place:
            data.qpos.take(self._qpos_idx, out=self.state.qpos)
            data.qvel.take(self._qvel_idx, out=self.state.qvel)
        # mj_step leaves derived quantities one substep behind qpos (computed before integrating);
        # recompute what the terms read, so everything observed describes the same instant.
        if self._stage >= 2:  # sensors reading velocities, accelerations or contacts
            mujoco.mj_forward(self.sim.model, data)
            mujoco.mj_rnePostConstraint(self.sim.model, data)
        elif self._stage >= 1:  # points and body poses
            mujoco.mj_kinematics(self.sim.model, data)
        if self._points.active:
            self._points.update(data)

    def _observation(self) -> np.ndarray:
        obs = self._obs
        for write, view in self._writers:
            write(view)
        for noise, block in self._noises:
            obs[block] = noise.apply(obs[block], self._noise_rng)
        for block, scale in self._scales:
            obs[block] *= scale
        return obs.astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        info = self._reset_state(seed, options)
        if self._engine is not None:
            return self._engine.observe(np.array([self._row]))[0].astype(np.float32), info
        return self._observation(), info

    def _reset_state(self, seed: int | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a new episode (everything of ``reset`` but the observation); returns its info."""
        super().reset(seed=seed)
        self.episode_seeds = episode = self._episodes.next(seed)
        if self._randomizer is not None:  # before the start state: it re-derives model constants
            self.randomization_applied = self._randomizer.reset(episode.generator(RANDOMIZATION))
        rng = episode.generator(START_STATE)
        low, span = self._start_low, self._start_high - self._start_low
        qpos = np.clip(self._home + _uniform(rng, low[0], span[0]), self._lower, self._upper)
        qvel = _uniform(rng, low[1], span[1])
        self.sim.reset(qpos, qvel)
        state = self.state
        state.step_count = 0
        state.action[:] = 0.0
        self._refresh()
        # A generator only for subsystems the task has (each is ~0.1 ms to create; the streams are
        # independent, so skipping one changes no other).
        if self._target_samplers:
            rng = episode.generator(TASK)
        for target, sampler in zip(self.config.targets, self._target_samplers, strict=True):
            anchor = state.points.get(target.point) if target.point else None
            for _ in range(_MAX_TARGET_DRAWS):
                position = sampler(rng)
                if anchor is None or np.linalg.norm(position - anchor) >= target.min_distance:
                    break
            state.targets[target.name][:] = position
        if self._noises:
            self._noise_rng = episode.generator(NOISE)
        for noise, _ in self._noises:
            noise.reset(self._noise_rng)
        info: dict[str, Any] = {} if self._success is None else {"is_success": bool(self._success())}
        if self._randomizer is not None:
            info["randomization"] = dict(self.randomization_applied)
        if self._engine is not None:
            self._engine.reset_row(self._row)
        return info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        result = self.step_unchecked(validate_command(action, len(self.layout)))
        if self.render_mode == "human":
            self.render()
        return result

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """The current frame: ``(height, width, 3)`` uint8 for ``rgb_array``, ``(height, width)`` float32
        metres for ``depth_array``; ``human`` updates MuJoCo's viewer window and returns ``None``."""
        return self._rendering.render(self.sim.model, self.sim.data)

    def _markers(self) -> list[Marker]:
        """Targets as visual-only red spheres for rendering. (They are set at reset, so a replay that
        resets with the episode's seed and then only sets joint states draws the same picture.)"""
        state = getattr(self, "state", None)
        if state is None:
            return []
        return [Marker(p, (0.9, 0.15, 0.15, 0.8), 0.03) for p in state.targets.values()]

    def close(self) -> None:
        self._rendering.close()
        super().close()

    def step_unchecked(self, command: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """:meth:`step` for a ``command`` already validated (a vector env checks the whole batch once)."""
        if self._engine is not None:
            return self._engine.step_one(self._row, command)
        if self._randomizer is not None:  # actuation noise and pushes
            self._randomizer.step(command)
        else:
            self.sim.step(command)
        state = self.state
        state.action[:] = command
        state.step_count += 1
        self._refresh()
        observation = self._observation()
        reward, breakdown = self._reward()
        terminated, truncated, fired = self._termination()
        info = {"reward_terms": breakdown, "termination": fired}
        if self._success is not None:
            info["is_success"] = bool(self._success())
        return observation, reward, terminated, truncated, info
