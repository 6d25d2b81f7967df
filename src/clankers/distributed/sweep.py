"""Hyperparameter sweeps and multi-seed runs on Ray Tune: each trial is a normal training run.

``clankers sweep cartpole --param learning_rate=loguniform(1e-4,1e-3) --seeds 5 --trials 20``:

- A **trial** is one set of hyperparameters. It trains the task's recipe (with the trial's values applied
  as ``KEY=VALUE`` overrides, exactly as ``clankers train --set``) once per seed, ``seed 0 .. seeds-1``,
  each a normal :func:`clankers.train.train` run with its own folder, ``manifest.json``, ``model.zip``,
  ``training.json`` and curve: ``OUT/trials/<trial>/seed-<s>/``. Its score is the mean over seeds of the
  final deterministic evaluation (return, or success rate with ``metric="success_rate"``); the trial
  reports it to Tune after every seed.
- **Search**: Optuna's TPE sampler (``search="optuna"``, seeded) proposes the next values from the scores
  so far; ``search="random"`` samples the distributions independently.
- **Pruning**: ASHA (``scheduler="asha"``) with the seeds as its time axis stops a trial whose first seeds
  score in the bottom half of the trials that got as far; a pruned trial reports the seeds it finished.
  The best trial is chosen among the trials that ran every seed.
- **Outputs**: ``sweep.json`` (every trial: values, per-seed scores, folders), ``results.csv``,
  ``best_trials.png`` (scores per trial and the evaluation curves of the best ones) and ``best/``: the
  best trial's best seed's ``model.zip``, exported to ``best/policy.onnx`` and verified as usual.

Every node that runs trials needs the ``train`` extra (torch, SB3), and ``OUT`` must be a folder every
node can write (the trials write their runs there): a local path on one machine, a shared filesystem
(NFS and the like) on a cluster. See ``docs/scaling.md``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from clankers.errors import ConfigError

DISTRIBUTIONS = ("loguniform", "uniform", "randint", "qrandint", "choice")
_SPEC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*$")
_CALL = re.compile(r"^([a-z]+)\((.*)\)$", re.S)


@dataclass(frozen=True)
class ParamSpec:
    """One swept setting: ``name`` and its distribution (``kind`` and ``args``), or a fixed ``value``."""

    name: str
    kind: str  # one of DISTRIBUTIONS, or "value"
    args: tuple[Any, ...]

    def domain(self) -> Any:
        """The Ray Tune search-space object (or the plain value)."""
        from ray import tune

        if self.kind == "value":
            return self.args[0]
        return getattr(tune, self.kind)(*self.args) if self.kind != "choice" else tune.choice(list(self.args))

    def __str__(self) -> str:
        if self.kind == "value":
            return f"{self.name}={self.args[0]!r}"
        return f"{self.name}={self.kind}({', '.join(repr(a) for a in self.args)})"


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip().strip("'\"")


def parse_param(spec: str) -> ParamSpec:
    """``"learning_rate=loguniform(1e-4,1e-3)"`` -> :class:`ParamSpec`; :class:`ConfigError` explains.

    Distributions: ``loguniform(low, high)``, ``uniform(low, high)``, ``randint(low, high)`` (high
    excluded), ``qrandint(low, high, q)``, ``choice(a, b, ...)``; anything else is a fixed value (JSON, or
    a plain string), e.g. ``n_epochs=5``.
    """
    match = _SPEC.match(spec)
    if not match:
        raise ConfigError(
            f"--param {spec!r} is not NAME=DISTRIBUTION",
            hint="write e.g. --param 'learning_rate=loguniform(1e-4,1e-3)'",
        )
    name, rhs = match.groups()
    call = _CALL.match(rhs)
    if call is None:
        return ParamSpec(name, "value", (_literal(rhs),))
    kind, inner = call.groups()
    if kind not in DISTRIBUTIONS:
        raise ConfigError(
            f"--param {spec!r}: unknown distribution {kind!r}", hint=f"use one of {', '.join(DISTRIBUTIONS)}"
        )
    args = tuple(_literal(a) for a in inner.split(",")) if inner.strip() else ()
    if kind == "choice":
        if not args:
            raise ConfigError(f"--param {spec!r}: choice() needs at least one value")
        return ParamSpec(name, kind, args)
    want = 3 if kind == "qrandint" else 2
    if len(args) != want or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise ConfigError(f"--param {spec!r}: {kind} takes {want} numbers, got {inner!r}")
    low, high = args[0], args[1]
    if not low < high or (kind == "loguniform" and low <= 0):
        raise ConfigError(
            f"--param {spec!r}: needs low < high" + (" and low > 0" if kind == "loguniform" else "")
        )
    if kind in ("randint", "qrandint") and not all(isinstance(a, int) for a in args):
        raise ConfigError(f"--param {spec!r}: {kind} takes integers")
    return ParamSpec(name, kind, args)


@dataclass
class SweepConfig:
    """What to sweep and how (see the module docstring).

    | field           | default       | meaning                                                          |
    |-----------------|---------------|------------------------------------------------------------------|
    | task            | required      | the task, as ``clankers train`` takes it                         |
    | params          | required      | :class:`ParamSpec` list (``--param``)                            |
    | trials          | 10            | hyperparameter sets to try                                       |
    | seeds           | 3             | training seeds per trial (``0 .. seeds-1``)                       |
    | timesteps       | recipe's      | env-step budget of every run                                     |
    | metric          | "eval_mean"   | ``eval_mean`` (final deterministic return) or ``success_rate``   |
    | search          | "optuna"      | ``optuna`` (TPE) or ``random``                                   |
    | scheduler       | "asha"        | ``asha`` (prune on early seeds) or ``none``                      |
    | cpus_per_trial  | 1             | Ray CPUs each trial reserves                                     |
    | max_concurrent  | None          | trials at once (default: as many as the cluster's CPUs allow)    |
    | search_seed     | 0             | seed of the search algorithm                                     |
    | export_best     | True          | export the best model to ``best/policy.onnx``                    |
    """

    task: str
    params: list[ParamSpec]
    trials: int = 10
    seeds: int = 3
    timesteps: int | None = None
    metric: str = "eval_mean"
    search: str = "optuna"
    scheduler: str = "asha"
    cpus_per_trial: float = 1
    max_concurrent: int | None = None
    search_seed: int = 0
    export_best: bool = True
    fixed: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        from clankers.train import recipe_for

        if self.trials < 1 or self.seeds < 1:
            raise ConfigError(f"trials and seeds must be >= 1, got {self.trials} and {self.seeds}")
        if self.metric not in ("eval_mean", "success_rate"):
            raise ConfigError(f"unknown metric {self.metric!r}", hint="use eval_mean or success_rate")
        if self.search not in ("optuna", "random"):
            raise ConfigError(f"unknown search {self.search!r}", hint="use optuna or random")
        if self.scheduler not in ("asha", "none"):
            raise ConfigError(f"unknown scheduler {self.scheduler!r}", hint="use asha or none")
        if not self.params:
            raise ConfigError(
                "nothing to sweep",
                hint="add --param NAME=DISTRIBUTION (e.g. learning_rate=loguniform(1e-4,1e-3))",
            )
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ConfigError(f"a parameter is given twice in {names}")
        # Every name must be a setting the training config knows: try one sample's worth of values.
        recipe_for(
            self.task,
            total_timesteps=self.timesteps,
            overrides={**self.fixed, **_example_values(self.params)},
        )


def _example_values(params: list[ParamSpec]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "value" or p.kind == "choice":
            out[p.name] = p.args[0]
        elif p.kind == "loguniform":
            out[p.name] = math.sqrt(p.args[0] * p.args[1])
        elif p.kind == "uniform":
            out[p.name] = (p.args[0] + p.args[1]) / 2
        else:
            out[p.name] = int(p.args[0])
    return out


# --- one trial (runs in a Ray Tune worker) --------------------------------------------------------------


def _score(result: Any, metric: str) -> float:
    value = result.eval_mean if metric == "eval_mean" else result.eval_success_rate
    return float(value)


def run_trial(values: dict[str, Any], *, sweep: SweepConfig, out: str) -> None:
    """Tune's function trainable: train ``sweep.seeds`` runs with ``values``; report after each seed."""
    import ray
    from ray import tune

    from clankers.train import recipe_for, train

    node = ray.get_runtime_context().get_node_id()
    trial_dir = Path(out) / "trials" / tune.get_context().get_trial_id()
    scores: list[float] = []
    for seed in range(sweep.seeds):
        config = recipe_for(
            sweep.task, seed=seed, total_timesteps=sweep.timesteps, overrides={**sweep.fixed, **values}
        )
        result = train(config, trial_dir / f"seed-{seed}")
        scores.append(_score(result, sweep.metric))
        finite = [s for s in scores if not math.isnan(s)]
        tune.report(
            {
                "score": float(sum(finite) / len(finite)) if finite else -math.inf,
                "seeds_done": seed + 1,
                "seed_scores": list(scores),
                "trial_dir": str(trial_dir),
                "env_steps": result.env_steps,
                "node": node,
            }
        )


# --- the sweep ------------------------------------------------------------------------------------------


@dataclass
class TrialRow:
    """One trial in the results table."""

    trial_id: str
    values: dict[str, Any]
    score: float
    seed_scores: list[float]
    seeds_done: int
    status: str  # "complete", "pruned" or "error: ..."
    trial_dir: str
    node: str | None = None  # the Ray node it trained on


@dataclass
class SweepResult:
    """Every trial (best first), the best complete trial, and the output files."""

    out_dir: Path
    rows: list[TrialRow]
    best: TrialRow | None
    best_model: Path | None = None
    best_policy: Path | None = None
    plot: Path | None = None
    wall_time_s: float = 0.0
    nodes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trials": [asdict(r) for r in self.rows],
            "best": None if self.best is None else asdict(self.best),
            "best_model": None if self.best_model is None else str(self.best_model),
            "best_policy": None if self.best_policy is None else str(self.best_policy),
            "plot": None if self.plot is None else str(self.plot),
            "wall_time_s": round(self.wall_time_s, 3),
            "nodes": self.nodes,
        }


