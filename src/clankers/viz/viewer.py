"""A viewer in the browser, for machines without a display: the robot in 3D, play/pause/step, plots.

``clankers view POLICY --env TASK`` runs a policy live; ``clankers view ep.mcap`` scrubs through a
recording. Both serve a page with `viser <https://viser.studio>`_ (a three.js client over a websocket),
so a robot simulated on a server is watched from a laptop's browser (``ssh -L`` to the port).

The 3D scene is drawn from the MuJoCo model itself, not the URDF: one viser frame per body, posed from
``xpos``/``xquat`` every frame, holding the body's geoms (boxes, spheres, cylinders, capsules, ellipsoids,
meshes; a body's visual geoms when it has any, else its collision geoms), so multi-robot scenes, floating
bases and the names MuJoCo gave things all come for free. Geoms left at MuJoCo's default grey get the
clankers orange; targets are red spheres.

Controls: *play* (a checkbox), *step* (one control step, while paused), *restart*, a speed slider; a
recording adds an episode selector and a timeline slider. Plots (uPlot) show the joint positions and
the actions of the current episode so far.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from clankers.errors import ConfigError

ORANGE = (232, 128, 40)
_DEFAULT_RGBA = np.array([0.5, 0.5, 0.5, 1.0], dtype=np.float32)
_PLOT_POINTS = 400


def _viser() -> Any:
    try:
        import viser
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            "the viewer needs viser; install the viz extra: pip install 'clankers[viz]'"
        ) from exc
    return viser


def _color(model: mujoco.MjModel, geom: int) -> tuple[int, int, int]:
    rgba = model.geom_rgba[geom]
    material = model.geom_matid[geom]
    if material >= 0:
        rgba = model.mat_rgba[material]
    if np.allclose(rgba, _DEFAULT_RGBA):
        return ORANGE
    return tuple(round(255 * float(c)) for c in rgba[:3])  # type: ignore[return-value]


def _wxyz(quat: np.ndarray) -> tuple[float, float, float, float]:
    return (float(quat[0]), float(quat[1]), float(quat[2]), float(quat[3]))


class SceneView:
    """The bodies and geoms of ``model`` in a viser scene, posed by :meth:`show`."""

    def __init__(self, server: Any, model: mujoco.MjModel) -> None:
        self.server, self.model = server, model
        self.data = mujoco.MjData(model)
        scene = server.scene
        scene.add_grid("/ground", width=8.0, height=8.0, cell_size=0.25, position=(0.0, 0.0, self._floor_z()))
        self.frames: dict[int, Any] = {}
        visual = {int(b) for b in model.geom_bodyid[model.geom_group == 1]}
        for geom in range(model.ngeom):
            body = int(model.geom_bodyid[geom])
            if model.geom_type[geom] == mujoco.mjtGeom.mjGEOM_PLANE:
                continue
            if body in visual and model.geom_group[geom] != 1:
                continue  # the body has visual geoms: draw those, not its collision shapes
            folder = "/robot/" + (model.body(body).name or f"body{body}").replace("/", "_")
            if body not in self.frames:  # the world body too: links fused into it (a robot's base)
                self.frames[body] = scene.add_frame(folder, show_axes=False)
            self._add_geom(f"{folder}/g{geom}", geom)
        self.markers: list[Any] = []

    def _floor_z(self) -> float:
        from clankers.render.scene import FLOOR_NAME

        floor = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, FLOOR_NAME)
        return float(self.model.geom_pos[floor][2]) if floor >= 0 else 0.0

    def _add_geom(self, name: str, geom: int) -> None:
        model, scene = self.model, self.server.scene
        size = model.geom_size[geom]
        pose = {"position": tuple(map(float, model.geom_pos[geom])), "wxyz": _wxyz(model.geom_quat[geom])}
        color = _color(model, geom)
        kind = mujoco.mjtGeom(int(model.geom_type[geom]))  # (a numpy int is never `in` a tuple of mjtGeom)
        if kind == mujoco.mjtGeom.mjGEOM_BOX:
            scene.add_box(name, color=color, dimensions=tuple(2 * size), **pose)
        elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            scene.add_icosphere(name, radius=float(size[0]), color=color, **pose)
        elif kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
            scene.add_icosphere(name, radius=1.0, color=color, scale=tuple(map(float, size)), **pose)
        elif kind in (mujoco.mjtGeom.mjGEOM_CYLINDER, mujoco.mjtGeom.mjGEOM_CAPSULE):
            import trimesh  # a dependency of viser

            radius, height = float(size[0]), float(2 * size[1])
            if kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
                shape = trimesh.creation.cylinder(radius=radius, height=height, sections=24)
            else:
                shape = trimesh.creation.capsule(height=height, radius=radius, count=[12, 12])
            scene.add_mesh_simple(name, vertices=shape.vertices, faces=shape.faces, color=color, **pose)
        elif kind == mujoco.mjtGeom.mjGEOM_MESH:
            mesh = model.geom_dataid[geom]
            start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
            fstart, fcount = model.mesh_faceadr[mesh], model.mesh_facenum[mesh]
            vertices = model.mesh_vert[start : start + count]
            faces = model.mesh_face[fstart : fstart + fcount]
            scene.add_mesh_simple(name, vertices=vertices, faces=faces, color=color, **pose)

    def set_markers(self, positions: Sequence[np.ndarray]) -> None:
        while len(self.markers) < len(positions):
            self.markers.append(
                self.server.scene.add_icosphere(
                    f"/markers/{len(self.markers)}", radius=0.03, color=(230, 40, 40)
                )
            )
        for handle, position in zip(self.markers, positions, strict=False):
            handle.position = tuple(map(float, position))

    def show(self, qpos: np.ndarray) -> None:
        """Pose every body for the joint state ``qpos``."""
        data = self.data
        data.qpos[:] = qpos
        mujoco.mj_kinematics(self.model, data)
        with self.server.atomic():
            for body, frame in self.frames.items():
                frame.position = tuple(map(float, data.xpos[body]))
                frame.wxyz = _wxyz(data.xquat[body])


class _Plots:
    """Joint positions and actions of the episode so far, in two uPlot charts."""

    def __init__(self, server: Any, joint_names: Sequence[str], action_size: int) -> None:
        import viser.uplot as uplot

        self.names = list(joint_names)
        empty = np.zeros(0)
        with server.gui.add_folder("Plots"):
            self.joints = server.gui.add_uplot(
                data=(empty, *[empty for _ in self.names]),
                series=(
                    uplot.Series(label="time (s)"),
                    *[uplot.Series(label=n, stroke=_stroke(i)) for i, n in enumerate(self.names)],
                ),
                title="joint positions",
                scales={"x": uplot.Scale(time=False)},
                aspect=1.6,
            )
            self.actions = server.gui.add_uplot(
                data=(empty, *[empty for _ in range(action_size)]),
                series=(
                    uplot.Series(label="time (s)"),
                    *[uplot.Series(label=f"action[{i}]", stroke=_stroke(i)) for i in range(action_size)],
                ),
                title="actions",
                scales={"x": uplot.Scale(time=False)},
                aspect=1.6,
            )

    def update(self, times: np.ndarray, joints: np.ndarray, actions: np.ndarray) -> None:
        times, joints = times[-_PLOT_POINTS:], joints[-_PLOT_POINTS:]
        self.joints.data = (times, *[joints[:, i] for i in range(joints.shape[1])])
        if len(actions):
            n = min(len(actions), _PLOT_POINTS)
            self.actions.data = (times[-n:], *[actions[-n:, i] for i in range(actions.shape[1])])


def _stroke(i: int) -> str:
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    return palette[i % len(palette)]


class Viewer:
    """The page: a scene, the controls, the plots. Drive it with :meth:`run_live` or :meth:`run_recording`."""

    def __init__(
        self,
        model: mujoco.MjModel,
        joint_names: Sequence[str],
        qpos_index: np.ndarray,
        action_size: int,
        host: str = "127.0.0.1",
        port: int = 8080,
        title: str = "clankers",
    ) -> None:
        viser = _viser()
        self.server = viser.ViserServer(host=host, port=port, label=title, verbose=False)
        self.port = self.server.get_port()
        self.scene = SceneView(self.server, model)
        self.qpos_index = qpos_index
        gui = self.server.gui
        gui.add_markdown(f"**{title}**")
        self.playing = gui.add_checkbox("play", True)
        self.step_button = gui.add_button("step")
        self.restart_button = gui.add_button("restart")
        self.speed = gui.add_slider("speed", min=0.1, max=4.0, step=0.1, initial_value=1.0)
        self.status = gui.add_markdown("")
        self.plots = _Plots(self.server, joint_names, action_size)
        self._step_requested = threading.Event()
        self._restart_requested = threading.Event()
        self.step_button.on_click(lambda _: self._step_requested.set())
        self.restart_button.on_click(lambda _: self._restart_requested.set())
        self._lock = threading.Lock()
        lookat = model.stat.center
        self._lookat, self._extent = np.array(lookat), float(model.stat.extent)

        # Look along +y at the robot, as the videos do (z up, MuJoCo's convention).
        self.server.scene.set_up_direction("+z")
        camera = self.server.initial_camera
        camera.look_at = tuple(map(float, self._lookat))
        camera.position = tuple(
            map(float, self._lookat + np.array([0.0, -2.2, 0.6]) * max(self._extent, 0.5))
        )

    def _advance(self) -> bool:
        """Whether to take a step now (playing, or paused with a step asked for)."""
        if self.playing.value:
            return True
        if self._step_requested.is_set():
            self._step_requested.clear()
            return True
        return False

    def run_live(
        self,
        env: Any,
        act: Callable[[np.ndarray], np.ndarray],
        seed: int = 0,
        duration: float | None = None,
        on_reset: Callable[[], None] | None = None,
    ) -> None:
        """Run ``act`` in ``env`` at real time (times the speed slider) until ``duration`` seconds pass."""
        base = env.unwrapped
        dt = float(base.dt)
        data = base.sim.data
        deadline = None if duration is None else time.monotonic() + duration
        episode = 0
        while deadline is None or time.monotonic() < deadline:
            obs, _ = env.reset(seed=seed + episode)
            if on_reset is not None:
                on_reset()
            times, joints, actions = [0.0], [data.qpos[self.qpos_index].copy()], []
            total, done = 0.0, False
            self._show(data.qpos, base, episode, 0, total, times, joints, actions)
            while not done and (deadline is None or time.monotonic() < deadline):
                if self._restart_requested.is_set():
                    self._restart_requested.clear()
                    break
                tick = time.monotonic()
                if not self._advance():
                    time.sleep(0.02)
                    continue
                action = np.asarray(act(obs))
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
                times.append(times[-1] + dt)
                joints.append(data.qpos[self.qpos_index].copy())
                actions.append(action.ravel().astype(np.float64))
                self._show(data.qpos, base, episode, len(actions), total, times, joints, actions)
                time.sleep(max(0.0, dt / max(self.speed.value, 1e-3) - (time.monotonic() - tick)))
            episode += 1

    def _show(
        self,
        qpos: np.ndarray,
        base: Any,
        episode: int,
        step: int,
        total: float,
        times: list[float],
        joints: list[np.ndarray],
        actions: list[np.ndarray],
    ) -> None:
        self.scene.show(qpos)
        state = getattr(base, "state", None)
        if state is not None and getattr(state, "targets", None):
            self.scene.set_markers(list(state.targets.values()))
        self.status.content = f"episode {episode} · step {step} · return {total:.2f}"
        if step % 5 == 0 or step < 2:
            self.plots.update(
                np.array(times),
                np.array(joints),
                np.array(actions, dtype=np.float64).reshape(len(actions), -1)
                if actions
                else np.zeros((0, 0)),
            )

    def close(self) -> None:
        self.server.stop()


def view_policy(
    policy: str,
    task: str,
    *,
    seed: int = 0,
    host: str = "127.0.0.1",
    port: int = 8080,
    duration: float | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve a live view of ``policy`` (a policy file or a baseline spec) running in ``task``."""
    from clankers.envs import make_env

    env = make_env(task, visual=True)  # draw the robots' meshes, not only their collision shapes
    base = env.unwrapped
    act, on_reset = _policy(policy, env, seed)
    viewer = Viewer(
        base.sim.model,
        base.layout.names,
        base.layout.qpos_indices,
        int(np.prod(env.action_space.shape)),
        host=host,
        port=port,
        title=f"{Path(policy).name} on {task}",
    )
    announce(f"viewer: http://{host}:{viewer.port} (Ctrl-C to stop)")
    try:
        viewer.run_live(env, act, seed=seed, duration=duration, on_reset=on_reset)
    finally:
        viewer.close()
        env.close()


