"""The one training configuration: what to train, with which algorithm, for how long, and how to evaluate.

One validated pydantic model (:class:`TrainConfig`, on the same frozen, strict-keys ``ConfigModel`` base as
the simulation and task configs) for every algorithm: ``algo`` picks PPO or SAC and ``hyperparams`` holds
that algorithm's Stable-Baselines3 hyperparameters (:class:`PPOParams` or :class:`SACParams`, under SB3's own
names). A recipe, a task file's training section, a CLI override and a run's ``manifest.json`` are all this
one object, so a run can be repeated from its manifest alone::

    TrainConfig.model_validate(json.loads(Path("runs/x/manifest.json").read_text())["config"])

Configs are frozen (a run cannot change under a running trainer): derive a variant with
:meth:`TrainConfig.replace`, which validates the result like a new config.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, model_validator

from clankers.errors import ConfigError
from clankers.sim.model import ConfigModel

Algo = Literal["ppo", "sac"]
NetArch = list[int] | dict[str, list[int]]


class _Replaceable(ConfigModel):
    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` applied, validated like a new config (:class:`ConfigError` if invalid)."""
        return type(self)(**{**self.model_dump(), **changes})


class PPOParams(_Replaceable):
    """PPO hyperparameters (Stable-Baselines3 names; SB3's defaults except where noted).

    A rollout is ``num_envs x n_steps`` transitions; each is used for ``n_epochs`` passes of minibatches
    of ``batch_size``.
    """

    config_label = "PPO hyperparameters"

    learning_rate: float = Field(default=3e-4, gt=0)
    n_steps: int = Field(default=256, gt=0)  # SB3: 2048; 256 x 8 envs suits short-horizon tasks
    batch_size: int = Field(default=64, gt=0)
    n_epochs: int = Field(default=10, gt=0)
    gamma: float = Field(default=0.99, gt=0, le=1)
    gae_lambda: float = Field(default=0.95, ge=0, le=1)
    clip_range: float = Field(default=0.2, gt=0)
    ent_coef: float = Field(default=0.0, ge=0)
    vf_coef: float = Field(default=0.5, ge=0)
    max_grad_norm: float = Field(default=0.5, gt=0)
    net_arch: NetArch = Field(default_factory=lambda: {"pi": [64, 64], "vf": [64, 64]})
    activation: Literal["tanh", "relu", "elu"] = "tanh"  # of the hidden layers (SB3's default: tanh)
    log_std_init: float = 0.0  # initial log standard deviation of the Gaussian policy

    def sb3_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``stable_baselines3.PPO``."""
        import torch

        values = self.model_dump()
        policy_kwargs: dict[str, Any] = {"net_arch": values.pop("net_arch")}
        activation, log_std = values.pop("activation"), values.pop("log_std_init")
        if activation != "tanh":  # SB3's default: leave it out, as before
            policy_kwargs["activation_fn"] = {"relu": torch.nn.ReLU, "elu": torch.nn.ELU}[activation]
        if log_std != 0.0:
            policy_kwargs["log_std_init"] = log_std
        return {**values, "policy_kwargs": policy_kwargs}


class SACParams(_Replaceable):
    """SAC hyperparameters (Stable-Baselines3 names; SB3's defaults except where noted)."""

    config_label = "SAC hyperparameters"

    learning_rate: float = Field(default=1e-3, gt=0)  # SB3: 3e-4
    buffer_size: int = Field(default=100_000, gt=0)  # SB3: 1e6; our tasks need far fewer steps
    learning_starts: int = Field(default=1_000, ge=0)  # SB3: 100
    batch_size: int = Field(default=256, gt=0)
    gamma: float = Field(default=0.99, gt=0, le=1)
    tau: float = Field(default=0.005, gt=0, le=1)
    train_freq: int = Field(default=1, gt=0)
    gradient_steps: int = Field(default=1)
    ent_coef: str | float = "auto"
    net_arch: NetArch = Field(default_factory=lambda: [64, 64])  # SB3: [256, 256]

    def sb3_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``stable_baselines3.SAC``."""
        values = self.model_dump()
        net_arch = values.pop("net_arch")
        return {**values, "policy_kwargs": {"net_arch": net_arch}}


#: algo -> its hyperparameter model.
HYPERPARAMS: dict[str, type[PPOParams] | type[SACParams]] = {"ppo": PPOParams, "sac": SACParams}
#: Defaults that depend on the algorithm: PPO collects from many envs at once, SAC learns from one.
_ALGO_DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {"num_envs": 8, "eval_every": None},
    "sac": {"num_envs": 1, "eval_every": 5_000},
}


class TrainConfig(_Replaceable):
    """What to train and how.

    | field               | default        | meaning                                                         |
    |---------------------|----------------|-----------------------------------------------------------------|
    | task                | "cartpole"     | a task as every command accepts it (short name, id, task file)  |
    | algo                | "ppo"          | "ppo" or "sac"                                                  |
    | total_timesteps     | 30_000         | env-step budget (upper bound; training stops early when solved) |
    | num_envs            | 8 PPO, 1 SAC   | environments collecting transitions (env ``i`` seeded seed + i) |
    | seed                | 0              | seeds SB3, torch and every environment                          |
    | target_return       | None           | stop once the deterministic eval mean reaches it (None: never)  |
    | target_success_rate | None           | ... or once the eval success rate reaches it (None: never)      |
    | eval_episodes       | 20             | episodes per deterministic evaluation (fixed seeds)             |
    | eval_every          | PPO None, SAC 5_000 | env steps between evaluations (None: after every rollout)  |
    | checkpoint_every    | 10_000         | env steps between resumable checkpoints (None: only at the end) |
    | hyperparams         | the algo's     | :class:`PPOParams` or :class:`SACParams`                        |
    """

    config_label = "training config"

    task: str = "cartpole"
    algo: Algo = "ppo"
    total_timesteps: int = Field(default=30_000, gt=0)
    num_envs: int = Field(default=8, gt=0)
    seed: int = Field(default=0, ge=0)
    target_return: float | None = None
    target_success_rate: float | None = Field(default=None, ge=0, le=1)
    eval_episodes: int = Field(default=20, gt=0)
    eval_every: int | None = Field(default=None, gt=0)
    checkpoint_every: int | None = Field(default=10_000, gt=0)
    hyperparams: PPOParams | SACParams = Field(default_factory=PPOParams)

    @model_validator(mode="before")
    @classmethod
    def _algo_defaults(cls, values: Any) -> Any:
        """Fill the algorithm-dependent defaults, and parse ``hyperparams`` as the algo's own model."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        algo = values.get("algo", "ppo")
        if algo not in HYPERPARAMS:
            return values  # the Literal check reports it
        for key, default in _ALGO_DEFAULTS[algo].items():
            values.setdefault(key, default)
        params = values.get("hyperparams")
        model = HYPERPARAMS[algo]
        if params is None:
            values["hyperparams"] = model()
        elif isinstance(params, dict):
            values["hyperparams"] = model(**params)
        elif not isinstance(params, model):
            raise ValueError(
                f"hyperparams are {type(params).__name__} but algo is {algo!r}; pass {model.__name__}"
            )
        return values

    def __init__(self, **values: Any) -> None:
        from clankers.envs import resolve_task

        # Before pydantic, so the resolver's own error (naming the known tasks) reaches the user unwrapped.
        resolve_task(values.get("task", "cartpole"))
        super().__init__(**values)

    def with_hyperparams(self, **changes: Any) -> TrainConfig:
        """A copy with some hyperparameters changed (validated)."""
        return self.replace(hyperparams=self.hyperparams.replace(**changes))


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["learning_rate=1e-3", "net_arch=[128,128]"]`` -> a dict; values are JSON, else plain strings.

    The CLI's ``--set KEY=VALUE`` (repeatable) goes through here; keys are validated by the config.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"override {pair!r} is not KEY=VALUE", hint="write e.g. --set learning_rate=3e-4"
            )
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """Apply ``KEY=VALUE`` overrides: a key of :class:`TrainConfig` or of the algorithm's hyperparameters."""
    top = {k: v for k, v in overrides.items() if k in TrainConfig.model_fields}
    params = {k: v for k, v in overrides.items() if k not in top}
    fixed = sorted({"task", "algo", "hyperparams"} & set(top))
    if fixed:
        raise ConfigError(
            f"{fixed} cannot be set with KEY=VALUE", hint="name the task as the argument and use --algo"
        )
    known = set(type(config.hyperparams).model_fields)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {unknown} for {config.algo.upper()}",
            hint=f"settable: {sorted(set(TrainConfig.model_fields) - {'task', 'algo', 'hyperparams'})} "
            f"and the {config.algo.upper()} hyperparameters {sorted(known)}",
        )
    if top:
        config = config.replace(**top)
    return config.with_hyperparams(**params) if params else config


def with_algo(config: TrainConfig, algo: str) -> TrainConfig:
    """``config`` switched to another algorithm: the task, budget, seed and targets stay, the rest (the
    algorithm's hyperparameters, ``num_envs``, ``eval_every``) become that algorithm's defaults."""
    if algo == config.algo:
        return config
    keep = ("task", "total_timesteps", "seed", "target_return", "target_success_rate", "eval_episodes")
    return TrainConfig(algo=algo, **{k: getattr(config, k) for k in keep})
