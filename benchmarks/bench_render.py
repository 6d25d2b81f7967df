"""Rendering, video and recording costs.

1. Offscreen render time of one 640x480 RGB frame of the decorated scene (``env.render()``), for the
   cart-pole and for the registered task with the largest model (most geoms), beside the env step; and
   for the largest robot of the import corpus (Talos from example-robot-data, with its meshes).
2. ``run --video`` against a plain run: the same closed loop (a constant action, so the policy costs
   nothing and the ratio is the video's alone) with and without filming at 30 fps, 640x480, MP4.
   Target: at most 2x.
3. ``run --record`` against a plain run: the loop with the state recorder, and the loop plus writing the
   MCAP file (Foxglove channels included; uncompressed, the default, and lz4 and zstd beside it), wall
   and CPU time. Target: at most 10% slower.

Loops are interleaved round by round, so machine load hits every alternative alike.

Without a GPU, MuJoCo renders through Mesa's software rasterizer (llvmpipe) on the CPU; that is what
these figures measure here.
"""

from __future__ import annotations

import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._timing import machine_line

STEPS = 300
ROUNDS = 3
RECORD_STEPS = 5000


def _loop(env, steps: int) -> None:  # type: ignore[no-untyped-def]
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    env.reset(seed=0)
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()


def _median_time(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _largest_task() -> tuple[str, int]:
    from clankers.envs import make_env, registered_tasks

    sizes = {}
    for name in registered_tasks():
        env = make_env(name)
        model = env.unwrapped.sim.model
        sizes[name] = int(model.ngeom)
        env.close()
    name = max(sizes, key=sizes.get)  # type: ignore[arg-type]
    return name, sizes[name]


def _frame_time(task: str) -> tuple[float, float]:
    """(seconds per 640x480 render, seconds per env step)."""
    from clankers.envs import make_env

    env = make_env(task, render_mode="rgb_array", width=640, height=480)
    env.reset(seed=0)
    env.render()  # context creation
    action = np.zeros(env.action_space.shape, dtype=np.float32)

    def render() -> None:
        for _ in range(20):
            env.render()

    def step() -> None:
        env.reset(seed=0)
        for _ in range(200):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    frame = _median_time(render, 5) / 20
    step_time = _median_time(step, 5) / 200
    env.close()
    return frame, step_time


def _robot_frame_time(relative: str) -> tuple[str, int, float] | None:
    """A vendor's robot from example-robot-data (meshes), decorated: (name, geoms, seconds per frame)."""
    import warnings

    import mujoco

    from clankers.render import SceneRenderer, decorate_spec, place_floor
    from clankers.sim import load_robot
    from clankers.sim.urdf import example_robot_data

    robots = example_robot_data()
    if robots is None or not (robots / relative).is_file():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        robot = load_robot(robots / relative, scenery=decorate_spec)
    place_floor(robot.model)
    data = mujoco.MjData(robot.model)
    mujoco.mj_forward(robot.model, data)
    with SceneRenderer(robot.model, 640, 480) as renderer:
        renderer.rgb(data)
        frame = _median_time(lambda: [renderer.rgb(data) for _ in range(10)], 5) / 10
    return relative.split("/")[-1], int(robot.model.ngeom), frame


def _interleaved(alternatives: dict[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, float]:
    """Median seconds of each alternative, run round by round in turn (load hits all alike)."""
    samples: dict[str, list[float]] = {name: [] for name in alternatives}
    for _ in range(rounds):
        for name, fn in alternatives.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def _video_ratio(task: str, folder: Path) -> tuple[float, float, float]:
    from clankers.envs import make_env
    from clankers.render.video import VideoRecorder

    plain = make_env(task)
    rendering = make_env(task, render_mode="rgb_array", width=640, height=480)
    rendering.reset(seed=0)
    rendering.render()  # the OpenGL context exists before timing, as in a run after its first frame

    def filmed() -> None:
        film = VideoRecorder(rendering, folder / "v.mp4", fps=30)
        _loop(film, STEPS)
        film.film.close()  # the MP4 is finished and renamed (the env stays open for the next round)

    times = _interleaved({"plain": lambda: _loop(plain, STEPS), "filmed": filmed})
    return times["plain"], times["filmed"], times["filmed"] / times["plain"]


def _record_ratio(
    task: str, folder: Path, steps: int = RECORD_STEPS, passes: int = 3, segment: int = 100
) -> dict[str, dict[str, Any]]:
    """Seconds per step (wall and CPU) of the plain loop, the loop with the state recorder, and the
    recorded loop plus writing the MCAP file (uncompressed, the default; also lz4 and zstd chunks), with
    the file's bytes per step.

    The machine is shared and its load moves by several percent within a second, more than what is
    measured here; so the two loops run in alternating segments of ``segment`` steps (each continuing
    its own episodes, the first of each pair alternating) and a step's cost is the median over
    segments. Each pass records ``steps`` steps; what it kept is then written three times in each
    compression, order rotating, and a file's cost per step is the median write time over them."""
    from clankers.envs import make_env
    from clankers.envs.recording import StateRecorder, write_recording

    plain = make_env(task)
    recorder = StateRecorder(make_env(task))
    action = np.zeros(plain.action_space.shape, dtype=np.float32)
    wall: dict[str, list[float]] = {name: [] for name in ("plain", "loop", "none", "lz4", "zstd")}
    cpu: dict[str, list[float]] = {name: [] for name in wall}
    sizes: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], object], steps: int) -> None:
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall[name].append((time.perf_counter() - start_wall) / steps)
        cpu[name].append((time.process_time() - start_cpu) / steps)

    def run(env) -> None:  # type: ignore[no-untyped-def]
        for _ in range(segment):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    per_pass = []  # the default file's wall ratio, pass by pass: how much the figure moves
    for _ in range(passes):
        marks = {name: len(values) for name, values in wall.items()}
        recorder.episodes = []
        plain.reset(seed=0)
        recorder.reset(seed=0)
        for k in range(steps // segment):
            for name in ("plain", "loop") if k % 2 == 0 else ("loop", "plain"):
                timed(name, lambda env=plain if name == "plain" else recorder: run(env), segment)
        episodes = recorder.finish()
        kept = sum(e.length for e in episodes)
        compressions = {"none": "", "lz4": "lz4", "zstd": "zstd"}
        names = list(compressions)
        for k in range(3 * len(names)):
            name = names[k % len(names)]
            path = folder / f"{name}-{k}.mcap"  # a new file, as a run writes (not one replaced)
            timed(
                name,
                functools.partial(
                    write_recording, path, episodes, recorder, {"task": task}, compression=compressions[name]
                ),
                kept,
            )
            sizes[name] = path.stat().st_size / kept
            path.unlink()
        this = {name: statistics.median(values[marks[name] :]) for name, values in wall.items()}
        per_pass.append((this["loop"] + this["none"]) / this["plain"])
    out: dict[str, dict[str, Any]] = {
        name: {"wall": statistics.median(wall[name]), "cpu": statistics.median(cpu[name])}
        for name in ("plain", "loop")
    }
    for name in ("none", "lz4", "zstd"):  # the recorded loop plus writing its file
        out[name] = {
            "wall": out["loop"]["wall"] + statistics.median(wall[name]),
            "cpu": out["loop"]["cpu"] + statistics.median(cpu[name]),
            "bytes": sizes[name],
        }
    out["none"]["passes"] = per_pass
    return out


def main() -> str:
    os.environ.setdefault("MUJOCO_GL", "egl")
    largest, geoms = _largest_task()
    with tempfile.TemporaryDirectory() as tmp:  # first: no renderer (and its threads) in the process yet
        records = {"cartpole": _record_ratio("cartpole", Path(tmp))}
        records[largest] = _record_ratio(largest, Path(tmp), steps=2000, passes=2, segment=50)
    rows = []
    for task in dict.fromkeys(["cartpole", largest]):
        frame, step = _frame_time(task)
        rows.append(f"| {task} | {frame * 1e3:.1f} ms | {1 / frame:.0f} | {step * 1e6:.0f} µs |")
    robot = _robot_frame_time("talos_data/robots/talos_full_v2.urdf")
    if robot is not None:
        name, _, frame = robot
        rows.append(
            f"| {name} (example-robot-data, meshes; render only) | {frame * 1e3:.1f} ms | {1 / frame:.0f} | |"
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain, filmed, video_ratio = _video_ratio("cartpole", folder)
    labels = {
        "plain": "plain",
        "loop": "recording the states",
        "none": "... and writing the MCAP file (uncompressed, the default)",
        "lz4": "... and writing it with lz4 chunks",
        "zstd": "... and writing it with zstd chunks",
    }
    record_rows = []
    for task, record in records.items():
        base = record["plain"]
        for name, label in labels.items():
            row = record[name]
            wall, cpu = row["wall"] / base["wall"], row["cpu"] / base["cpu"]
            target = ""
            if name == "none":
                spread = ", ".join(f"{r:.3f}" for r in row["passes"])
                target = f"<= 1.10: {'met' if wall <= 1.10 else 'not met'} (passes: {spread})"
            size = f"{row['bytes']:.0f} B" if "bytes" in row else ""
            record_rows.append(
                f"| {task} | {label} | {row['wall'] * 1e6:.1f} µs | {wall:.3f} | {row['cpu'] * 1e6:.1f} µs | "
                f"{cpu:.3f} | {size} | {target} |"
            )
    lines = [
        "## Rendering, video, recording",
        "",
        machine_line()
        + f"; MUJOCO_GL={os.environ.get('MUJOCO_GL')} (no GPU: Mesa's llvmpipe renders on the CPU).",
        "",
        "One 640x480 RGB frame of the decorated scene (`env.render()`), beside one env step:",
        "",
        "| task | render | frames/s | env step |",
        "|---|---|---|---|",
        *rows,
        "",
        f"(`{largest}` has the largest model of the registered tasks: {geoms} geoms"
        + (f"; Talos, {robot[1]} geoms, is the largest robot of the import corpus)." if robot else ")."),
        "",
        f"`run --video` (30 fps, 640x480, MP4) against the same cart-pole loop without it, {STEPS} control steps "
        "at 50 Hz (a constant action: the ratio is the video's cost alone):",
        "",
        "| loop | time | ratio | target |",
        "|---|---|---|---|",
        f"| plain | {plain * 1e3:.0f} ms | 1.00 | |",
        f"| filmed | {filmed * 1e3:.0f} ms | {video_ratio:.0f}x | <= 2x: {'met' if video_ratio <= 2 else 'not met'} |",
        "",
        "`run --record` against the plain loop (a constant action, so the policy costs nothing and the "
        "ratio is the recording's alone), per step: the two loops alternate in segments of 100 steps "
        f"(50 for `{largest}`; medians over 3 x {RECORD_STEPS} steps each for cart-pole, 2 x 2000 for "
        f"`{largest}`); writing is "
        "the median time to write what the recorded loop kept (9 times per compression for cart-pole, 6 "
        "for the other) added to the loop's, and includes every message (state, `/tf`, `/joint_states`, "
        "episode summaries), the metadata, the attachments and the atomic rename:",
        "",
        "| task | loop | wall per step | wall ratio | CPU per step | CPU ratio | file per step | target |",
        "|---|---|---|---|---|---|---|---|",
        *record_rows,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
