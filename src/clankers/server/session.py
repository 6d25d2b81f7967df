"""One client's session: the protocol state machine around its own environments (docs/protocol.md §4).

A :class:`Session` turns request payloads into response frames and never touches a socket, so every state
transition and every error code is unit-testable without networking; :mod:`clankers.server.server` only
moves bytes. Its one promise to the transport: :meth:`Session.handle_payload` never raises. Whatever a
client sends, it gets an answer (an error response with its code) and the session stays usable when that
is safe.

Authentication happens here too, because it is part of ``init``: with a token configured, the token is
checked before anything else in the handshake (constant time, :class:`~clankers.server.auth.TokenCheck`)
and before any environment exists; until it has been presented, any error response ends the session, so
an unauthenticated peer gets one answer per connection and never an environment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from clankers.errors import ConfigError, PayloadTooLargeError, ProtocolError
from clankers.server import binary
from clankers.server.auth import TokenCheck
from clankers.server.backends import EnvBackend, EnvListBackend, VectorBackend
from clankers.server.framing import MAX_MESSAGE_SIZE, decode_message, dumps, encode_frame
from clankers.server.protocol import (
    ALLOWED,
    ENDS_SESSION,
    PROTOCOL_VERSION,
    REQUEST_TYPES,
    SEED_MAX,
    WORK_REQUESTS,
    ErrorCode,
    State,
    as_int,
    as_list,
    as_seed,
    as_str,
    error_message,
    fail,
    field,
    format_version,
    negotiate_capabilities,
    negotiate_version,
    parse_capabilities,
)
from clankers.server.spaces import ActionCodec, flat_size, is_image, jsonable, obs_to_array, space_to_wire

log = logging.getLogger("clankers.server")

EnvFactory = Callable[[], gym.Env]


@dataclass(frozen=True)
class EnvSource:
    """What a server serves: a name and version for the handshake and factories for fresh envs.

    ``make_vector(n)``, when given, builds a Gymnasium vector env in ``Disabled`` auto-reset mode that
    supports ``reset(options={"reset_mask": ...})``; sessions with more than one env use it.
    """

    name: str
    version: str
    make: EnvFactory
    make_vector: Callable[[int], VectorEnv] | None = None

    def backend(self, num_envs: int) -> EnvBackend:
        if num_envs > 1 and self.make_vector is not None:
            try:
                return VectorBackend(self.make_vector(num_envs))
            except ConfigError:  # e.g. spaces the vector env cannot batch: serve single envs instead
                log.info("vector env unavailable for %s; using %d single envs", self.name, num_envs)
        return EnvListBackend([self.make() for _ in range(num_envs)])


class Session:
    """The protocol state of one connection and the ``num_envs`` environments it owns.

    Env ``i`` of a batch is ``envs[i]``; the single-env requests ``reset``/``step`` address env 0. The
    session is *episode running* when every env has a live episode, *ready* once any env's episode ended
    (or before the first reset), so a finished env is always reset before it is stepped again. With
    several envs, ``step`` needs only env 0's episode, so a single-env client can use a batch server.

    Args:
        source: what to serve.
        num_envs: environments of this session.
        token: when given, ``init`` must carry the matching token (else error 107 and the session ends).
        admit: called once a handshake is valid, just before the environments are made; it raises a
            :class:`ProtocolError` (108, server busy) to refuse the session. The server's capacity check.
    """

    def __init__(
        self,
        source: EnvSource,
        num_envs: int = 1,
        *,
        token: TokenCheck | None = None,
        admit: Callable[[], None] | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.source = source
        self.num_envs = num_envs
        self.state = State.CONNECTED
        self.closed = False
        self.version: tuple[int, int, int] | None = None
        self.capabilities: dict[str, bool] = {}
        self.backend: EnvBackend | None = None
        self._live = [False] * num_envs
        self._lengths = [0] * num_envs
        self._init_seeds: list[int | None] = [None] * num_envs
        self._token = token
        self._admit = admit
        self.authenticated = token is None
        self.requests = 0
        #: :func:`time.monotonic` of the last request that used the environments (pings do not count).
        self.last_work = time.monotonic()

    # --- transport entry points -------------------------------------------------------------------------

    def handle_payload(self, payload: bytes) -> list[bytes]:
        """One request frame's payload -> the response frames (JSON, then binary if any). Never raises."""
        self.requests += 1
        try:
            message = decode_message(payload)
            return self.handle(message)
        except ProtocolError as exc:
            if exc.code in ENDS_SESSION or not self.authenticated:
                self.close()  # the transport sends this answer, then hangs up
            return [self.error_frame(exc.code, str(exc))]
        except Exception as exc:  # a bug here must not take the server down; report it as code 400
            log.exception("internal error while handling a request")
            return [
                self.error_frame(ErrorCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
            ]

    def handle(self, message: dict[str, Any]) -> list[bytes]:
        """One parsed request -> response frames; raises :class:`ProtocolError` for error responses."""
        kind = message.get("type")
        if kind is None:
            raise fail(ErrorCode.MISSING_FIELD, "message is missing required field 'type'")
        kind = as_str(kind, "'type'")
        if kind not in REQUEST_TYPES:
            raise fail(
                ErrorCode.UNKNOWN_TYPE,
                f"unknown message type {kind!r:.60}; requests are: {', '.join(sorted(REQUEST_TYPES))}",
            )
        if kind not in ALLOWED[self.state] and not (
            kind == "step" and self._live[0] and self.state is State.READY
        ):
            # (With several envs, ``step`` addresses env 0 alone and needs only env 0's episode.)
            raise self._wrong_state(kind)
        if kind in WORK_REQUESTS:
            self.last_work = time.monotonic()
        return getattr(self, f"_on_{kind}")(message)

    def error_frame(self, code: int, message: str) -> bytes:
        return encode_frame(dumps(error_message(code, message)))

    def close(self) -> None:
        """Free the environments (idempotent); called on ``close`` and when the client disconnects."""
        self.closed = True
        backend, self.backend = self.backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception:
                log.exception("closing the environments failed")

    @property
    def envs(self) -> list[gym.Env]:
        """The single envs, when the session runs a list of them (tests inspect them)."""
        return list(getattr(self.backend, "envs", []))

    # --- helpers ----------------------------------------------------------------------------------------

    def _wrong_state(self, kind: str) -> ProtocolError:
        allowed = ", ".join(ALLOWED[self.state])
        text = f"unexpected '{kind}' in state {self.state.value}; allowed requests: {allowed}"
        if self.state is State.CONNECTED:
            return fail(ErrorCode.NOT_INITIALIZED, f"not initialized: {text}; send 'init' first")
        if kind in ("step", "batch_step"):
            dead = [0] if kind == "step" else [i for i, live in enumerate(self._live) if not live]
            return fail(ErrorCode.NOT_RESET, f"not reset: {text}; env(s) {dead} need 'reset'/'batch_reset'")
        return fail(ErrorCode.UNEXPECTED_MESSAGE, text)

    def _update_state(self) -> None:
        self.state = State.EPISODE_RUNNING if all(self._live) else State.READY

    def _respond_batch(self, body: dict[str, Any], observations: Sequence[Any]) -> list[bytes]:
        try:
            obs_part, frame = self._batch_observations(observations)
        except ValueError as exc:
            return self._non_finite(exc)
        kind = body.pop("type")
        return self._respond({"type": kind, **obs_part, **body}, frame)

    def _non_finite(self, exc: Exception) -> list[bytes]:
        self._live = [False] * self.num_envs
        self._update_state()
        return [
            self.error_frame(
                ErrorCode.SIMULATION_ERROR,
                f"simulation error: the environment produced a non-finite value ({exc}); reset every env",
            )
        ]

    def _respond(self, message: dict[str, Any], extra: bytes | None = None) -> list[bytes]:
        try:
            frames = [encode_frame(dumps(message))]
            if extra is not None:
                frames.append(encode_frame(extra))
        except PayloadTooLargeError as exc:
            return [self.error_frame(ErrorCode.PAYLOAD_TOO_LARGE, f"response not sent: {exc}")]
        except ValueError as exc:  # allow_nan=False: the env produced NaN/inf in an observation or reward
            return self._non_finite(exc)
        return frames

    def _need_batch(self, kind: str) -> None:
        if self.num_envs < 2:
            raise fail(
                ErrorCode.CAPABILITY_UNSUPPORTED,
                f"capability unsupported: '{kind}' needs a server with more than one env "
                "(start it with --num-envs N, N > 1); use 'reset'/'step' here",
            )

    def _obs_json(self, obs: Any) -> dict[str, Any]:
        return {"data": obs_to_array(self._obs_space, obs).tolist()}

    def _obs_json_batch(self, observations: Sequence[Any]) -> list[dict[str, Any]]:
        if self._flat_box and len(observations):
            rows = np.asarray(observations).reshape(len(observations), -1).tolist()  # one conversion
            return [{"data": row} for row in rows]
        return [self._obs_json(o) for o in observations]

    def _reset(self, ids: list[int], seeds: list[int | None]) -> tuple[Sequence[Any], list[dict[str, Any]]]:
        """Reset envs ``ids``; the handshake seed applies to an env's first reset without a seed."""
        used = [self._init_seeds[i] if seed is None else seed for i, seed in zip(ids, seeds, strict=True)]
        assert self.backend is not None
        try:
            observations, infos = self.backend.reset(ids, used)
        except Exception as exc:
            for i in ids:
                self._live[i] = False
            raise fail(
                ErrorCode.SIMULATION_ERROR, f"simulation error: reset of env(s) {ids} failed: {exc}"
            ) from exc
        for i in ids:
            self._init_seeds[i] = None
            self._live[i] = True
            self._lengths[i] = 0
        return observations, [
            {"seed": seed, "custom": jsonable(info)} for seed, info in zip(used, infos, strict=True)
        ]

    def _step_info(self, i: int, info: dict[str, Any]) -> dict[str, Any]:
        return {"episode_length": self._lengths[i], "custom": jsonable(info) if info else {}}

    @property
    def _binary_obs(self) -> bool:
        return self.capabilities.get("binary_obs", False) and self._image

    @property
    def _binary_batch(self) -> bool:
        return self.capabilities.get("binary_batch", False)

    # --- request handlers (one per type) ----------------------------------------------------------------

    def _check_token(self, msg: dict[str, Any]) -> None:
        assert self._token is not None
        presented = msg.get("token")
        if presented is None:
            raise fail(
                ErrorCode.UNAUTHORIZED,
                "unauthorized: this server requires a token; send it in the 'init' field 'token' "
                "(GymClient(token=...), or clankers run --token-file / $CLANKERS_TOKEN)",
            )
        if not self._token.matches(presented):
            raise fail(ErrorCode.UNAUTHORIZED, "unauthorized: wrong token")
        self.authenticated = True

    def _on_init(self, msg: dict[str, Any]) -> list[bytes]:
        if not self.authenticated:
            self._check_token(msg)  # before anything else: an unauthenticated peer learns nothing more
        version = negotiate_version(field(msg, "protocol_version"))
        as_str(field(msg, "client_name"), "'client_name'")
        as_str(field(msg, "client_version"), "'client_version'")
        requested = parse_capabilities(field(msg, "capabilities", required=False))
        seed = as_seed(field(msg, "seed", required=False), "'seed'")
        if self.backend is None:
            if self._admit is not None:
                self._admit()
            self.backend = backend = self.source.backend(self.num_envs)
            self._obs_space = backend.observation_space
            self._codec = ActionCodec(backend.action_space)
            self._image = is_image(backend.observation_space)
            self._flat_box = isinstance(backend.observation_space, gym.spaces.Box) and not self._image
            self._spaces = {
                "observation_space": space_to_wire(backend.observation_space),
                "action_space": space_to_wire(backend.action_space),
            }
        # What this session has, beyond what the protocol version allows: batching needs several envs,
        # binary single observations need an image observation space, auth needs a token.
        has = {
            "batch_step": self.num_envs > 1,
            "binary_batch": self.num_envs > 1,
            "binary_obs": self._image,
            "auth": self._token is not None,
        }
        caps = {k: v and has.get(k, False) for k, v in negotiate_capabilities(requested, version).items()}
        self.version, self.capabilities = version, caps
        if seed is not None:
            self._init_seeds = [(seed + i) % (SEED_MAX + 1) for i in range(self.num_envs)]
        self.state = State.READY
        return self._respond(
            {
                "type": "init_response",
                "protocol_version": format_version(version),
                "env_name": self.source.name,
                "env_version": self.source.version,
                "env_info": {"n_agents": self.num_envs, **self._spaces},
                "capabilities": caps,
                "seed_accepted": seed is not None,
            }
        )

    def _on_spaces(self, msg: dict[str, Any]) -> list[bytes]:
        return self._respond({"type": "spaces", **self._spaces})

    def _on_ping(self, msg: dict[str, Any]) -> list[bytes]:
        stamp = as_int(field(msg, "timestamp"), "'timestamp'", lo=0, hi=SEED_MAX)
        return self._respond({"type": "pong", "timestamp": stamp, "server_time": int(time.time() * 1000)})

    def _on_close(self, msg: dict[str, Any]) -> list[bytes]:
        self.close()
        return self._respond({"type": "close"})

    def _on_reset(self, msg: dict[str, Any]) -> list[bytes]:
        seed = as_seed(field(msg, "seed", required=False), "'seed'")
        try:
            observations, infos = self._reset([0], [seed])
        finally:
            self._update_state()
        obs, info = observations[0], infos[0]
        if self._binary_obs:
            return self._respond(
                {
                    "type": "reset",
                    "observation": {"data": []},
                    "info": info,
                    "obs_encoding": binary.image_encoding(self._obs_space.shape),
                },
                np.ascontiguousarray(obs, dtype=np.uint8).tobytes(),
            )
        return self._respond({"type": "reset", "observation": self._obs_json(obs), "info": info})

    def _on_step(self, msg: dict[str, Any]) -> list[bytes]:
        action = self._codec.decode(field(msg, "action"))
        assert self.backend is not None
        try:
            obs, reward, terminated, truncated, info = self.backend.step_one(0, action)
        except Exception as exc:
            self._live[0] = False
            self._update_state()
            raise fail(
                ErrorCode.SIMULATION_ERROR, f"simulation error: env 0 step failed: {exc}; reset it"
            ) from exc
        self._lengths[0] += 1
        if terminated or truncated:
            self._live[0] = False
        self._update_state()
        body = {
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            "info": self._step_info(0, info),
        }
        if self._binary_obs:
            return self._respond(
                {
                    "type": "step",
                    "observation": {"data": []},
                    **body,
                    "obs_encoding": binary.image_encoding(self._obs_space.shape),
                },
                np.ascontiguousarray(obs, dtype=np.uint8).tobytes(),
            )
        return self._respond({"type": "step", "observation": self._obs_json(obs), **body})

    def _batch_observations(self, observations: Sequence[Any]) -> tuple[dict[str, Any], bytes | None]:
        """The observations part of a batch response, and the binary frame when ``binary_batch`` is on."""
        if not self._binary_batch:
            return {"observations": self._obs_json_batch(observations)}, None
        n = len(observations)
        if self._image:
            shape = self._obs_space.shape
            stacked = np.stack(observations) if n else np.zeros((0, *shape), dtype=np.uint8)
            encoding = binary.batch_encoding(n, image_shape=shape)
        else:
            dim = flat_size(self._obs_space)
            if not n:
                stacked = np.zeros((0, dim), dtype=np.float32)
            elif self._flat_box:
                stacked = np.asarray(observations, dtype=np.float32).reshape(n, dim)
            else:
                stacked = np.stack([obs_to_array(self._obs_space, o) for o in observations]).astype(
                    np.float32
                )
            if not np.isfinite(stacked).all():
                raise ValueError("NaN or inf in an observation")  # same path as the JSON encoder's refusal
            encoding = binary.batch_encoding(n, dim=dim)
        empty = [{"data": []} for _ in observations]
        return {"observations": empty, "obs_encoding": encoding}, binary.encode_batch(stacked, self._image)

    def _on_batch_reset(self, msg: dict[str, Any]) -> list[bytes]:
        self._need_batch("batch_reset")
        ids = [as_int(v, f"env_ids[{k}]") for k, v in enumerate(as_list(field(msg, "env_ids"), "'env_ids'"))]
        bad = [i for i in ids if not 0 <= i < self.num_envs]
        if bad:
            raise fail(
                ErrorCode.UNKNOWN_ENV_ID,
                f"unknown env id(s) {bad[:10]}: this server runs envs 0..{self.num_envs - 1}",
            )
        if len(set(ids)) != len(ids):
            raise fail(ErrorCode.INVALID_MESSAGE, f"invalid message: 'env_ids' repeats an id: {ids[:20]}")
        seeds_field = field(msg, "seeds", required=False)
        if seeds_field is None:
            seeds: list[int | None] = [None] * len(ids)
        else:
            raw = as_list(seeds_field, "'seeds'")
            if len(raw) != len(ids):
                raise fail(
                    ErrorCode.INVALID_MESSAGE,
                    f"invalid message: 'seeds' has {len(raw)} entries but 'env_ids' has {len(ids)}; "
                    "give one seed (or null) per env id",
                )
            seeds = [as_seed(s, f"seeds[{k}]") for k, s in enumerate(raw)]
        try:
            observations, infos = self._reset(ids, seeds)
        finally:
            self._update_state()
        return self._respond_batch({"type": "batch_reset", "infos": infos}, observations)

    def _on_batch_step(self, msg: dict[str, Any]) -> list[bytes]:
        self._need_batch("batch_step")
        wire = as_list(field(msg, "actions"), "'actions'")
        if len(wire) != self.num_envs:
            raise fail(
                ErrorCode.INVALID_ACTION,
                f"invalid action: 'batch_step' needs one action per env ({self.num_envs}), got {len(wire)}",
            )
        actions = self._codec.decode_batch(wire)  # every action validated before any env steps
        assert self.backend is not None
        try:
            observations, rewards, terminated, truncated, env_infos = self.backend.step_all(actions)
        except Exception as exc:
            # Envs stepped before the failure advanced, but their results never reach the client: their
            # state is unknown to it, so every env must be reset.
            self._live = [False] * self.num_envs
            self._update_state()
            raise fail(
                ErrorCode.SIMULATION_ERROR,
                f"simulation error: batch_step failed: {exc}; no env of this batch is usable, batch_reset all",
            ) from exc
        infos = []
        for i in range(self.num_envs):
            self._lengths[i] += 1
            if terminated[i] or truncated[i]:
                self._live[i] = False
            infos.append(self._step_info(i, env_infos[i]))
        self._update_state()
        return self._respond_batch(
            {
                "type": "batch_step",
                "rewards": rewards,
                "terminated": terminated,
                "truncated": truncated,
                "infos": infos,
            },
            observations,
        )


__all__ = ["MAX_MESSAGE_SIZE", "PROTOCOL_VERSION", "EnvFactory", "EnvSource", "Session"]