def run_sweep(
    sweep: SweepConfig, out_dir: str | Path, *, log: Callable[[str], None] | None = None
) -> SweepResult:
    """Run the sweep on the connected Ray cluster; write the table, plot and best model to ``out_dir``."""
    from ray import tune

    from clankers.distributed.cluster import require_connected

    require_connected()
    sweep.validate()
    out = Path(out_dir).resolve()  # Tune runs trials in their own working directories
    out.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _msg: None)

    space = {p.name: p.domain() for p in sweep.params if p.kind != "value"}
    fixed = {p.name: p.args[0] for p in sweep.params if p.kind == "value"}
    sweep = replace(sweep, fixed={**sweep.fixed, **fixed})
    searcher: Any = None
    if sweep.search == "optuna" and space:
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial otherwise

        searcher = OptunaSearch(seed=sweep.search_seed)
    if searcher is not None and sweep.max_concurrent:
        from ray.tune.search import ConcurrencyLimiter

        searcher = ConcurrencyLimiter(searcher, max_concurrent=sweep.max_concurrent)
    scheduler: Any = None
    if sweep.scheduler == "asha" and sweep.seeds > 1:
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(
            time_attr="seeds_done", max_t=sweep.seeds, grace_period=1, reduction_factor=2
        )

    trainable = tune.with_resources(
        tune.with_parameters(run_trial, sweep=sweep, out=str(out)), {"cpu": sweep.cpus_per_trial}
    )
    tuner = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="score",
            mode="max",
            num_samples=sweep.trials,
            search_alg=searcher,
            scheduler=scheduler,
            max_concurrent_trials=None if searcher is not None else sweep.max_concurrent,
        ),
        run_config=tune.RunConfig(name="tune", storage_path=str(out), verbose=0),
    )
    say(
        f"sweeping {sweep.task}: {sweep.trials} trials x {sweep.seeds} seeds over {', '.join(map(str, sweep.params))}"
    )
    start = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - start

    rows = [_row(result, sweep) for result in grid]
    rows.sort(
        key=lambda r: (r.status == "complete", r.score if not math.isnan(r.score) else -math.inf),
        reverse=True,
    )
    complete = [r for r in rows if r.status == "complete"]
    result = SweepResult(out_dir=out, rows=rows, best=complete[0] if complete else None, wall_time_s=wall)
    result.nodes = sorted({r.node for r in rows if r.node})
    if result.best is not None:
        _keep_best(result, sweep, say)
    result.plot = plot_best_trials(result, out / "best_trials.png", sweep)
    _write_tables(result, sweep, out)
    return result


