"""Shared fixtures: tiny trained models, so tests exercise real SB3 policies without long training."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import clankers.sim  # noqa: F401  (first: picks a headless MUJOCO_GL before any test module imports mujoco)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def tiny_cartpole_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PPO cart-pole model after one short rollout (8 envs x 64 steps): real weights, seconds to make."""
    from clankers.train import recipe_for, train

    out = tmp_path_factory.mktemp("tiny-cartpole")
    config = recipe_for("cartpole", seed=0, total_timesteps=512, num_envs=8).replace(
        target_return=None, eval_episodes=2, checkpoint_every=None
    )
    return train(config.with_hyperparams(n_steps=64), out).model_path


@pytest.fixture(scope="session")
def tiny_cartpole_policy(tiny_cartpole_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model exported to a policy file (with parity on real cart-pole episodes)."""
    from clankers.export import export_sb3

    path = tmp_path_factory.mktemp("tiny-policy") / "policy.onnx"
    export_sb3(tiny_cartpole_model, path, env="cartpole", n_samples=200, n_episode_states=200)
    return path


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny networks, thousands of calls: torch's thread pool only adds contention on a busy 2-core box.

    Modules that export many small policies use it with ``pytestmark = pytest.mark.usefixtures(...)``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
