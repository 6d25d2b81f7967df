"""Videos of episodes: MP4 (H.264 through imageio-ffmpeg's bundled ffmpeg) or GIF (Pillow).

:class:`VideoWriter` takes ``(H, W, 3)`` uint8 frames one at a time and streams them to the encoder, so
a long run never holds its frames in memory (a GIF is the exception: Pillow writes it at the end).
The file appears atomically when the writer closes (temporary name, then rename).

:func:`draw_overlay` writes a few lines of text (step, return, action) into the corner of a frame.
:class:`Film` decides which states of an episode become frames; :class:`VideoRecorder` films a
Gymnasium environment with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from clankers.errors import ConfigError

VIDEO_FORMATS = (".mp4", ".gif")


def _ffmpeg() -> Any:
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            "writing MP4 needs imageio-ffmpeg; install the viz extra: pip install 'clankers[viz]'"
        ) from exc
    return imageio_ffmpeg


class VideoWriter:
    """Encode frames to ``path`` (``.mp4`` or ``.gif``) at ``fps`` frames per second.

    MP4 frame sizes are padded by ffmpeg to multiples of 2 when needed; every frame must have the size
    of the first.
    """

    def __init__(self, path: str | Path, fps: float, quality: int = 7) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_FORMATS:
            raise ConfigError(f"video file {self.path} must end in .mp4 or .gif")
        if not fps > 0:
            raise ConfigError(f"video fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.quality = quality
        self.frames = 0
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp{suffix}")
        self._encoder: Any = None
        self._gif: list[Any] = []
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ConfigError(f"video frames must be (H, W, 3) uint8, got shape {frame.shape}")
        size = (frame.shape[1], frame.shape[0])
        if self._size is None:
            self._size = size
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.suffix.lower() == ".mp4":
                self._encoder = _ffmpeg().write_frames(
                    str(self._tmp),
                    size,
                    fps=self.fps,
                    quality=self.quality,
                    macro_block_size=2,
                    output_params=["-movflags", "+faststart"],
                )
                self._encoder.send(None)  # start the generator
        elif size != self._size:
            raise ConfigError(f"video frame size {size} differs from the first frame's {self._size}")
        if self._encoder is not None:
            self._encoder.send(frame)
        else:
            from PIL import Image

            self._gif.append(Image.fromarray(frame).quantize(colors=128))
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and return its path (nothing is written when no frame came)."""
        try:
            if self._encoder is not None:
                self._encoder.close()
                self._encoder = None
            elif self._gif:
                first, *rest = self._gif
                first.save(
                    self._tmp,
                    save_all=True,
                    append_images=rest,
                    duration=round(1000 / self.fps),
                    loop=0,
                    optimize=False,
                )
                self._gif = []
            if self.frames:
                os.replace(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)
        return self.path

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_video(path: str | Path) -> np.ndarray:
    """All frames of an MP4 as ``(n, H, W, 3)`` uint8 (for tests and re-encoding), or of a GIF."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        from PIL import Image, ImageSequence

        with Image.open(path) as image:
            return np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(image)])
    reader = _ffmpeg().read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(f, dtype=np.uint8).reshape(height, width, 3) for f in reader]
    return np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8)


def draw_overlay(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``frame`` with ``lines`` of text in its top-left corner on a dark band (a new array)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    if lines:
        height = 14 * len(lines) + 6
        width = min(frame.shape[1], 8 + 7 * max(len(line) for line in lines))
        draw.rectangle((0, 0, width, height), fill=(0, 0, 0))
        for i, line in enumerate(lines):
            draw.text((4, 3 + 14 * i), line, fill=(255, 255, 255))
    return np.asarray(image)


def overlay_lines(episode: int, step: int, episode_return: float, action: np.ndarray | None) -> list[str]:
    """The standard overlay: episode, step, return so far and the last action."""
    lines = [f"episode {episode}  step {step}", f"return {episode_return:.2f}"]
    if action is not None:
        values = np.asarray(action, dtype=np.float64).ravel()
        shown = " ".join(f"{v:+.2f}" for v in values[:8]) + (" ..." if values.size > 8 else "")
        lines.append(f"action {shown}")
    return lines


class Film:
    """Frames of episodes into one video: which steps get a frame, the overlay, the encoder.

    Both a live run (:class:`VideoRecorder`) and a replay of a recording (:mod:`clankers.viz.replay`)
    call :meth:`capture` after putting the simulation in a state, so the same states give the same
    frames. ``fps=None`` films every control step (``fps`` = the control rate); a lower ``fps`` films
    the first step at or after each ``1/fps`` boundary of simulated time.
    """

    def __init__(
        self, path: str | Path, control_dt: float, fps: float | None = None, overlay: bool = False
    ) -> None:
        rate = 1.0 / control_dt
        self.fps = rate if fps is None else min(float(fps), rate)
        self.control_dt = control_dt
        self.overlay = overlay
        self.writer = VideoWriter(path, self.fps)
        self.episode = -1
        self._next_time = 0.0

    def start_episode(self, index: int | None = None) -> None:
        self.episode = self.episode + 1 if index is None else index
        self._next_time = 0.0

    def wants(self, step: int) -> bool:
        """Whether step ``step`` of the current episode (0 = after reset) gets a frame."""
        return step * self.control_dt >= self._next_time - 1e-9

    def capture(
        self,
        render: Callable[[], np.ndarray],
        step: int,
        episode_return: float = 0.0,
        action: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Render, overlay and write the frame of ``step`` if it is filmed; return it (or ``None``)."""
        if not self.wants(step):
            return None
        self._next_time += 1.0 / self.fps
        frame = render()
        if self.overlay:
            frame = draw_overlay(frame, overlay_lines(self.episode, step, episode_return, action))
        self.writer.write(frame)
        return frame

    def close(self) -> Path:
        return self.writer.close()


class VideoRecorder(gym.Wrapper):
    """Film every episode of a ``render_mode="rgb_array"`` environment into one video file.

    Frames come at the control rate (or ``fps``, see :class:`Film`), after the reset and after each
    step; ``keep=True`` also keeps them in :attr:`frames` (tests compare them with a replay's).
    """

    def __init__(
        self,
        env: gym.Env,
        path: str | Path,
        fps: float | None = None,
        overlay: bool = False,
        keep: bool = False,
    ) -> None:
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ConfigError(
                f"filming needs render_mode='rgb_array', the env has {env.render_mode!r}; "
                "make it with gym.make(id, render_mode='rgb_array')"
            )
        dt = float(getattr(env.unwrapped, "dt", 0.0) or 1.0 / env.metadata.get("render_fps", 30))
        self.film = Film(path, dt, fps, overlay)
        self.keep = keep
        self.frames: list[np.ndarray] = []
        self._step = 0
        self._return = 0.0

    def _capture(self, action: np.ndarray | None) -> None:
        frame = self.film.capture(self.env.render, self._step, self._return, action)  # type: ignore[arg-type]
        if frame is not None and self.keep:
            self.frames.append(frame)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.film.start_episode()
        self._step, self._return = 0, 0.0
        self._capture(None)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._step += 1
        self._return += float(reward)
        self._capture(np.asarray(action))
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        self.film.close()
        super().close()
