"""Sensor protocol and the suite that turns a list of sensors into one named, ordered observation vector.

A sensor reads MuJoCo's state into a slice of a flat float vector and names every entry (``labels``), so
a policy file can record what each observation index means. :class:`SensorSuite` concatenates sensors in
the order given, exposes ``slices[name]`` for each sensor, applies each sensor's noise chain with the
episode's seeded generator, and refreshes MuJoCo's derived quantities once when a sensor needs them.

Freshness: after ``mj_step`` MuJoCo's ``qpos``/``qvel`` are new but body poses, velocities and contacts
still describe the state at the start of the last substep. Joint sensors read ``qpos``/``qvel`` directly;
the suite runs ``mj_kinematics`` (poses, rays) or ``mj_forward`` (velocities, accelerations, contacts)
before the others read, so every sensor reports the same, current instant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import Any

import mujoco
import numpy as np

from clankers.errors import ConfigError
from clankers.sim.noise import AxisNoise, NoiseSpec, build_noise
from clankers.sim.robot import JointLayout


class Stage(IntEnum):
    """What MuJoCo must have computed for the current state before a sensor reads."""

    STATE = 0  # qpos, qvel, qfrc_actuator: always current after mj_step
    KINEMATICS = 1  # body/geom/site poses: mj_kinematics
    FORWARD = 2  # velocities, accelerations, contacts: mj_forward (+ mj_rnePostConstraint)


class Sensor:
    """Base class: subclasses set ``stage`` and implement :meth:`_bind` and :meth:`read`.

    Args:
        name: unique name in its suite; labels are ``"{name}.{axis}"``.
    """

    stage = Stage.STATE

    def __init__(self, name: str) -> None:
        if not name or not isinstance(name, str):
            raise ConfigError(f"sensor name must be a non-empty string, got {name!r}")
        self.name = name
        self.labels: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return len(self.labels)

    def bind(self, model: mujoco.MjModel, layout: JointLayout | None) -> None:
        """Resolve names to MuJoCo ids and fix :attr:`labels`; called once by the suite."""
        axes = self._bind(model, layout)
        self.labels = tuple(f"{self.name}.{axis}" for axis in axes)

    def _bind(self, model: mujoco.MjModel, layout: JointLayout | None) -> Sequence[str]:
        raise NotImplementedError

    def read(self, model: mujoco.MjModel, data: mujoco.MjData, out: np.ndarray) -> None:
        """Write the clean reading into ``out`` (a view of length :attr:`size`)."""
        raise NotImplementedError


def object_id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str, user: str) -> int:
    """MuJoCo id of a named body or camera, or a :class:`ConfigError` listing the names that exist."""
    oid = mujoco.mj_name2id(model, kind, name)
    if oid < 0:
        is_body = kind == mujoco.mjtObj.mjOBJ_BODY
        count = model.nbody if is_body else model.ncam
        names = [mujoco.mj_id2name(model, kind, i) for i in range(count)]
        what = "body" if is_body else "camera"
        raise ConfigError(f"no {what} named {name!r} (for {user}); the model has {[n for n in names if n]}")
    return oid


class SensorSuite:
    """Sensors bound to one model, read together into one observation vector.

    Args:
        sensors: vector sensors, in observation order (names must be unique).
        model: the MuJoCo model (a :class:`~clankers.sim.Simulation`'s ``model``).
        layout: the robot's joint layout (joint sensors need it; ``None`` for bare MJCF models).
        noise: optional noise per sensor name: a chain, a preset name, or ``{axis pattern: chain}`` where
            patterns match the sensor's axis names without the sensor's name (``"accel_*"``,
            ``"*.velocity"``; see :mod:`clankers.sim.noise`).
        dt: sampling period in seconds (the control period), for random-walk noise.
    """

    def __init__(
        self,
        sensors: Sequence[Sensor],
        model: mujoco.MjModel,
        layout: JointLayout | None = None,
        noise: Mapping[str, NoiseSpec | Mapping[str, NoiseSpec]] | None = None,
        dt: float = 0.02,
    ) -> None:
        names = [s.name for s in sensors]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"sensor names must be unique; repeated: {duplicates}")
        unknown = sorted(set(noise or {}) - set(names))
        if unknown:
            raise ConfigError(f"noise given for unknown sensors {unknown}; sensors are {names}")
        self.sensors = tuple(sensors)
        self.slices: dict[str, slice] = {}
        start = 0
        for sensor in self.sensors:
            sensor.bind(model, layout)
            self.slices[sensor.name] = slice(start, start + sensor.size)
            start += sensor.size
        self.size = start
        self.labels = tuple(label for s in self.sensors for label in s.labels)
        self.stage = max((s.stage for s in self.sensors), default=Stage.STATE)
        self.noise: dict[str, AxisNoise] = {
            name: build_noise(spec, self._axes(name), dt) for name, spec in (noise or {}).items()
        }
        self.noise = {name: n for name, n in self.noise.items() if not n.empty}
        self._rng: np.random.Generator | None = None

    def _axes(self, name: str) -> list[str]:
        """A sensor's labels without its name prefix (``accel_x``), which noise patterns match."""
        sensor = next(s for s in self.sensors if s.name == name)
        return [label.removeprefix(f"{name}.") for label in sensor.labels]

    def describe(self) -> list[dict[str, Any]]:
        """Plain-data observation layout: name, start, size and labels of each sensor."""
        return [
            {"name": s.name, "start": self.slices[s.name].start, "size": s.size, "labels": list(s.labels)}
            for s in self.sensors
        ]

    def reset(self, rng: np.random.Generator | None) -> None:
        """Episode start: keep ``rng`` (the episode's ``noise`` generator) and redraw biases, zero drifts.

        With ``rng=None`` readings are noise-free.
        """
        self._rng = rng
        if rng is not None:
            for noise in self.noise.values():
                noise.reset(rng)

    def refresh(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        """Bring MuJoCo's derived quantities up to the current state, as far as the sensors need."""
        if self.stage >= Stage.FORWARD:
            mujoco.mj_forward(model, data)
            mujoco.mj_rnePostConstraint(model, data)  # body accelerations (cacc) for IMUs
        elif self.stage >= Stage.KINEMATICS:
            mujoco.mj_kinematics(model, data)

    def read(
        self,
        model: mujoco.MjModel,
        data: mujoco.MjData,
        out: np.ndarray | None = None,
        *,
        refresh: bool = True,
    ) -> np.ndarray:
        """All sensors into ``out`` (float64 by default), with noise when :meth:`reset` got a generator."""
        if out is None:
            out = np.empty(self.size)
        if refresh:
            self.refresh(model, data)
        for sensor in self.sensors:
            view = out[self.slices[sensor.name]]
            sensor.read(model, data, view)
            noise = self.noise.get(sensor.name)
            if noise is not None and self._rng is not None:
                view[:] = noise.apply(view, self._rng)
        return out
