"""The classic cart-pole balancing task, on a URDF robot simulated by MuJoCo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from clankers.sim import SimConfig, Simulation, asset_path, load_robot, validate_command

POLE_ANGLE_LIMIT = 0.2094  # rad, 12 degrees, as in CartPole-v1
CART_POSITION_LIMIT = 2.4  # m
RESET_NOISE = 0.05


class CartPoleEnv(gym.Env[np.ndarray, np.ndarray]):
    """Balance a pole on a cart by pushing the cart along a rail.

    ## Description
    The robot is ``assets/urdf/cartpole.urdf``: a 1.0 kg cart on a frictionless rail (±2.4 m) carrying
    a 0.1 kg uniform rod of length 1.0 m on a passive hinge, the parameters of Gymnasium's
    ``CartPole-v1``. Unlike ``CartPole-v1`` the dynamics come from MuJoCo (1 ms physics steps, the
    command held for 20 of them), with continuous force control, and observations and actions follow
    the robot's joint layout, so a policy trained here is wired exactly like one for any other clankers
    robot.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``: one normalized command per joint in layout order (alphabetical by
    joint name), scaled by the joint's URDF effort limit:

    | index | joint        | meaning                           | scale  |
    |-------|--------------|-----------------------------------|--------|
    | 0     | `cart_slide` | force on the cart along +x        | 10 N   |
    | 1     | `pole_hinge` | torque on the pole (passive joint) | 0 N m: no effect |

    Commands outside [-1, 1] saturate at the limit. A wrong shape, NaN or inf raises
    :class:`clankers.errors.ActionError`.

    ## Observation Space
    ``Box(-inf, inf, (4,), float32)``, a joint-state sensor (position then velocity per joint, in layout
    order):

    | index | observation          | unit  |
    |-------|----------------------|-------|
    | 0     | cart position        | m     |
    | 1     | cart velocity        | m/s   |
    | 2     | pole angle           | rad (0 = upright, positive tips towards +x) |
    | 3     | pole angular velocity| rad/s |

    The bounds are infinite on purpose: the rail limit is a (soft) MuJoCo constraint the cart can
    slightly overshoot, the hinge is continuous, and velocities are unbounded. Episodes end long before
    values leave the interesting range (see Episode End).

    ## Rewards
    +1 for every step taken, including the step that terminates the episode, so the maximum return of
    an episode is 500.

    ## Starting State
    Every state variable (cart position and velocity, pole angle and angular velocity) is drawn from
    U(-0.05, 0.05) with the generator seeded by ``reset(seed=...)``: the same seed gives the same
    episode, bit for bit.

    ## Episode End
    - Termination: ``|pole angle| > 0.2094`` rad (12°) or ``|cart position| > 2.4`` m.
    - Truncation: after ``max_episode_steps`` steps (500 by default), enforced inside the environment
      so that vectorized and remote copies truncate identically.

    ## Arguments
    ``gymnasium.make("clankers/CartPole-v0", **kwargs)``:

    | argument            | default          | meaning                                       |
    |---------------------|------------------|-----------------------------------------------|
    | `sim_config`        | `SimConfig()`    | physics/control timestep, gravity, integrator |
    | `max_episode_steps` | 500              | truncation horizon                            |
    | `urdf`              | the shipped file | another cart-pole description (same joints)   |
    """

    metadata = {"render_modes": [], "render_fps": 50}  # noqa: RUF012 - Gymnasium's convention

    def __init__(
        self,
        sim_config: SimConfig | None = None,
        max_episode_steps: int = 500,
        urdf: str | Path | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise gym.error.Error(f"render_mode {render_mode!r} is not supported by CartPole-v0; use None")
        self.robot = load_robot(urdf or asset_path("urdf/cartpole.urdf"), sim_config)
        self.sim = Simulation(self.robot)
        self.layout = self.robot.layout
        self.max_episode_steps = int(max_episode_steps)
        n = len(self.layout)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(n,), dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(2 * n,), dtype=np.float32)
        self.observation_names = tuple(
            f"{joint.name}.{quantity}" for joint in self.layout for quantity in ("position", "velocity")
        )
        self._cart = self.layout.names.index("cart_slide")
        self._pole = self.layout.names.index("pole_hinge")
        self._cart_qpos = self.layout[self._cart].qpos_index
        self._pole_qpos = self.layout[self._pole].qpos_index
        self._steps = 0

    @property
    def dt(self) -> float:
        """Seconds of simulated time per ``step`` (the control period), as Gymnasium's MuJoCo envs expose."""
        return self.robot.config.control_dt

    def _observation(self) -> np.ndarray:
        return self.sim.joint_state_into(np.empty(self.observation_space.shape, dtype=np.float32))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        x, x_dot, theta, theta_dot = self.np_random.uniform(-RESET_NOISE, RESET_NOISE, size=4)
        qpos = np.zeros(len(self.layout))
        qvel = np.zeros(len(self.layout))
        qpos[self._cart], qvel[self._cart] = x, x_dot
        qpos[self._pole], qvel[self._pole] = theta, theta_dot
        self.sim.reset(qpos, qvel)
        self._steps = 0
        return self._observation(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        return self.step_unchecked(validate_command(action, len(self.layout)))

    def step_unchecked(self, command: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """:meth:`step` without validating ``command``: for callers that checked a whole batch at once
        (:class:`clankers.envs.vector.ClankersVectorEnv`), so the per-env hot path skips the check."""
        self.sim.step(command)
        self._steps += 1
        observation = self._observation()
        qpos = self.sim.data.qpos
        terminated = bool(
            abs(qpos[self._pole_qpos]) > POLE_ANGLE_LIMIT or abs(qpos[self._cart_qpos]) > CART_POSITION_LIMIT
        )
        truncated = self._steps >= self.max_episode_steps
        return observation, 1.0, terminated, truncated, {}
