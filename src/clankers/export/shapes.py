"""Shapes and tracing inputs of an exported graph, and the environment/model agreement check."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from clankers.errors import ExportError
from clankers.export.sb3 import ExportableActor


def env_image_layout(space: gym.spaces.Space) -> str | None:
    """The layout an environment's camera images come in, so the graph takes them as they are."""
    from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first

    subspaces = space.spaces.values() if isinstance(space, gym.spaces.Dict) else [space]
    for sub in subspaces:
        if is_image_space(sub):
            return "CHW" if is_image_space_channels_first(sub) else "HWC"
    return None


def check_environment(environment: gym.Env, actor: ExportableActor) -> None:
    """The environment used for parity must be the model's: same action space, compatible observations."""
    from clankers.export.observations import env_observation_to_graph

    if environment.action_space != actor.action_space:
        raise ExportError(
            f"the environment's action space {environment.action_space} is not the model's "
            f"{actor.action_space}; pass the environment the model was trained on"
        )
    env_observation_to_graph(
        actor.inputs, environment.observation_space.sample(), environment.observation_space
    )


def action_shape(space: gym.spaces.Space) -> tuple[int, ...]:
    """Per-sample shape of the graph's action output."""
    if isinstance(space, gym.spaces.Discrete):
        return ()
    if isinstance(space, gym.spaces.MultiDiscrete):
        return (len(np.asarray(space.nvec).ravel()),)
    if isinstance(space, gym.spaces.MultiBinary):
        return (int(np.prod(space.n)),)
    return tuple(int(d) for d in space.shape)


def declared_shapes(actor: ExportableActor) -> dict[str, list[int | str]]:
    """Every graph tensor's shape as the format declares it: ``batch`` plus fixed feature sizes."""
    shapes: dict[str, list[int | str]] = {spec.name: ["batch", *spec.graph_shape] for spec in actor.inputs}
    shapes["action"] = ["batch", *action_shape(actor.action_space)]
    if actor.recurrent is not None:
        state: list[int | str] = [actor.recurrent.n_layers, "batch", actor.recurrent.hidden_size]
        for name in (*actor.recurrent.inputs, *actor.recurrent.outputs):
            shapes[name] = state
    return shapes


def example_inputs(actor: ExportableActor, batch: int) -> tuple[torch.Tensor, ...]:
    """Tracing inputs. Batch 2, not 1, so no size-1 dimension can be mistaken for a squeezable one."""
    dtypes = {"float32": torch.float32, "uint8": torch.uint8}
    tensors = [torch.zeros((batch, *spec.graph_shape), dtype=dtypes[spec.dtype]) for spec in actor.inputs]
    if actor.recurrent is not None:
        shape = actor.recurrent.state_shape(batch)
        tensors += [torch.zeros(shape), torch.zeros(shape)]
    return tuple(tensors)
