"""Videos of a policy: one episode filmed from any ``obs -> action`` function, and an SB3 callback that
films the model being trained every N env steps (``clankers train --video-every N``).

Training videos go to ``<run>/videos/step_<steps>.mp4``, beside the training curve: one deterministic
episode each, on the evaluation seed, so successive videos show the same start getting better.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from clankers.envs import make_env
from clankers.envs.rollout import evaluate
from clankers.render.video import VideoRecorder


def film_policy(
    act: Callable[[np.ndarray], np.ndarray],
    task: str,
    path: str | Path,
    *,
    seed: int = 0,
    episodes: int = 1,
    width: int = 640,
    height: int = 480,
    fps: float | None = None,
    overlay: bool = True,
    on_reset: Callable[[], None] | None = None,
) -> Path:
    """Run ``act`` for ``episodes`` seeded episodes of ``task`` and film them into ``path``."""
    env = make_env(task, render_mode="rgb_array", width=width, height=height)
    film = VideoRecorder(env, path, fps=fps, overlay=overlay)
    evaluate(act, task, episodes, seed, env_factory=lambda: film, on_reset=on_reset)  # closes the film
    return Path(path)


def video_every(task: str, every: int, out_dir: str | Path, seed: int = 0, **film: Any) -> Any:
    """An SB3 callback filming one deterministic episode every ``every`` env steps (and at the end)."""
    from stable_baselines3.common.callbacks import BaseCallback

    folder = Path(out_dir)

    class VideoEvery(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_at = every
            self.paths: list[Path] = []

        def _film(self) -> None:
            model = self.model
            path = folder / f"step_{self.num_timesteps:08d}.mp4"
            film_policy(lambda obs: model.predict(obs, deterministic=True)[0], task, path, seed=seed, **film)
            self.paths.append(path)

        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            if self.num_timesteps >= self.next_at:
                self.next_at = (self.num_timesteps // every + 1) * every
                self._film()

        def _on_training_end(self) -> None:
            if not self.paths or self.paths[-1].stem != f"step_{self.num_timesteps:08d}":
                self._film()

    return VideoEvery()
