"""Helpers shared by the export tests: wrong graphs on purpose, and policies whose actions vary.

:func:`corrupt_graph` makes the exporter trace a *changed copy* of the actor (one weight perturbed, the
normalization or its clip left out) while parity still compares with the unchanged model: the export must
then fail. :func:`randomize_final_layer` gives a policy's last layer large random weights, so a discrete
policy's greedy action changes with the observation (a freshly trained tiny policy often picks one
action everywhere, and a constant action cannot tell a right graph from a wrong one).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch


def corrupt_graph(monkeypatch: pytest.MonkeyPatch, change: Callable[[Any], None]) -> None:
    """Trace ``change(copy_of_actor)`` instead of the actor (the model used as the reference is untouched)."""
    from clankers.export import pipeline

    original = pipeline.write_graph

    def wrong(actor: Any, options: Any) -> Any:
        bad = copy.deepcopy(actor)
        change(bad)
        return original(bad, options)

    monkeypatch.setattr(pipeline, "write_graph", wrong)


def perturb_weight(delta: float = 1e-3, layer: str = "last") -> Callable[[Any], None]:
    """``change`` for :func:`corrupt_graph`: add ``delta`` to one weight of the actor's last (or first) layer."""

    def change(actor: Any) -> None:
        linears = [m for m in actor.module.modules() if isinstance(m, torch.nn.Linear)]
        target = _action_layer(actor.module) if layer == "last" else linears[0]
        with torch.no_grad():
            target.weight[0, 0] += delta

    return change


def drop_normalization(what: str = "all") -> Callable[[Any], None]:
    """``change``: leave the VecNormalize formula (``all``) or only its clip (``clip``) out of the graph."""

    def change(actor: Any) -> None:
        for spec in actor.module.adapter.inputs:
            if spec.normalization is not None:
                mean, std, _ = spec.normalization
                spec.normalization = None if what == "all" else (mean, std, float("inf"))

    return change


def _action_layer(module: Any) -> torch.nn.Linear:
    """The layer producing the action (or Q-values / logits) in any of the exporter's actor modules."""
    for path in ("policy.action_net", "actor.mu", "network.q_net", "network.quantile_net", "actor.mu"):
        obj: Any = module
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, torch.nn.Sequential):
            obj = [m for m in obj if isinstance(m, torch.nn.Linear)][-1]
        if isinstance(obj, torch.nn.Linear):
            return obj
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]


def randomize_final_layer(model: Any, observations: Any, seed: int = 0) -> None:
    """Random weights in the layer that produces the action, logits or Q-values of ``model``, scaled on
    ``observations`` (as the policy receives them) so that the greedy action varies across them.

    The layer's input is recorded on ``observations``; each varying input gets a random weight of size
    1 / (its spread), and the bias centres every output, so the outputs spread by about one unit over the
    observations while a float32 rounding of the inputs moves them by ~1e-7 of that. ARS starts with all
    weights zero (no input varies), so its hidden layers are re-initialized first.
    """
    policy = model.policy
    if type(model).__name__ == "ARS":
        torch.manual_seed(seed)
        for module in policy.action_net.modules():
            if isinstance(module, torch.nn.Linear):
                module.reset_parameters()
    layer = _final_layer(policy)
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0].detach().clone()))
    try:
        if type(model).__name__ == "RecurrentPPO":
            n = (
                len(next(iter(observations.values())))
                if isinstance(observations, dict)
                else len(observations)
            )
            model.predict(observations, state=None, episode_start=np.ones(n, dtype=bool), deterministic=True)
        else:
            model.predict(observations, deterministic=True)
    finally:
        handle.remove()
    latent = captured[-1].reshape(-1, layer.in_features).double()
    mean, std = latent.mean(0), latent.std(0)
    varying = std > 1e-3 * (mean.abs() + 1e-3)
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(layer.weight.shape, generator=generator, dtype=torch.float64)
    weight = torch.where(
        varying, weight / (std * max(int(varying.sum()), 1) ** 0.5), torch.zeros_like(weight)
    )
    with torch.no_grad():
        layer.weight.copy_(weight.float())
        layer.bias.copy_((-(weight @ mean)).float())
    if hasattr(policy, "q_net_target"):  # DQN: keep the target network equal (SB3 saves both)
        policy.q_net_target.load_state_dict(policy.q_net.state_dict())
    if hasattr(policy, "quantile_net_target"):
        policy.quantile_net_target.load_state_dict(policy.quantile_net.state_dict())


def _final_layer(policy: Any) -> torch.nn.Linear:
    candidates = [
        getattr(policy, "action_net", None),
        getattr(getattr(policy, "q_net", None), "q_net", None),
        getattr(getattr(policy, "quantile_net", None), "quantile_net", None),
    ]
    layer = next(c for c in candidates if c is not None)
    if isinstance(layer, torch.nn.Sequential):
        layer = [m for m in layer if isinstance(m, torch.nn.Linear)][-1]
    return layer


def distinct_actions(actions: Any) -> int:
    """How many different actions (rows) appear in ``actions``."""
    rows = np.asarray(actions).reshape(len(actions), -1)
    return len({tuple(r) for r in rows.tolist()})
