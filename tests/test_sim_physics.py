"""The simulated cart-pole must obey the analytic cart-pole equations of motion.

Reference: the frictionless Barto-Sutton-Anderson equations that Gymnasium's CartPole-v1 integrates
(uniform rod, hence the 4/3 factor), here integrated with classical RK4 at 10 µs, which is converged
to ~1e-10 over 1 s. Two tolerances:

- with MuJoCo's RK4 integrator the only difference left is the model itself, so any error above
  floating-point noise (we allow 1e-6) would mean wrong masses, inertia, axes or signs in the URDF import;
- with the default semi-implicit Euler integrator at physics_dt = 1 ms the error is first order in dt:
  measured 1.6e-3 at 1 ms and 8.2e-4 at 0.5 ms over this 1 s trajectory. We allow 5e-3 and also check
  that halving dt roughly halves the error, which only a correct model does.
"""

from __future__ import annotations

import numpy as np
import pytest

from clankers.sim import SimConfig, Simulation, asset_path, load_robot

MASS_CART, MASS_POLE, HALF_LENGTH, GRAVITY, FORCE_LIMIT = 1.0, 0.1, 0.5, 9.81, 10.0


def analytic_derivative(state: np.ndarray, force: float) -> np.ndarray:
    x_dot, theta, theta_dot = state[1], state[2], state[3]
    total = MASS_CART + MASS_POLE
    cos, sin = np.cos(theta), np.sin(theta)
    temp = (force + MASS_POLE * HALF_LENGTH * theta_dot**2 * sin) / total
    theta_acc = (GRAVITY * sin - cos * temp) / (HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * cos**2 / total))
    x_acc = temp - MASS_POLE * HALF_LENGTH * theta_acc * cos / total
    return np.array([x_dot, x_acc, theta_dot, theta_acc])


def analytic_rollout(state: np.ndarray, forces: np.ndarray, control_dt: float, h: float = 1e-5) -> np.ndarray:
    states = []
    for force in forces:
        for _ in range(round(control_dt / h)):
            k1 = analytic_derivative(state, force)
            k2 = analytic_derivative(state + h / 2 * k1, force)
            k3 = analytic_derivative(state + h / 2 * k2, force)
            k4 = analytic_derivative(state + h * k3, force)
            state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        states.append(state)
    return np.array(states)


def simulated_rollout(config: SimConfig, start: np.ndarray, commands: np.ndarray) -> np.ndarray:
    sim = Simulation(load_robot(asset_path("urdf/cartpole.urdf"), config))
    sim.reset(qpos=start[[0, 2]], qvel=start[[1, 3]])
    states = []
    for command in commands:
        sim.step(np.array([command, 0.7]))  # the pole channel is passive: its command must not matter
        states.append(sim.joint_state_into(np.empty(4)))
    return np.array(states)


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    commands = np.random.default_rng(0).uniform(-1.0, 1.0, size=50)  # 50 control steps = 1 s
    start = np.array([0.01, -0.02, 0.03, 0.04])
    return start, commands, analytic_rollout(start, FORCE_LIMIT * commands, control_dt=0.02)


def test_rk4_simulation_matches_analytic_model_to_float_noise(reference) -> None:
    start, commands, expected = reference
    simulated = simulated_rollout(SimConfig(integrator="rk4"), start, commands)
    assert np.abs(simulated - expected).max() < 1e-6


def test_default_euler_simulation_within_first_order_tolerance(reference) -> None:
    start, commands, expected = reference
    error_1ms = np.abs(simulated_rollout(SimConfig(), start, commands) - expected).max()
    error_half = np.abs(simulated_rollout(SimConfig(physics_dt=0.0005), start, commands) - expected).max()
    assert error_1ms < 5e-3
    assert 1.6 < error_1ms / error_half < 2.4  # first-order convergence
    assert expected[-1, 2] > 0.5  # the trajectory is far from trivial: the pole has swung ~45 degrees


def test_pole_does_not_collide_with_cart() -> None:
    sim = Simulation(load_robot(asset_path("urdf/cartpole.urdf")))
    sim.reset(qpos=np.array([0.0, 1.5]))  # pole almost horizontal, passing over the cart
    for _ in range(100):
        sim.step(np.array([0.5, 0.0]))
        assert sim.data.ncon == 0
