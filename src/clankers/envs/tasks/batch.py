"""Batched tasks: every term computed once over the ``[N, ...]`` arrays of N environments.

Per-environment terms cost one Python call per environment per term per step; for a legged robot with
fifteen terms and 64 environments that is ~1000 calls a step, more than the physics itself. A batched
task instead steps the physics of its N environments (each its own ``MjData``, stepped by the vector
env's threads: ``mj_step`` releases the GIL), copies what the terms read into ``[N, ...]`` arrays
(:class:`BatchState`) and evaluates each observation, reward and termination term **once** for all N.

The same engine runs a single :class:`~clankers.envs.tasks.TaskEnv` (a batch of one), so a term is
written once, as a function of :class:`BatchState`, and a vector env equals N single envs bit for bit
(every operation is row-wise; each environment keeps its own seeded generators).

When a task runs batched (``batched`` in the task file):

| `batched` | the task runs                                                                     |
|-----------|-----------------------------------------------------------------------------------|
| unset     | batched when it has [locomotion] or a term that exists only batched, and every term has a batched form; per environment otherwise |
| `true`    | batched (an error names any term without a batched form)                          |
| `false`   | per environment (an error names any term that exists only batched)                |

Terms with a batched form: the observation kinds `joint_position`, `joint_velocity`, `joint_state`,
`joint_sincos`, `last_action`, `base_height`, `base_orientation`, `projected_gravity`,
`base_linear_velocity`, `base_angular_velocity`, `foot_contacts` and those of
:mod:`clankers.envs.tasks.locomotion`; the rewards `constant`, `action_penalty`, `joint_position`,
`joint_velocity` and the locomotion ones; the terminations `joint_bounds`, `timeout`, `illegal_contact`
and `fall`. A term of one's own is batched by registering its function with
``register_term(category, batched=True)`` (``f(batch, **params) -> [N]`` or ``[N, size]``, see
:mod:`clankers.envs.tasks.terms`), or a term model by giving it a ``bind_batch(batch)`` method
(returning ``() -> array[N]`` for rewards and terminations, ``out[N, k] -> None`` for observations).
Points, targets and success conditions are per environment only.

What terms read (:class:`BatchState`): joint positions and velocities in layout order (``qpos``,
``qvel``, and ``previous_qvel`` of the step before), the command (``action``, ``previous_action``),
``step_count``, the floating base (``base_position()``, ``projected_gravity()``,
``base_linear_velocity()``, ``base_angular_velocity()`` in the base frame, current), and on request
(:meth:`BatchState.need`) actuator forces and body/geom positions as MuJoCo computed them during the
control step's last physics substep, and ground contacts of links (:meth:`BatchState.contact_columns`:
contacts with the world's geoms, so ``foot_contacts`` here ignores a foot touching another leg).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np

from clankers.envs.tasks.base import FunctionTerm, unique_labels, wrap_angle
from clankers.envs.tasks.locomotion import LocomotionState, _Batched
from clankers.envs.tasks.observations import (
    BaseAngularVelocity,
    BaseHeight,
    BaseLinearVelocity,
    BaseOrientation,
    FootContacts,
    JointPosition,
    JointSinCos,
    JointState,
    JointVelocity,
    LastAction,
    ProjectedGravity,
)
from clankers.envs.tasks.rewards import (
    ActionPenalty,
    ConstantReward,
    JointPositionReward,
    JointVelocityReward,
)
from clankers.envs.tasks.rows import rotate_into_frame, row_sum_squares
from clankers.envs.tasks.terminations import JointBounds, Timeout
from clankers.errors import ConfigError

if TYPE_CHECKING:
    from clankers.envs.tasks.config import TaskConfig
    from clankers.envs.tasks.env import TaskEnv

Writer = Callable[[np.ndarray], None]
Value = Callable[[], np.ndarray]

_OPTIONAL = ("actuator_force", "geom_xpos", "xpos")


class BatchState:
    """The state of N environments of one task as ``[N, ...]`` arrays (row ``i``: environment ``i``).

    Rows are written by :meth:`gather_row` (from each environment's ``MjData``, in whichever thread
    stepped it) and completed by :meth:`finish_step` in the calling thread; derived quantities
    (base-frame velocities, projected gravity) are computed on first use after each refresh.
    """

    def __init__(self, envs: Sequence[TaskEnv]) -> None:
        first = envs[0]
        self.n = n = len(envs)
        self.scene = first.scene
        self.layout = layout = first.layout
        self.sims = [env.sim for env in envs]
        self.datas = [sim.data for sim in self.sims]
        model = first.sim.model
        self.model = model
        self.dt = first.dt
        self.home = first.robot.home_pose
        nj = len(layout)
        self._qpos_idx, self._qvel_idx = layout.qpos_indices, layout.qvel_indices
        self._act_idx = layout.actuator_indices
        self.qpos_full = np.zeros((n, model.nq))
        self.qvel_full = np.zeros((n, model.nv))
        self.qpos = np.zeros((n, nj))
        self.qvel = np.zeros((n, nj))
        self.previous_qvel = np.zeros((n, nj))
        self.action = np.zeros((n, nj))
        self.previous_action = np.zeros((n, nj))
        self.step_count = np.zeros(n, dtype=np.int64)
        base = first.sim.base
        self._base = base
        if base is not None:
            self._bq, self._bd = base.qpos_address, base.dof_address
            gravity = np.array(model.opt.gravity, dtype=np.float64)
            norm = float(np.linalg.norm(gravity))
            direction = gravity / norm if norm > 0 else np.array([0.0, 0.0, -1.0])
            self._gravity = np.tile(direction, (n, 1))
            self._gravity_down = bool(direction[0] == 0.0 and direction[1] == 0.0 and direction[2] < 0)
        self.locomotion: LocomotionState | None = None
        if first.config.locomotion is not None:
            self.locomotion = LocomotionState(first.config.locomotion, n, self.dt)
        self._wanted: set[str] = set()
        self.actuator_force = np.zeros((0, 0))
        self.geom_xpos = np.zeros((0, 0, 3))
        self.xpos = np.zeros((0, 0, 3))
        self._contact_names: dict[str, int] = {}
        self._contact_geoms: list[np.ndarray] = []
        self._contact_matrix: bool | None = None
        self._geom_bits: list[int] | None = None
        self.contacts = np.zeros((n, 0), dtype=np.bool_)
        self._cache: dict[str, np.ndarray] = {}
        self._cache_version = -1
        self.version = 0

    # --- what terms ask for at bind time ------------------------------------------------------------

    def need(self, what: str) -> None:
        """Copy ``what`` (``actuator_force``, ``geom_xpos`` or ``xpos``) from MuJoCo after every step."""
        if what not in _OPTIONAL:
            raise ConfigError(f"unknown batch quantity {what!r}; one of {list(_OPTIONAL)}")
        self._wanted.add(what)

    def base(self, what: str) -> None:
        """Raise :class:`ConfigError` unless the robot has a floating base (``what`` needs one)."""
        if self._base is None:
            raise ConfigError(f'{what} needs a floating base; set base = "floating" on the robot')

    def collision_geoms(self, name: str, prefix: str = "") -> np.ndarray:
        """Collision geoms of a link (geoms named ``<link>/collision<i>``) or, failing that, of a MuJoCo
        body (links fixed to their parent are fused into it); ``name`` may be a glob pattern."""
        model, pattern = self.model, prefix + name
        collides = (model.geom_contype != 0) | (model.geom_conaffinity != 0)
        geoms = []
        for g in range(model.ngeom):
            label = model.geom(g).name or ""
            link, marker, _ = label.partition("/collision")
            if collides[g] and marker and fnmatch.fnmatchcase(link, pattern):
                geoms.append(g)
        if not geoms:
            bodies = [b for b in range(1, model.nbody) if fnmatch.fnmatchcase(model.body(b).name, pattern)]
            geoms = [g for g in range(model.ngeom) if collides[g] and model.geom_bodyid[g] in bodies]
        if not geoms:
            raise ConfigError(
                f"no link or body {pattern!r} with collision geometry",
                hint="name a URDF link with <collision> elements (or a glob such as '*_thigh')",
            )
        return np.array(geoms, dtype=np.intp)

    def contact_columns(self, names: Sequence[str], prefix: str = "") -> np.ndarray:
        """Columns of :attr:`contacts`, one per name: True while the link touches the ground (a geom of
        MuJoCo's world body: the floor, terrain); contacts between the robot's own links do not count."""
        if self._contact_matrix is not None:
            raise ConfigError("contact columns must be requested before the batch starts")
        columns = []
        for name in names:
            key = prefix + name
            if key not in self._contact_names:
                self._contact_geoms.append(self.collision_geoms(name, prefix))
                self._contact_names[key] = len(self._contact_names)
            columns.append(self._contact_names[key])
        return np.array(columns, dtype=np.intp)

    def foot_geoms(self, feet: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """One collision geom per foot and the height of its centre above its lowest point (the radius of
        a sphere; 0 for other shapes), so ``geom_xpos[:, geoms, 2] - offset`` is the foot's clearance."""
        geoms = np.array([self.collision_geoms(foot)[0] for foot in feet], dtype=np.intp)
        sphere = self.model.geom_type[geoms] == mujoco.mjtGeom.mjGEOM_SPHERE
        return geoms, np.where(sphere, self.model.geom_size[geoms, 0], 0.0)

    def allocate(self) -> None:
        """Size the optional buffers once every term is bound."""
        n, model = self.n, self.model
        if "actuator_force" in self._wanted:
            self.actuator_force = np.zeros((n, model.nu))
        if "geom_xpos" in self._wanted:
            self.geom_xpos = np.zeros((n, model.ngeom, 3))
        if "xpos" in self._wanted:
            self.xpos = np.zeros((n, model.nbody, 3))
        columns = len(self._contact_geoms)
        if columns > 62:
            raise ConfigError(f"{columns} contact links requested; at most 62 are supported")
        self.contacts = np.zeros((n, columns), dtype=np.bool_)
        self.contact_bits = np.zeros(n, dtype=np.int64)
        self._bit_values = np.left_shift(np.int64(1), np.arange(columns, dtype=np.int64))
        geom_bits = [0] * model.ngeom
        for column, geoms in enumerate(self._contact_geoms):
            for g in geoms:
                geom_bits[int(g)] |= 1 << column
        self._geom_bits = geom_bits if columns else None
        self._world_list = (model.geom_bodyid == 0).tolist()
        self._contact_matrix = True  # requests are closed
        # Per row, (destination row, MjData array) pairs: views made once, so a gather is plain copies.
        self._copies = []
        for i, data in enumerate(self.datas):
            pairs = [(self.qpos_full[i], data.qpos), (self.qvel_full[i], data.qvel)]
            if "actuator_force" in self._wanted:
                pairs.append((self.actuator_force[i], data.actuator_force))
            if "geom_xpos" in self._wanted:
                pairs.append((self.geom_xpos[i], data.geom_xpos))
            if "xpos" in self._wanted:
                pairs.append((self.xpos[i], data.xpos))
            self._copies.append(pairs)

    # --- refresh ------------------------------------------------------------------------------------

    def gather_row(self, i: int) -> None:
        """Copy environment ``i``'s MuJoCo state into row ``i`` (thread-safe: rows are disjoint)."""
        for destination, source in self._copies[i]:
            destination[...] = source  # (np.copyto costs twice as much for these small arrays)
        if self._geom_bits is not None:
            data = self.datas[i]
            # A few contacts per step: plain Python over them beats numpy's per-call overhead.
            bits, world, geom_bits = 0, self._world_list, self._geom_bits
            ncon = data.ncon
            if ncon:
                for g1, g2 in data.contact.geom[:ncon].tolist():
                    if world[g1] != world[g2]:  # one side is the world (floor, terrain), not both
                        bits |= geom_bits[g2 if world[g1] else g1]
            self.contact_bits[i] = bits

    def finish_step(self, actions: np.ndarray) -> None:
        """After every row was gathered: shift the previous action and joint velocity, take the new ones."""
        np.copyto(self.previous_action, self.action)
        np.copyto(self.action, actions)
        np.copyto(self.previous_qvel, self.qvel)
        np.take(self.qpos_full, self._qpos_idx, axis=1, out=self.qpos)
        np.take(self.qvel_full, self._qvel_idx, axis=1, out=self.qvel)
        if self._geom_bits is not None:
            np.not_equal(self.contact_bits[:, None] & self._bit_values, 0, out=self.contacts)
        self.step_count += 1
        self.version += 1

    def reset_row(self, i: int) -> None:
        """Row ``i`` after its environment was reset: current state, no history, step 0."""
        self.gather_row(i)
        self.qpos[i] = self.qpos_full[i, self._qpos_idx]
        self.qvel[i] = self.qvel_full[i, self._qvel_idx]
        self.previous_qvel[i] = self.qvel[i]
        self.action[i] = 0.0
        self.previous_action[i] = 0.0
        if self._geom_bits is not None:
            self.contacts[i] = (self.contact_bits[i] & self._bit_values) != 0
        self.step_count[i] = 0
        self.version += 1

    # --- derived quantities -------------------------------------------------------------------------

    def _cached(self, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        if self._cache_version != self.version:
            self._cache.clear()
            self._cache_version = self.version
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = compute()
        return value

    def base_position(self) -> np.ndarray:
        """``[N, 3]`` base position in the world (m)."""
        return self.qpos_full[:, self._bq : self._bq + 3]

    def base_orientation(self) -> np.ndarray:
        """``[N, 4]`` base quaternions w, x, y, z (world from base; unit: MuJoCo normalizes them every
        step)."""
        return self.qpos_full[:, self._bq + 3 : self._bq + 7]

    def projected_gravity(self) -> np.ndarray:
        """``[N, 3]`` unit gravity direction in the base frame ((0, 0, -1) upright)."""
        return self._cached("projected_gravity", self._project_gravity)

    def _project_gravity(self) -> np.ndarray:
        quat = self.base_orientation()
        if not self._gravity_down:
            return rotate_into_frame(quat, self._gravity)
        # -(third row of R(q)): ten element-wise operations instead of a general rotation
        w, x, y, z = quat[:, 0], quat[:, 1], quat[:, 2], quat[:, 3]
        out = np.empty((len(quat), 3))
        out[:, 0] = 2.0 * (w * y - x * z)
        out[:, 1] = -2.0 * (y * z + w * x)
        out[:, 2] = 2.0 * (x * x + y * y) - 1.0
        return out

    def base_linear_velocity(self) -> np.ndarray:
        """``[N, 3]`` base linear velocity in the base frame (m/s)."""
        return self._cached(
            "linear_velocity",
            lambda: rotate_into_frame(self.base_orientation(), self.qvel_full[:, self._bd : self._bd + 3]),
        )

    def base_angular_velocity(self) -> np.ndarray:
        """``[N, 3]`` base angular velocity in the base frame (rad/s; MuJoCo's free joint stores it so)."""
        return self.qvel_full[:, self._bd + 3 : self._bd + 6]

    def joint_torques(self) -> np.ndarray:
        """``[N, n_joints]`` actuator forces in layout order (needs ``need("actuator_force")``)."""
        return self.actuator_force[:, self._act_idx]


# --- batched forms of the built-in kinds ------------------------------------------------------------------


def _joints(term: Any, batch: BatchState, env: TaskEnv) -> np.ndarray:
    return env.state.joint_indices(term.robot, term.joints)


def _batched_function(term: Any) -> bool:
    """A kind registered with ``register_term(..., batched=True)``: ``f(batch, **params)``."""
    return isinstance(term, FunctionTerm) and bool(term.options.get("batched"))


def _call(term: Any, batch: BatchState, dtype: type) -> Value:
    func, params = term._function.func, term.params
    return lambda: np.asarray(func(batch, **params), dtype=dtype)


def _observation_writer(term: Any, batch: BatchState, env: TaskEnv) -> Writer:
    bind_batch = getattr(term, "bind_batch", None)
    if bind_batch is not None:
        return bind_batch(batch)  # type: ignore[no-any-return]
    if _batched_function(term):
        value = _call(term, batch, np.float64)

        def write_function(out: np.ndarray) -> None:
            out[...] = value().reshape(out.shape)

        return write_function
    if isinstance(term, (JointPosition, JointVelocity, LastAction)):
        idx = _joints(term, batch, env)
        source_name = {JointPosition: "qpos", JointVelocity: "qvel", LastAction: "action"}[type(term)]
        offset = batch.home[idx] if getattr(term, "relative", False) else None

        def write(out: np.ndarray) -> None:
            values = getattr(batch, source_name)[:, idx]
            if offset is not None:
                np.subtract(values, offset, out=out)
            else:
                out[...] = values

        return write
    if isinstance(term, JointState):
        idx = _joints(term, batch, env)

        def write_state(out: np.ndarray) -> None:
            out[:, 0::2] = batch.qpos[:, idx]
            out[:, 1::2] = batch.qvel[:, idx]

        return write_state
    if isinstance(term, JointSinCos):
        idx = _joints(term, batch, env)

        def write_sincos(out: np.ndarray) -> None:
            angles = batch.qpos[:, idx]
            out[:, 0::2] = np.cos(angles)
            out[:, 1::2] = np.sin(angles)

        return write_sincos
    base_terms = {
        BaseHeight: lambda: batch.base_position()[:, 2:3],
        BaseOrientation: batch.base_orientation,
        ProjectedGravity: batch.projected_gravity,
        BaseLinearVelocity: batch.base_linear_velocity,
        BaseAngularVelocity: batch.base_angular_velocity,
    }
    if type(term) in base_terms:
        batch.base(f"observation {term.kind!r}")
        read = base_terms[type(term)]
        return lambda out: np.copyto(out, read())
    if isinstance(term, FootContacts):
        prefix = batch.scene.prefixes[batch.scene.resolve_robot(term.robot)]
        columns = batch.contact_columns(term.links, prefix)
        return lambda out: np.copyto(out, batch.contacts[:, columns])
    raise ConfigError(f"observation {term.label!r} ({term.kind}) has no batched form")


def _reward_value(term: Any, batch: BatchState, env: TaskEnv) -> Value:
    bind_batch = getattr(term, "bind_batch", None)
    if bind_batch is not None:
        return bind_batch(batch)  # type: ignore[no-any-return]
    if _batched_function(term):
        return _call(term, batch, np.float64)
    if isinstance(term, ConstantReward):
        ones = np.ones(batch.n)
        return lambda: ones
    if isinstance(term, ActionPenalty):
        idx = _joints(term, batch, env)

        def penalty() -> np.ndarray:
            return row_sum_squares(batch.action[:, idx])

        return penalty
    if isinstance(term, JointVelocityReward):
        idx = _joints(term, batch, env)

        def speed() -> np.ndarray:
            return row_sum_squares(batch.qvel[:, idx])

        return speed
    if isinstance(term, JointPositionReward):
        idx = _joints(term, batch, env)
        target = np.broadcast_to(np.asarray(term.target, dtype=np.float64), idx.shape).copy()
        wrap = term.wrap

        def error() -> np.ndarray:
            e = batch.qpos[:, idx] - target
            if wrap:
                e = wrap_angle(e)
            return row_sum_squares(e)

        return error
    raise ConfigError(f"reward {term.label!r} ({term.kind}) has no batched form")


def _termination_check(term: Any, batch: BatchState, env: TaskEnv) -> Value:
    bind_batch = getattr(term, "bind_batch", None)
    if bind_batch is not None:
        return bind_batch(batch)  # type: ignore[no-any-return]
    if _batched_function(term):
        return _call(term, batch, np.bool_)
    if isinstance(term, Timeout):
        steps = term.steps
        return lambda: batch.step_count >= steps
    if isinstance(term, JointBounds):
        idx = _joints(term, batch, env)
        plo, phi = term.position or (-np.inf, np.inf)
        vlo, vhi = term.velocity or (-np.inf, np.inf)

        def outside() -> np.ndarray:
            q, v = batch.qpos[:, idx], batch.qvel[:, idx]
            return np.any((q < plo) | (q > phi) | (v < vlo) | (v > vhi), axis=1)

        return outside
    raise ConfigError(f"termination {term.label!r} ({term.kind}) has no batched form")


_BATCHED_KINDS = (
    JointPosition,
    JointVelocity,
    JointState,
    JointSinCos,
    LastAction,
    BaseHeight,
    BaseOrientation,
    ProjectedGravity,
    BaseLinearVelocity,
    BaseAngularVelocity,
    FootContacts,
    ConstantReward,
    ActionPenalty,
    JointPositionReward,
    JointVelocityReward,
    JointBounds,
    Timeout,
)


def has_batched_form(term: Any) -> bool:
    return hasattr(term, "bind_batch") or isinstance(term, _BATCHED_KINDS) or _batched_function(term)


def runs_batched(config: TaskConfig) -> bool:
    """Whether a task runs on the batched engine (see the table in the module docstring).

    Raises:
        ConfigError: ``batched = true`` with a term (or points, targets, success) it cannot batch, or
            ``batched = false`` with a term that exists only batched.
    """
    terms = [*config.observations, *config.rewards, *config.terminations]
    only_batched = [t.label for t in terms if isinstance(t, _Batched) or _batched_function(t)]
    blockers = [f"{t.label} ({t.kind})" for t in terms if not has_batched_form(t)]
    for what, present in (
        ("points", config.points),
        ("targets", config.targets),
        ("a success condition", config.success),
    ):
        if present:
            blockers.append(what)
    if config.batched is False:
        if only_batched or config.locomotion is not None:
            raise ConfigError(
                f"task {config.name!r} has batched = false but its terms {only_batched or ['[locomotion]']} "
                "exist only in batched form",
                hint="drop `batched = false`",
            )
        return False
    wanted = config.batched is True or bool(only_batched) or config.locomotion is not None
    if wanted and blockers:
        raise ConfigError(
            f"task {config.name!r} runs batched but {blockers} have no batched form",
            hint="use kinds with a batched form (see clankers.envs.tasks.batch), or set batched = false "
            "and drop the batched-only terms",
        )
    return wanted


class TaskBatch:
    """The batched engine over N :class:`~clankers.envs.tasks.TaskEnv` of one task (see module docs).

    Building it attaches every environment to it (``env._engine``, ``env._row``): from then on each
    environment's reset writes its row here. A single environment builds its own batch of one.

    Per step: :meth:`physics` for each row (any thread), then :meth:`evaluate` (rewards and episode
    ends for all rows) and :meth:`observe`.
    """

    def __init__(self, envs: Sequence[TaskEnv]) -> None:
        if not envs:
            raise ConfigError("a batch needs at least one environment")
        self.envs = list(envs)
        first = self.envs[0]
        for env in self.envs[1:]:
            if env.config != first.config or env.observation_names != first.observation_names:
                raise ConfigError("the environments of a batch must be the same task with the same options")
        self.n = len(self.envs)
        self.state = state = BatchState(self.envs)
        config = first.config
        self._writers = [
            (_observation_writer(term, state, first), block, scale)
            for term, block, scale in first._observation_terms
        ]
        self.observation_size = len(first.observation_names)
        self._obs = np.zeros((self.n, self.observation_size))
        self.reward_labels = unique_labels(list(config.rewards), "reward terms")
        self._rewards = [(t.weight, _reward_value(t, state, first)) for t in config.rewards]
        terminations = [*config.terminations, Timeout(name="timeout", steps=first.max_episode_steps)]
        self.termination_labels = unique_labels(terminations, "termination terms")
        self._terminations = [(t.truncates, _termination_check(t, state, first)) for t in terminations]
        self._resetters = [
            fn.reset
            for fn in [v for _, v in self._rewards] + [c for _, c in self._terminations]
            if hasattr(fn, "reset")
        ]
        state.allocate()
        self._breakdown = np.zeros((self.n, len(self._rewards)))
        self._fired = np.zeros((self.n, len(self._terminations)), dtype=np.bool_)
        self._truncating = np.array([t for t, _ in self._terminations], dtype=np.bool_)
        # Commands become ctrl targets in one array operation for the whole batch when no env needs its
        # own conversion (actuator pipelines, feedforward, per-env actuation noise).
        action = first.sim.action
        self._direct = all(
            env.sim.holds_ctrl and (env._randomizer is None or env._randomizer.spec.actuation_noise is None)
            for env in self.envs
        )
        self._convert = action.kind != "torque" or action.gravity_compensation
        self._action = action
        self._ctrl = np.zeros((self.n, len(first.layout)))
        self._commands = self._ctrl
        # Per row, everything a direct physics step touches, looked up once: (pushes or None, hold, ctrl).
        self._plan = [
            (
                env._randomizer.before_step
                if env._randomizer is not None and env._randomizer.spec.push is not None
                else None,
                env.sim.hold,
                self._ctrl[row],
            )
            for row, env in enumerate(self.envs)
        ]
        self._gather = state.gather_row
        for row, env in enumerate(self.envs):
            env._engine, env._row = self, row

    # --- per row --------------------------------------------------------------------------------------

    def begin_step(self, actions: np.ndarray) -> None:
        """Take the step's commands ``[N, n]`` (converted to ctrl targets at once where possible)."""
        self._commands = actions
        if self._direct:
            if self._convert:
                self._action.targets(actions, out=self._ctrl)
            else:
                np.copyto(self._ctrl, actions)

    def physics(self, row: int) -> None:
        """One control step of environment ``row`` with its command of :meth:`begin_step` (randomizer
        pushes and noise, then MuJoCo), gathered into its row. Safe for different rows in different
        threads."""
        if self._direct:
            pushes, hold, ctrl = self._plan[row]
            if pushes is not None:
                pushes()
            hold(ctrl)
        else:
            env = self.envs[row]
            if env._randomizer is not None:
                env._randomizer.step(self._commands[row])
            else:
                env.sim.step(self._commands[row])
        self._gather(row)

    def reset_row(self, row: int) -> None:
        """Row ``row`` after its environment's reset (called by ``TaskEnv`` with its new episode seeds)."""
        env = self.envs[row]
        self.state.reset_row(row)
        if self.state.locomotion is not None:
            self.state.locomotion.reset_row(row, env.episode_seeds, env._command)  # type: ignore[arg-type]
        for reset in self._resetters:
            reset(row)

    # --- over the batch -------------------------------------------------------------------------------

    def evaluate(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rewards, terminations and truncations of every row after a step with ``actions`` ``[N, n]``.

        The weighted reward terms are in :attr:`breakdown`, the terms that fired in :attr:`fired`.
        """
        state = self.state
        state.finish_step(actions)
        locomotion = state.locomotion
        if locomotion is not None:
            locomotion.advance()
        breakdown, fired = self._breakdown, self._fired
        total = np.zeros(self.n)
        for k, (weight, value) in enumerate(self._rewards):
            np.multiply(value(), weight, out=breakdown[:, k])
            total += breakdown[:, k]
        for k, (_, check) in enumerate(self._terminations):
            fired[:, k] = check()
        truncated = np.any(fired[:, self._truncating], axis=1)
        terminated = np.any(fired[:, ~self._truncating], axis=1)
        if locomotion is not None:
            locomotion.resample(state.step_count, ~(terminated | truncated))
        return total, terminated, truncated

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Observations ``[len(rows), size]`` (all rows when None, float64), noise drawn for those rows
        from each environment's own generator (in the term's units, before its ``scale``)."""
        obs = self._obs
        for write, block, _ in self._writers:
            write(obs[:, block])
        out = obs if rows is None else obs[rows]
        indices = range(self.n) if rows is None else rows
        noisy = self.envs[0]._noises
        if noisy:
            for r, i in enumerate(indices):
                env = self.envs[i]
                for noise, block in env._noises:
                    out[r, block] = noise.apply(out[r, block], env._noise_rng)
        for _, block, scale in self._writers:
            if scale is not None:
                out[:, block] *= scale
        return out if rows is not None else out.copy()

    def infos(self, rows: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """The per-environment step infos (``reward_terms``, ``termination``) of ``rows`` (all if None)."""
        labels, names = self.reward_labels, self.termination_labels
        indices = range(self.n) if rows is None else rows
        breakdown = self._breakdown.tolist()
        fired = self._fired
        any_fired = np.any(fired, axis=1).tolist()
        out = []
        for i in indices:
            ended = [names[k] for k in np.flatnonzero(fired[i])] if any_fired[i] else []
            out.append({"reward_terms": dict(zip(labels, breakdown[i], strict=True)), "termination": ended})
        return out

    def batched_infos(self) -> dict[str, Any]:
        """:meth:`infos` of every row in Gymnasium's vector form (``key`` arrays with ``_key`` masks), built
        from the arrays: equal to what ``SyncVectorEnv`` assembles from the per-environment dicts."""
        mask = np.ones(self.n, dtype=np.bool_)
        terms: dict[str, Any] = {}
        for k, label in enumerate(self.reward_labels):
            terms[label] = self._breakdown[:, k].copy()
            terms[f"_{label}"] = mask.copy()
        ended = np.empty(self.n, dtype=object)
        names, fired = self.termination_labels, self._fired
        any_fired = np.any(fired, axis=1).tolist()
        for i in range(self.n):
            ended[i] = [names[k] for k in np.flatnonzero(fired[i])] if any_fired[i] else []
        return {
            "reward_terms": terms,
            "_reward_terms": mask.copy(),
            "termination": ended,
            "_termination": mask,
        }

    def step_one(self, row: int, command: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """``TaskEnv.step`` of a batch of one."""
        if self.n != 1:
            raise ConfigError(
                "this environment is part of a vector env's batch; step the vector env, not its envs",
                hint="or make a separate TaskEnv to step on its own",
            )
        actions = command[None, :]
        self.begin_step(actions)
        self.physics(0)
        reward, terminated, truncated = self.evaluate(actions)
        observation = self.observe()[0].astype(np.float32)
        return observation, float(reward[0]), bool(terminated[0]), bool(truncated[0]), self.infos()[0]


__all__ = ["BatchState", "TaskBatch", "has_batched_form", "rotate_into_frame", "runs_batched"]
