"""Deterministic actors of every supported algorithm family, as plain ``nn.Module`` graphs.

Each module takes the graph inputs positionally (observation inputs in :func:`observation_inputs` order,
then recurrent state) and returns the action SB3's ``predict(deterministic=True)`` returns, using the
policy's own submodules so nothing is re-implemented except the glue between them:

- actor-critic (PPO, A2C, TRPO): features -> ``mlp_extractor.forward_actor`` -> ``action_net`` -> mode;
- squashed Gaussian actors (SAC, TQC, CrossQ): ``latent_pi`` -> ``mu`` -> ``tanh`` -> unscale;
- deterministic actors (TD3, DDPG): ``actor`` (ends in ``tanh``) -> unscale;
- Q-value policies (DQN, QR-DQN): ``argmax`` of the (quantile-averaged) Q-values;
- ARS: the policy's linear/MLP ``action_net`` (with ``tanh`` when it squashes) -> unscale or clip;
- RecurrentPPO: the actor LSTM with its hidden and cell state as explicit inputs and outputs.

The whole SB3 policy object is never exported (see FIELD-NOTES: it fails with "Cannot insert a Tensor
that requires grad as a constant"); only these wrappers are.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import nn

from clankers.errors import UnsupportedModelError
from clankers.export.actions import BoxPostprocess, CategoricalMode, check_discrete_start, distribution_head
from clankers.export.observations import ObservationAdapter


def _base_features(policy: Any, obs: Any, extractor: nn.Module) -> torch.Tensor:
    """``BaseModel.extract_features``: SB3's preprocessing (``/255`` for images, Dict handling) + extractor.

    Called through ``BaseModel`` because ``ActorCriticPolicy.extract_features`` returns a (pi, vf) pair
    when the extractors are not shared.
    """
    from stable_baselines3.common.policies import BaseModel

    return BaseModel.extract_features(policy, obs, extractor)


class ActorCriticActor(nn.Module):
    """PPO / A2C / TRPO: the actor half of an ``ActorCriticPolicy`` and the distribution's mode."""

    def __init__(self, adapter: ObservationAdapter, policy: Any, head: nn.Module) -> None:
        super().__init__()
        self.adapter, self.policy, self.head = adapter, policy, head

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        features = _base_features(self.policy, self.adapter(*inputs), self.policy.pi_features_extractor)
        latent = self.policy.mlp_extractor.forward_actor(features)
        return self.head(self.policy.action_net(latent))


class SquashedGaussianActor(nn.Module):
    """SAC / TQC / CrossQ: ``tanh(mu(latent_pi(features)))`` (the squashed Gaussian's mode), unscaled."""

    def __init__(self, adapter: ObservationAdapter, actor: Any, post: BoxPostprocess) -> None:
        super().__init__()
        self.adapter, self.actor, self.post = adapter, actor, post

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        features = _base_features(self.actor, self.adapter(*inputs), self.actor.features_extractor)
        mean = self.actor.mu(self.actor.latent_pi(features))
        return self.post(torch.tanh(mean))


class DeterministicActor(nn.Module):
    """TD3 / DDPG: the actor network already ends in ``tanh``; ``predict`` unscales it."""

    def __init__(self, adapter: ObservationAdapter, actor: Any, post: BoxPostprocess) -> None:
        super().__init__()
        self.adapter, self.actor, self.post = adapter, actor, post

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.post(self.actor(self.adapter(*inputs)))


class QValueActor(nn.Module):
    """DQN (``q_net``) and QR-DQN (``quantile_net``, averaged over quantiles): the greedy action."""

    def __init__(self, adapter: ObservationAdapter, network: Any, quantiles: bool) -> None:
        super().__init__()
        self.adapter, self.network, self.quantiles = adapter, network, quantiles
        self.mode = CategoricalMode()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        q_values = self.network(self.adapter(*inputs))
        if self.quantiles:
            q_values = q_values.mean(dim=1)
        return self.mode(q_values)


class ARSActor(nn.Module):
    """ARS: ``action_net(features)``; Box outputs go through predict's unscale/clip, Discrete through argmax."""

    def __init__(self, adapter: ObservationAdapter, policy: Any, head: nn.Module) -> None:
        super().__init__()
        self.adapter, self.policy, self.head = adapter, policy, head

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        features = _base_features(self.policy, self.adapter(*inputs), self.policy.features_extractor)
        return self.head(self.policy.action_net(features))


class RecurrentActor(nn.Module):
    """RecurrentPPO: one step of the actor LSTM with explicit ``(h, c)`` in and out.

    SB3's ``_process_sequence`` for a sequence of length 1 is ``lstm(features[None], state)``; resetting a
    row's state at an episode start (``(1 - episode_start) * state``) is left to the runtime, which sets
    that row to the initial value (zeros) before the call.
    """

    def __init__(self, adapter: ObservationAdapter, policy: Any, head: nn.Module) -> None:
        super().__init__()
        self.adapter, self.policy, self.head = adapter, policy, head

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        *obs, h, c = inputs
        features = _base_features(self.policy, self.adapter(*obs), self.policy.pi_features_extractor)
        output, (h_next, c_next) = self.policy.lstm_actor(features.unsqueeze(0), (h, c))
        latent = self.policy.mlp_extractor.forward_actor(output.squeeze(0))
        return self.head(self.policy.action_net(latent)), h_next, c_next


def build_family_module(algorithm: str, model: Any, adapter: ObservationAdapter) -> nn.Module:
    """The deterministic actor module of ``model`` (an SB3 / sb3-contrib algorithm object)."""
    policy, space = model.policy, model.action_space
    check_discrete_start(space)
    if algorithm in ("PPO", "A2C", "TRPO"):
        return ActorCriticActor(adapter, policy, distribution_head(policy, space))
    if algorithm == "RECURRENTPPO":
        return RecurrentActor(adapter, policy, distribution_head(policy, space))
    if algorithm in ("SAC", "TQC", "CROSSQ"):
        return SquashedGaussianActor(adapter, policy.actor, BoxPostprocess(space, squash=True))
    if algorithm in ("TD3", "DDPG"):
        return DeterministicActor(adapter, policy.actor, BoxPostprocess(space, squash=True))
    if algorithm == "DQN":
        return QValueActor(adapter, policy.q_net, quantiles=False)
    if algorithm == "QRDQN":
        return QValueActor(adapter, policy.quantile_net, quantiles=True)
    if algorithm == "ARS":
        if isinstance(space, gym.spaces.Box):
            head: nn.Module = BoxPostprocess(space, squash=bool(policy.squash_output))
        elif isinstance(space, gym.spaces.Discrete):
            head = CategoricalMode()
        else:
            raise UnsupportedModelError(f"ARS with action space {space} is not supported (SB3 neither)")
        return ARSActor(adapter, policy, head)
    raise UnsupportedModelError(f"algorithm {algorithm} is not supported")
