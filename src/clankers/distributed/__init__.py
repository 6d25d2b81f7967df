"""Beyond one machine: rollouts, evaluation and sweeps on a Ray cluster (the ``ray`` extra).

Three things scale out, each on Ray's own mechanism rather than a home-made one:

- **Rollouts** (:class:`~clankers.distributed.sb3.RaySB3VecEnv`): an SB3 ``VecEnv`` whose envs live in
  Ray actors, a slice of envs per actor stepped in one call, bit for bit the local vector env's numbers.
- **Evaluation** (:func:`~clankers.distributed.evaluation.evaluate_policy_file`): a policy file run on
  torch-free workers (onnxruntime only) in chunks of seeded episodes, every requested episode counted
  exactly once even when a worker dies; the same numbers as the local evaluation.
- **Sweeps** (:func:`~clankers.distributed.sweep.run_sweep`): Ray Tune trials, each a normal training run
  with its own output folder, searched with Optuna and pruned with ASHA.

Connecting is explicit (:func:`~clankers.distributed.cluster.ray_session`). A throwaway multi-node cluster
on one machine, inside a private network namespace, is in :mod:`clankers.distributed.sandbox` (tests and
benchmarks). ``docs/scaling.md`` explains real clusters, KubeRay and failure behaviour.

Layering: this package sits beside ``train/``; it uses ``envs/``, ``policy/`` and (for sweeps) ``train/``
and ``export/``. Names are resolved lazily, so importing it loads neither Ray nor SB3.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ray_session": "clankers.distributed.cluster",
    "RaySB3VecEnv": "clankers.distributed.sb3",
    "evaluate_policy_file": "clankers.distributed.evaluation",
    "EvaluationReport": "clankers.distributed.evaluation",
    "run_sweep": "clankers.distributed.sweep",
    "SweepConfig": "clankers.distributed.sweep",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'clankers.distributed' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