def _row(result: Any, sweep: SweepConfig) -> TrialRow:
    metrics = result.metrics or {}
    values = {p.name: result.config.get(p.name, sweep.fixed.get(p.name)) for p in sweep.params}
    trial_id = metrics.get("trial_id") or Path(result.path).name
    done = int(metrics.get("seeds_done", 0))
    if result.error is not None:
        status = f"error: {type(result.error).__name__}: {str(result.error).splitlines()[0][:200]}"
    elif done >= sweep.seeds:
        status = "complete"
    else:
        status = "pruned"
    score = metrics.get("score", math.nan)
    return TrialRow(
        trial_id=str(trial_id),
        values=values,
        score=float(score) if score is not None else math.nan,
        seed_scores=[float(s) for s in metrics.get("seed_scores", [])],
        seeds_done=done,
        status=status,
        trial_dir=str(metrics.get("trial_dir", "")),
        node=metrics.get("node"),
    )


def _best_seed_dir(row: TrialRow) -> Path:
    scores = [(-math.inf if math.isnan(s) else s) for s in row.seed_scores]
    seed = max(range(len(scores)), key=lambda i: scores[i])
    return Path(row.trial_dir) / f"seed-{seed}"


def _keep_best(result: SweepResult, sweep: SweepConfig, say: Callable[[str], None]) -> None:
    assert result.best is not None
    source = _best_seed_dir(result.best)
    best = result.out_dir / "best"
    if best.exists():
        shutil.rmtree(best)
    shutil.copytree(source, best, ignore=shutil.ignore_patterns("checkpoints"))
    result.best_model = best / "model.zip"
    if sweep.export_best:
        from clankers.export import export_sb3

        say(f"exporting the best model ({source}) to {best / 'policy.onnx'}")
        export_sb3(result.best_model, best / "policy.onnx", env=sweep.task)
        result.best_policy = best / "policy.onnx"


