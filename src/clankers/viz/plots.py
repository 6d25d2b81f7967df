"""Trajectory plots: observations and actions over time, one panel each, several runs overlaid.

A return is one number per episode; a trajectory shows *how* a policy behaves (does the cart drift, does
the arm overshoot, do the actions chatter). :func:`plot_trajectories` draws, for the chosen episodes,
every observation entry and every action entry against simulated time, with each run (the ONNX policy,
the SB3 model it came from, a baseline) in its own colour and each episode in its own line style, so a
difference between runs shows at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from clankers.envs.rollout import Evaluation

_MAX_PANELS = 12  # more observation entries than this: the first ones (large tasks stay readable)


def plot_trajectories(
    runs: Mapping[str, Evaluation],
    path: str | Path,
    *,
    observation_names: Sequence[str] | None = None,
    action_names: Sequence[str] | None = None,
    episodes: Sequence[int] = (0,),
    control_dt: float | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG of the ``episodes`` of every run in ``runs`` (recorded with ``record=True``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(runs.values()))
    sample = first.episodes[0]
    if sample.observations is None or sample.actions is None:
        raise ValueError("plot_trajectories needs evaluations run with record=True")
    n_obs, n_act = sample.observations.shape[1], sample.actions.shape[1]
    obs_names = list(observation_names or [f"obs[{i}]" for i in range(n_obs)])[:n_obs]
    act_names = list(action_names or [f"action[{i}]" for i in range(n_act)])[:n_act]
    panels = [("observation", i, obs_names[i]) for i in range(min(n_obs, _MAX_PANELS))]
    panels += [("action", i, act_names[i]) for i in range(min(n_act, _MAX_PANELS))]
    columns = 2
    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(10, 1.9 * rows + 0.8), squeeze=False, sharex=True)
    dt = control_dt or first.control_dt or 1.0
    unit = "s" if (control_dt or first.control_dt) else "step"
    styles = ["-", "--", ":", "-."]
    for (kind, index, name), ax in zip(panels, axes.ravel(), strict=False):
        for r, (label, run) in enumerate(runs.items()):
            for e in episodes:
                if e >= len(run.episodes):
                    continue
                episode = run.episodes[e]
                values = episode.observations if kind == "observation" else episode.actions
                if values is None:
                    continue
                series = values[:, index]
                start = 0 if kind == "observation" else 1  # actions lead to states 1..T
                t = (np.arange(len(series)) + start) * dt
                ax.plot(
                    t,
                    series,
                    styles[episodes.index(e) % len(styles)],
                    color=f"C{r % 10}",
                    linewidth=1.2,
                    label=f"{label}, episode {e}" if len(episodes) > 1 else label,
                )
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel(f"time ({unit})", fontsize=8)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    top = 1 - 0.75 / fig.get_figheight()  # room for the title and the legend, in inches
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.35 / fig.get_figheight()),
        ncol=min(4, len(labels)),
        frameon=False,
        fontsize=8,
    )
    if title:
        fig.suptitle(title, y=1 - 0.05 / fig.get_figheight(), fontsize=10, va="top")
    fig.tight_layout(rect=(0, 0, 1, top))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
