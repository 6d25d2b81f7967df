"""Videos and trajectory plots of policies: film_policy, train's evaluation videos, run --plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from clankers.cli import app
from clankers.render.video import read_video
from clankers.viz.training import film_policy


def test_film_policy_films_every_control_step(tmp_path: Path) -> None:
    path = film_policy(
        lambda obs: np.zeros(1, np.float32), "pendulum", tmp_path / "p.mp4", width=64, height=48, episodes=1
    )
    frames = read_video(path)
    from clankers.envs import make_env

    steps = make_env("pendulum").unwrapped.max_episode_steps
    assert frames.shape == (steps + 1, 48, 64, 3)  # the reset, then every control step
    assert frames[:, :12].max() > 200  # the overlay's text


def test_train_films_evaluation_episodes(tmp_path: Path) -> None:
    from clankers.train import recipe_for, train
    from clankers.viz.training import video_every

    config = recipe_for("cartpole", seed=0, total_timesteps=600, num_envs=1)
    callback = video_every("cartpole", 256, tmp_path / "videos", width=48, height=32)
    train(config, tmp_path, callbacks=[callback])
    videos = sorted((tmp_path / "videos").glob("step_*.mp4"))
    assert len(videos) >= 2 and videos == callback.paths
    assert all(len(read_video(v)) >= 2 for v in videos)


def test_run_plot_overlays_sb3_on_onnx(
    tiny_cartpole_policy: Path, tiny_cartpole_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "traj.png"
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(tiny_cartpole_policy),
            "--episodes",
            "2",
            "--compare",
            str(tiny_cartpole_model),
            "--plot",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size[0] > 600 and image.size[1] > 300
        pixels = np.asarray(image.convert("RGB"))
    rgb = pixels.astype(int)
    blue = (rgb[..., 2] > rgb[..., 0] + 60) & (rgb[..., 2] > 150)  # matplotlib's C0: the ONNX run
    orange = rgb[..., 0] > rgb[..., 2] + 100  # C1: SB3 predict
    # The runs are identical, so SB3's lines hide the ONNX ones; the legend shows both.
    assert blue.sum() > 5 and orange.sum() > 200