def _write_tables(result: SweepResult, sweep: SweepConfig, out: Path) -> None:
    summary = {
        "task": sweep.task,
        "params": [str(p) for p in sweep.params],
        "trials": sweep.trials,
        "seeds": sweep.seeds,
        "metric": sweep.metric,
        "search": sweep.search,
        "scheduler": sweep.scheduler,
        **result.to_dict(),
    }
    _atomic_write(out / "sweep.json", json.dumps(summary, indent=2, default=_jsonable))
    buffer = io.StringIO()
    names = [p.name for p in sweep.params]
    writer = csv.writer(buffer)
    writer.writerow(["rank", "trial", *names, "score", "seed_scores", "seeds_done", "status", "folder"])
    for rank, row in enumerate(result.rows, 1):
        writer.writerow(
            [rank, row.trial_id, *[row.values.get(n) for n in names], row.score,
             " ".join(f"{s:.6g}" for s in row.seed_scores), row.seeds_done, row.status, row.trial_dir]
        )  # fmt: skip
    _atomic_write(out / "results.csv", buffer.getvalue())


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def plot_best_trials(result: SweepResult, path: Path, sweep: SweepConfig, top: int = 5) -> Path:
    """Left: every trial's score with its per-seed scores, best first. Right: the evaluation curves of
    the ``top`` best trials' runs (one colour per trial, one line per seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    rows = result.rows
    for rank, row in enumerate(rows):
        colour = "tab:blue" if row.status == "complete" else "tab:gray"
        left.bar(rank, 0 if math.isnan(row.score) else row.score, color=colour, alpha=0.5)
        left.plot([rank] * len(row.seed_scores), row.seed_scores, "k.", markersize=4)
    left.set_xticks(range(len(rows)), [r.trial_id[-5:] for r in rows], rotation=60, fontsize=7)
    left.set_ylabel(f"{sweep.metric} (bar: mean over seeds, dots: seeds)")
    left.set_title(f"{len(rows)} trials, best first (gray: pruned or failed)")
    for rank, row in enumerate([r for r in rows if r.status == "complete"][:top]):
        label = ", ".join(f"{k}={_short(v)}" for k, v in row.values.items())
        for s in range(row.seeds_done):
            history = _history(Path(row.trial_dir) / f"seed-{s}")
            if history:
                right.plot(
                    history[0],
                    history[1],
                    "o-",
                    markersize=3,
                    color=f"C{rank}",
                    alpha=0.7,
                    label=label if s == 0 else None,
                )
    right.set_xlabel("environment steps")
    right.set_ylabel("deterministic evaluation return")
    right.set_title(f"best {top} complete trials, every seed")
    if right.lines:
        right.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"sweep of {sweep.task}")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _history(run_dir: Path) -> tuple[list[float], list[float]] | None:
    summary = run_dir / "training.json"
    if not summary.is_file():
        return None
    history = json.loads(summary.read_text()).get("history", {})
    steps, means = history.get("eval_steps", []), history.get("eval_mean", [])
    return (steps, means) if steps else None


__all__ = [
    "ParamSpec",
    "SweepConfig",
    "SweepResult",
    "TrialRow",
    "parse_param",
    "plot_best_trials",
    "run_sweep",
    "run_trial",
]