def _policy(
    spec: str, env: Any, seed: int
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[], None] | None]:
    if spec.endswith(".onnx"):
        from clankers.policy import OnnxPolicy

        policy = OnnxPolicy(spec)
        return policy.act, getattr(policy, "reset", None)
    if spec == "zero":
        return (lambda obs: np.zeros(env.action_space.shape, dtype=np.float32)), None
    if spec == "random":
        env.action_space.seed(seed)
        return (lambda obs: env.action_space.sample()), None
    raise ConfigError(f"cannot view policy {spec!r}", hint="pass a policy file (.onnx), zero or random")


def view_recording(
    path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    duration: float | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve a view of a recording: an episode selector, a timeline, play/pause/step."""
    from clankers.envs.recording import read_recording
    from clankers.viz.replay import make_replay_env

    recording = read_recording(path)
    env = make_replay_env(recording)
    base = env.unwrapped
    episodes = recording.episodes
    action_size = episodes[0].actions.shape[1] if episodes and episodes[0].actions.size else 1
    viewer = Viewer(
        base.sim.model,
        base.layout.names,
        base.layout.qpos_indices,
        action_size,
        host=host,
        port=port,
        title=Path(path).name,
    )
    gui = viewer.server.gui
    choice = gui.add_dropdown("episode", tuple(str(i) for i in range(len(episodes))), initial_value="0")
    timeline = gui.add_slider("step", min=0, max=max(1, len(episodes[0].time) - 1), step=1, initial_value=0)
    announce(f"viewer: http://{host}:{viewer.port} (Ctrl-C to stop)")
    current = {"episode": -1}

    def show(index: int, step: int) -> None:
        episode = episodes[index]
        if current["episode"] != index:
            env.reset(seed=episode.seed)  # targets of this episode
            current["episode"] = index
        step = int(np.clip(step, 0, len(episode.time) - 1))
        joints = episode.qpos[: step + 1][:, base.layout.qpos_indices]
        viewer._show(
            episode.qpos[step],
            base,
            index,
            step,
            float(np.sum(episode.rewards[:step])),
            list(episode.time[: step + 1]),
            list(joints),
            list(episode.actions[:step]),
        )

    deadline = None if duration is None else time.monotonic() + duration
    dt = recording.control_dt or float(base.dt)
    shown = (-1, -1)
    try:
        while deadline is None or time.monotonic() < deadline:
            index = int(choice.value)
            last = len(episodes[index].time) - 1
            if timeline.max != last:
                timeline.max = max(1, last)
            if viewer._restart_requested.is_set():
                viewer._restart_requested.clear()
                timeline.value = 0
            elif viewer._advance() and timeline.value < last:
                timeline.value = int(timeline.value) + 1
            if (index, int(timeline.value)) != shown:
                shown = (index, int(timeline.value))
                show(*shown)
            time.sleep(dt / max(viewer.speed.value, 1e-3))
    finally:
        viewer.close()
        env.close()
