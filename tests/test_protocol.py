"""The wire protocol without sockets: framing, messages, negotiation, spaces, binary frames, and the
session state machine with every error code (docs/protocol.md)."""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from clankers.errors import (
    ActionError,
    ConfigError,
    ConnectionClosedError,
    PayloadTooLargeError,
    ProtocolError,
)
from clankers.server import binary
from clankers.server.framing import MAX_MESSAGE_SIZE, decode_message, encode_frame, encode_message, read_frame
from clankers.server.protocol import (
    ALLOWED,
    REQUEST_TYPES,
    ErrorCode,
    State,
    negotiate_capabilities,
    negotiate_version,
)
from clankers.server.session import EnvSource, Session
from clankers.server.spaces import (
    FLOAT32_MAX,
    ActionCodec,
    array_to_obs,
    obs_to_array,
    space_to_wire,
    wire_to_space,
)
from server_toy_envs import CLOSED, IMAGE_SPACE, ToyEnv, toy_source

INIT = {"type": "init", "protocol_version": "1.2.0", "client_name": "t", "client_version": "0"}


def call(session: Session, message: dict[str, Any] | bytes) -> tuple[dict[str, Any], bytes | None]:
    """Send one request payload; return the JSON response and the binary frame that followed, if any."""
    payload = message if isinstance(message, bytes) else json.dumps(message).encode()
    frames = session.handle_payload(payload)
    assert 1 <= len(frames) <= 2
    for f in frames:
        assert struct.unpack("<I", f[:4])[0] == len(f) - 4
    return json.loads(frames[0][4:]), (frames[1][4:] if len(frames) == 2 else None)


def expect_error(session: Session, message: dict[str, Any] | bytes, code: int) -> str:
    response, extra = call(session, message)
    assert response["type"] == "error", response
    assert response["code"] == code, response
    assert isinstance(response["message"], str) and response["message"]
    assert extra is None
    return response["message"]


def ready(num_envs: int = 1, version: str = "1.2.0", caps: dict | None = None, **env_kwargs: Any) -> Session:
    session = Session(toy_source(**env_kwargs), num_envs)
    init = {**INIT, "protocol_version": version, "capabilities": caps or {}}
    response, _ = call(session, init)
    assert response["type"] == "init_response", response
    return session


def running(num_envs: int = 1, **kwargs: Any) -> Session:
    session = ready(num_envs, **kwargs)
    if num_envs == 1:
        call(session, {"type": "reset", "seed": 0})
    else:
        call(
            session, {"type": "batch_reset", "env_ids": list(range(num_envs)), "seeds": list(range(num_envs))}
        )
    assert session.state is State.EPISODE_RUNNING
    return session


# --- framing ---------------------------------------------------------------------------------------------


def test_frame_is_little_endian_length_then_utf8_json() -> None:
    frame = encode_message({"type": "ping", "timestamp": 5})
    assert frame[:4] == struct.pack("<I", len(frame) - 4)
    assert json.loads(frame[4:].decode("utf-8")) == {"type": "ping", "timestamp": 5}
    assert encode_frame(b"")[:4] == b"\x00\x00\x00\x00"


def test_size_limit_is_enforced_on_write_and_on_read() -> None:
    assert len(encode_frame(b"x" * MAX_MESSAGE_SIZE)) == MAX_MESSAGE_SIZE + 4
    with pytest.raises(PayloadTooLargeError) as err:
        encode_frame(b"x" * (MAX_MESSAGE_SIZE + 1))
    assert err.value.code == 104
    a, b = socket.socketpair()
    with a, b:
        a.sendall(struct.pack("<I", MAX_MESSAGE_SIZE + 1))  # no payload follows: refused from the header
        with pytest.raises(PayloadTooLargeError):
            read_frame(b)


def test_read_frame_round_trips_and_reports_peer_hangups() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(encode_frame(b"hello") + encode_frame(b""))
        assert read_frame(b) == b"hello"
        assert read_frame(b) == b""
        a.sendall(struct.pack("<I", 10) + b"abc")  # a frame cut short
        a.close()
        with pytest.raises(ConnectionClosedError) as err:
            read_frame(b)
        assert err.value.mid_frame


@pytest.mark.parametrize("payload", [b"\xff\xfe", b"{not json", b"[1, 2]", b'"type"', b""])
def test_undecodable_payloads_are_invalid_messages(payload: bytes) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_message(payload)
    assert err.value.code == 101


# --- versions and capabilities ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "server", "agreed"),
    [
        ("1.0.0", "1.2.0", (1, 0, 0)),
        ("1.1.0", "1.2.0", (1, 1, 0)),
        ("1.2.0", "1.2.0", (1, 2, 0)),
        ("1.9.4", "1.2.0", (1, 2, 0)),
        ("1.0.7", "1.2.1", (1, 0, 1)),  # the server's patch
    ],
)
def test_version_negotiation_takes_lower_minor_and_server_patch(
    client: str, server: str, agreed: tuple
) -> None:
    assert negotiate_version(client, server) == agreed


@pytest.mark.parametrize(("client", "code"), [("2.0.0", 100), ("0.9.0", 100), ("1.2", 101), ("v1.0.0", 101)])
def test_bad_versions_are_refused(client: str, code: int) -> None:
    with pytest.raises(ProtocolError) as err:
        negotiate_version(client, "1.2.0")
    assert err.value.code == code


def test_capabilities_answer_every_requested_key_and_respect_the_version() -> None:
    want = {"binary_obs": True, "binary_batch": True, "batch_step": True, "teleport": True, "x": False}
    assert negotiate_capabilities(want, (1, 0, 0)) == {
        "binary_obs": False,  # 1.0.0 has no binary frames
        "binary_batch": False,
        "batch_step": True,
        "teleport": False,  # unknown to the server
        "x": False,
    }
    assert negotiate_capabilities(want, (1, 1, 0))["binary_obs"] is True
    assert negotiate_capabilities(want, (1, 1, 0))["binary_batch"] is False
    assert negotiate_capabilities(want, (1, 2, 0))["binary_batch"] is True
    assert negotiate_capabilities({"binary_obs": False}, (1, 2, 0)) == {"binary_obs": False}


def test_session_capabilities_follow_what_the_session_has() -> None:
    caps = {"binary_obs": True, "binary_batch": True, "batch_step": True}
    single = ready(1, caps=caps)  # one vector env: nothing to batch, no image
    assert single.capabilities == {"binary_obs": False, "binary_batch": False, "batch_step": False}
    batched = ready(4, caps=caps, observation_space=IMAGE_SPACE)
    assert batched.capabilities == {"binary_obs": True, "binary_batch": True, "batch_step": True}
    old = ready(4, version="1.0.0", caps=caps, observation_space=IMAGE_SPACE)
    assert old.capabilities == {"binary_obs": False, "binary_batch": False, "batch_step": True}


# --- spaces, observations, actions ------------------------------------------------------------------------

SPACES = [
    spaces.Box(-1.0, 2.0, (3,), np.float32),
    spaces.Box(-np.inf, np.inf, (2,), np.float32),
    spaces.Discrete(5),
    spaces.MultiDiscrete([3, 4]),
    spaces.MultiBinary(4),
    IMAGE_SPACE,
    spaces.Dict({"pos": spaces.Box(-1, 1, (2,), np.float32), "mode": spaces.Discrete(3)}),
]


@pytest.mark.parametrize("space", SPACES, ids=lambda s: type(s).__name__)
def test_spaces_round_trip_through_their_wire_form(space: spaces.Space) -> None:
    wire = json.loads(json.dumps(space_to_wire(space), allow_nan=False))  # JSON-safe: no inf
    back = wire_to_space(wire)
    assert type(back) is type(space)
    if isinstance(space, spaces.Box):
        assert back.shape == space.shape
        np.testing.assert_array_equal(back.low, space.low)  # ±inf restored from ±FLOAT32_MAX
        np.testing.assert_array_equal(back.high, space.high)
    sample = space.sample()
    flat = np.asarray(json.loads(json.dumps(obs_to_array(space, sample).tolist())), dtype=np.float64)
    rebuilt = array_to_obs(back, flat)
    if isinstance(space, spaces.Dict):
        for key in space.spaces:
            np.testing.assert_array_equal(rebuilt[key], sample[key])
    else:
        np.testing.assert_array_equal(rebuilt, sample)


def test_wire_space_forms_are_the_earlier_systems() -> None:
    assert space_to_wire(spaces.Box(-np.inf, 1.0, (1,), np.float32)) == {
        "Box": {"low": [-FLOAT32_MAX], "high": [1.0]}
    }
    assert space_to_wire(spaces.Discrete(3)) == {"Discrete": {"n": 3}}
    assert space_to_wire(spaces.MultiDiscrete([2, 3])) == {"MultiDiscrete": {"nvec": [2, 3]}}
    assert space_to_wire(spaces.MultiBinary(2)) == {"MultiBinary": {"n": 2}}
    assert space_to_wire(IMAGE_SPACE) == {"Image": {"height": 4, "width": 5, "channels": 3}}
    assert space_to_wire(spaces.Dict({"a": spaces.Discrete(2)})) == {
        "Dict": {"spaces": {"a": {"Discrete": {"n": 2}}}}
    }
    with pytest.raises(ConfigError):
        space_to_wire(spaces.Text(5))


@pytest.mark.parametrize(
    ("space", "action", "wire"),
    [
        (spaces.Box(-1, 1, (2,), np.float32), np.array([0.5, -1.0], np.float32), {"Continuous": [0.5, -1.0]}),
        (spaces.Discrete(3, start=1), np.int64(3), {"Discrete": 2}),
        (spaces.MultiDiscrete([2, 5]), np.array([1, 4]), {"MultiDiscrete": [1, 4]}),
        (spaces.MultiBinary(3), np.array([1, 0, 1], np.int8), {"MultiDiscrete": [1, 0, 1]}),
    ],
)
def test_actions_encode_and_decode(space: spaces.Space, action: Any, wire: dict) -> None:
    codec = ActionCodec(space)
    assert codec.encode(action) == wire
    decoded = codec.decode(wire)
    assert space.contains(decoded)
    np.testing.assert_array_equal(decoded, action)


def test_client_refuses_to_encode_non_finite_actions() -> None:
    with pytest.raises(ActionError):
        ActionCodec(spaces.Box(-1, 1, (2,), np.float32)).encode([np.nan, 0.0])


# --- binary frames ----------------------------------------------------------------------------------------


def test_batch_frame_header_layout() -> None:
    obs = np.arange(6, dtype=np.float32).reshape(3, 2)
    frame = binary.encode_batch(obs, image=False)
    assert len(frame) == 24 + 6 * 4
    assert frame[:24] == struct.pack("<IB3xIIII", 1, 0, 3, 2, 0, 0)
    assert frame[4] == 0 and frame[5:8] == b"\x00\x00\x00"
    np.testing.assert_array_equal(binary.decode_batch(frame), obs)
    images = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    frame = binary.encode_batch(images, image=True)
    assert struct.unpack_from("<IB3xII", frame) == (1, 1, 2, 60)
    np.testing.assert_array_equal(binary.decode_batch(frame).reshape(images.shape), images)


@pytest.mark.parametrize(
    "frame",
    [
        b"\x01\x00",
        struct.pack("<IB3xIIII", 2, 0, 1, 1, 0, 0) + b"\0" * 4,
        struct.pack("<IB3xIIII", 1, 0, 2, 2, 0, 0),
    ],
)
def test_malformed_batch_frames_are_rejected(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        binary.decode_batch(frame)


def test_binary_batch_carries_exactly_the_json_observations() -> None:
    plain = running(3, caps={"binary_batch": False})
    fast = running(3, caps={"binary_batch": True})
    actions = {"type": "batch_step", "actions": [{"Continuous": [0.1, 0.2]}] * 3}
    a, none = call(plain, actions)
    b, frame = call(fast, actions)
    assert none is None and frame is not None
    assert b["observations"] == [{"data": []}] * 3
    assert b["obs_encoding"] == {"type": "BatchF32", "num_envs": 3, "obs_dim": 3}
    np.testing.assert_array_equal(
        binary.decode_batch(frame), np.asarray([o["data"] for o in a["observations"]], np.float32)
    )
    assert {k: v for k, v in a.items() if k != "observations"} == {
        k: v for k, v in b.items() if k not in ("observations", "obs_encoding")
    }


def test_images_travel_as_raw_hwc_frames_from_protocol_1_1() -> None:
    session = ready(1, version="1.1.0", caps={"binary_obs": True}, observation_space=IMAGE_SPACE)
    response, frame = call(session, {"type": "reset", "seed": 3})
    assert response["observation"] == {"data": []}
    assert response["obs_encoding"] == {
        "type": "RawU8Image",
        "width": 5,
        "height": 4,
        "channels": 3,
        "layout": "Hwc",
    }
    assert len(frame) == 4 * 5 * 3
    step, frame = call(session, {"type": "step", "action": {"Continuous": [0, 0]}})
    assert step["observation"] == {"data": []} and len(frame) == 60
    # The same env at 1.0.0 sends the pixels as JSON numbers.
    old = ready(1, version="1.0.0", caps={"binary_obs": True}, observation_space=IMAGE_SPACE)
    response, frame = call(old, {"type": "reset", "seed": 3})
    assert frame is None and "obs_encoding" not in response and len(response["observation"]["data"]) == 60


def test_image_batches_use_kind_1() -> None:
    session = ready(2, caps={"binary_batch": True}, observation_space=IMAGE_SPACE)
    response, frame = call(session, {"type": "batch_reset", "env_ids": [0, 1], "seeds": [1, 2]})
    assert response["obs_encoding"]["type"] == "BatchRawU8Image"
    assert binary.decode_batch(frame).shape == (2, 60)


# --- every message, round trip ----------------------------------------------------------------------------


def test_every_request_gets_its_documented_response() -> None:
    session = Session(toy_source(horizon=3), 2)
    init, _ = call(session, {**INIT, "capabilities": {"batch_step": True}, "seed": 9})
    assert init == {
        "type": "init_response",
        "protocol_version": "1.2.0",
        "env_name": "toy/Toy-v0",
        "env_version": "1.0.0",
        "env_info": {
            "n_agents": 2,
            "observation_space": {"Box": {"low": [-FLOAT32_MAX] * 3, "high": [FLOAT32_MAX] * 3}},
            "action_space": {"Box": {"low": [-1.0, -1.0], "high": [1.0, 1.0]}},
        },
        "capabilities": {"batch_step": True},
        "seed_accepted": True,
    }
    sp, _ = call(session, {"type": "spaces"})
    assert sp == {"type": "spaces", **{k: init["env_info"][k] for k in ("observation_space", "action_space")}}
    pong, _ = call(session, {"type": "ping", "timestamp": 1234})
    assert pong["type"] == "pong" and pong["timestamp"] == 1234 and isinstance(pong["server_time"], int)
    reset, _ = call(session, {"type": "reset", "seed": None})
    assert set(reset) == {"type", "observation", "info"}
    assert reset["info"]["seed"] == 9  # the handshake seed seeds env 0's first reset
    assert set(reset["info"]) == {"seed", "custom"} and reset["info"]["custom"]["reset_marker"] == 7
    assert len(reset["observation"]["data"]) == 3
    br, _ = call(session, {"type": "batch_reset", "env_ids": [1, 0], "seeds": [None, 4]})
    assert [i["seed"] for i in br["infos"]] == [10, 4]  # env 1: handshake seed + 1
    assert len(br["observations"]) == 2
    step, _ = call(session, {"type": "step", "action": {"Continuous": [0.5, 0.5]}})
    assert step["type"] == "step" and step["reward"] == 1.0
    assert step["terminated"] is False and step["truncated"] is False
    assert step["info"] == {"episode_length": 1, "custom": {"t": 1}}
    bs, _ = call(session, {"type": "batch_step", "actions": [{"Continuous": [0, 0]}] * 2})
    assert set(bs) == {"type", "observations", "rewards", "terminated", "truncated", "infos"}
    assert bs["rewards"] == [1.0, 1.0] and [i["episode_length"] for i in bs["infos"]] == [2, 1]
    bye, _ = call(session, {"type": "close"})
    assert bye == {"type": "close"} and session.closed


def test_same_seed_same_episode_bit_for_bit() -> None:
    def episode(seed: int) -> list:
        session = ready(1, horizon=4)
        out = [call(session, {"type": "reset", "seed": seed})[0]["observation"]]
        for _ in range(4):
            out.append(call(session, {"type": "step", "action": {"Continuous": [0, 0]}})[0]["observation"])
        return out

    assert episode(5) == episode(5)
    assert episode(5) != episode(6)


# --- the state machine ------------------------------------------------------------------------------------

VALID = {
    "init": INIT,
    "spaces": {"type": "spaces"},
    "reset": {"type": "reset", "seed": 1},
    "step": {"type": "step", "action": {"Continuous": [0.0, 0.0]}},
    "batch_reset": {"type": "batch_reset", "env_ids": [0, 1]},
    "batch_step": {"type": "batch_step", "actions": [{"Continuous": [0.0, 0.0]}] * 2},
    "ping": {"type": "ping", "timestamp": 1},
    "close": {"type": "close"},
}


def in_state(state: State) -> Session:
    if state is State.CONNECTED:
        return Session(toy_source(), 2)
    return ready(2) if state is State.READY else running(2)


# docs/protocol.md §5, written out by hand: the outcome of every request in every state ("ok", or the
# error code). Deliberately not derived from protocol.ALLOWED: the server enforces ALLOWED, so a test
# that read its expectations from ALLOWED would change together with a wrong entry and never fail.
OK = "ok"
DOCUMENTED_OUTCOMES: dict[str, dict[str, str | int]] = {
    "connected": {
        "init": OK, "spaces": 300, "reset": 300, "step": 300,
        "batch_reset": 300, "batch_step": 300, "ping": 300, "close": 300,
    },
    "ready": {
        "init": 103, "spaces": OK, "reset": OK, "step": 301,
        "batch_reset": OK, "batch_step": 301, "ping": OK, "close": OK,
    },
    "episode_running": {
        "init": 103, "spaces": OK, "reset": OK, "step": OK,
        "batch_reset": OK, "batch_step": OK, "ping": OK, "close": OK,
    },
}  # fmt: skip


def test_the_documented_table_is_the_one_the_server_enforces() -> None:
    documented = {state: {k for k, v in row.items() if v == OK} for state, row in DOCUMENTED_OUTCOMES.items()}
    assert {state.value: set(kinds) for state, kinds in ALLOWED.items()} == documented
    assert all(set(row) == REQUEST_TYPES for row in DOCUMENTED_OUTCOMES.values())


def test_the_table_above_is_the_one_in_docs_protocol_md() -> None:
    """§5's markdown table, parsed: each state's row lists exactly the requests the table above allows."""
    text = (Path(__file__).parents[1] / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = text[text.index("## 5. Session states") : text.index("## 6.")]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| \*\*(.+?)\*\*.*?\| (.+) \|$", line)
        if match:
            rows[match.group(1).replace(" ", "_")] = set(re.findall(r"`(\w+)`", match.group(2)))
    assert rows == {
        state: {k for k, v in row.items() if v == OK} for state, row in DOCUMENTED_OUTCOMES.items()
    }


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("kind", sorted(REQUEST_TYPES))
def test_every_request_in_every_state(state: State, kind: str) -> None:
    expected = DOCUMENTED_OUTCOMES[state.value][kind]
    session = in_state(state)
    response, _ = call(session, VALID[kind])
    if expected == OK:
        assert response["type"] != "error", response
        return
    assert response == {"type": "error", "code": expected, "message": response["message"]}
    assert state.value in response["message"]
    for allowed, outcome in DOCUMENTED_OUTCOMES[state.value].items():
        if outcome == OK:
            assert allowed in response["message"]  # the error lists what is allowed instead
    assert session.state is state and not session.closed  # an error changes nothing
    assert call(session, VALID["ping"] if state is not State.CONNECTED else INIT)[0]["type"] != "error"


def test_episode_end_returns_the_session_to_ready() -> None:
    session = running(1, horizon=2)
    step = {"type": "step", "action": {"Continuous": [0, 0]}}
    assert call(session, step)[0]["terminated"] is False
    assert session.state is State.EPISODE_RUNNING
    assert call(session, step)[0]["terminated"] is True
    assert session.state is State.READY
    expect_error(session, step, 301)
    call(session, {"type": "reset"})
    assert session.state is State.EPISODE_RUNNING
    trunc = running(1, horizon=1, truncate=True)
    assert call(trunc, step)[0]["truncated"] is True and trunc.state is State.READY


def test_a_finished_env_in_a_batch_must_be_reset_before_the_next_batch_step() -> None:
    session = running(3, horizon=2)
    batch = {"type": "batch_step", "actions": [{"Continuous": [0, 0]}] * 3}
    call(session, batch)
    call(session, {"type": "batch_reset", "env_ids": [1]})  # env 1 now lags one step behind
    response, _ = call(session, batch)
    assert response["terminated"] == [True, False, True]
    assert session.state is State.READY
    assert "[0, 2]" in expect_error(session, batch, 301)
    call(session, {"type": "batch_reset", "env_ids": [0]})
    assert session.state is State.READY  # env 2 still finished
    call(session, {"type": "batch_reset", "env_ids": [2]})
    assert session.state is State.EPISODE_RUNNING
    assert call(session, batch)[0]["terminated"] == [False, True, False]


def test_close_frees_the_environments() -> None:
    session = running(2)
    ids = [env.id for env in session.envs]
    call(session, {"type": "close"})
    assert set(ids) <= set(CLOSED)
    assert session.envs == []


# --- every error code -------------------------------------------------------------------------------------

STEP_NAN = b'{"type":"step","action":{"Continuous":[NaN,0.0]}}'


@pytest.mark.parametrize(
    ("setup", "request_", "code"),
    [
        ("connected", {**INIT, "protocol_version": "2.0.0"}, 100),
        ("ready", b"{oops", 101),
        ("ready", b"\x80\x81", 101),
        ("ready", {"type": "batch_reset", "env_ids": [0, 0]}, 101),
        ("ready", {"type": "batch_reset", "env_ids": [0], "seeds": [1, 2]}, 101),
        ("ready", {"type": "teleport"}, 102),
        ("ready", INIT, 103),
        ("single", {"type": "batch_step", "actions": [{"Continuous": [0, 0]}]}, 106),
        ("single", {"type": "batch_reset", "env_ids": [0]}, 106),
        ("running", {"type": "step", "action": {"Discrete": 1}}, 200),
        ("running", {"type": "step", "action": {"Continuous": [0.0]}}, 200),
        ("running", {"type": "step", "action": [0.0, 0.0]}, 200),
        ("running", {"type": "step", "action": {"Continuous": [0, 0], "Discrete": 1}}, 200),
        ("running", {"type": "batch_step", "actions": [{"Continuous": [0, 0]}] * 3}, 200),
        ("running", {"type": "step", "action": {"Continuous": [1.5, 0.0]}}, 201),
        ("running", {"type": "step", "action": {"Continuous": [0.0, -1.0001]}}, 201),
        ("running", {"type": "step"}, 204),
        ("connected", {"type": "init", "client_name": "x", "client_version": "1"}, 204),
        ("ready", {"type": "ping"}, 204),
        ("ready", {"seed": 1}, 204),
        ("ready", {"type": "reset", "seed": "seven"}, 205),
        ("ready", {"type": "reset", "seed": -1}, 205),
        ("ready", {"type": "reset", "seed": True}, 205),
        ("ready", {"type": 5}, 205),
        ("running", {"type": "step", "action": {"Continuous": ["a", 0]}}, 205),
        ("running", {"type": "step", "action": {"Continuous": [True, 0]}}, 205),
        ("connected", {**INIT, "capabilities": {"binary_obs": "yes"}}, 205),
        ("running", STEP_NAN, 206),
        ("running", b'{"type":"step","action":{"Continuous":[0.0,Infinity]}}', 207),
        ("running", b'{"type":"step","action":{"Continuous":[0.0,-1e400]}}', 207),
        ("running", b'{"type":"step","action":{"Continuous":[0.0,1' + b"0" * 400 + b"]}}", 207),
        ("connected", {"type": "reset"}, 300),
        ("ready", {"type": "step", "action": {"Continuous": [0, 0]}}, 301),
        ("ready", {"type": "batch_reset", "env_ids": [0, 7]}, 303),
        ("ready", {"type": "batch_reset", "env_ids": [-1]}, 303),
    ],
)
def test_error_codes(setup: str, request_: dict | bytes, code: int) -> None:
    session = {
        "connected": lambda: Session(toy_source(), 2),
        "ready": lambda: ready(2),
        "running": lambda: running(2),
        "single": lambda: running(1),
    }[setup]()
    state = session.state
    expect_error(session, request_, code)
    assert session.state is state and not session.closed  # the session continues


def test_discrete_and_multidiscrete_validation_codes() -> None:
    disc = running(1, action_space=spaces.Discrete(3))
    expect_error(disc, {"type": "step", "action": {"Discrete": 3}}, 201)
    expect_error(disc, {"type": "step", "action": {"Discrete": 1.5}}, 205)
    assert call(disc, {"type": "step", "action": {"Discrete": 2}})[0]["type"] == "step"
    multi = running(1, action_space=spaces.MultiDiscrete([2, 3]))
    expect_error(multi, {"type": "step", "action": {"MultiDiscrete": [1, 3]}}, 201)
    expect_error(multi, {"type": "step", "action": {"MultiDiscrete": [1]}}, 200)
    expect_error(multi, {"type": "step", "action": {"MultiDiscrete": [1, 0.5]}}, 205)


def test_a_batch_with_one_bad_action_steps_no_env() -> None:
    session = running(3)
    bad = {
        "type": "batch_step",
        "actions": [{"Continuous": [0, 0]}, {"Continuous": [0, 9]}, {"Continuous": [0, 0]}],
    }
    assert "actions[1]" in expect_error(session, bad, 201)
    assert [env.t for env in session.envs] == [0, 0, 0]


def test_payload_too_large_response_is_replaced_by_error_104() -> None:
    huge = spaces.Box(-1, 1, (1_000_000,), np.float32)  # ~22 MB of JSON numbers
    session = ready(1, observation_space=huge)
    expect_error(session, {"type": "reset", "seed": 1234}, 104)
    assert call(session, {"type": "ping", "timestamp": 2})[0]["type"] == "pong"


def test_simulation_errors_are_304_and_need_a_reset() -> None:
    session = running(1, fail_at=2)
    step = {"type": "step", "action": {"Continuous": [0, 0]}}
    call(session, step)
    assert "exploded" in expect_error(session, step, 304)
    assert session.state is State.READY
    assert call(session, {"type": "reset"})[0]["type"] == "reset"
    nan = running(1, nan_at=1)
    expect_error(nan, step, 304)
    assert nan.state is State.READY
    batch = running(2, fail_at=1)
    expect_error(batch, {"type": "batch_step", "actions": [{"Continuous": [0, 0]}] * 2}, 304)
    assert batch.state is State.READY


def test_internal_errors_are_400_and_the_session_survives(monkeypatch: pytest.MonkeyPatch) -> None:
    session = ready(1)

    def broken(message: dict) -> list[bytes]:
        raise KeyError("bug")

    monkeypatch.setattr(session, "_on_spaces", broken)
    assert "KeyError" in expect_error(session, {"type": "spaces"}, 400)
    assert call(session, {"type": "ping", "timestamp": 3})[0]["type"] == "pong"


def test_every_documented_code_is_produced_by_some_test() -> None:
    # Codes exercised above; keeps the table in docs/protocol.md, ErrorCode and the tests in step.
    # 107 and 108 are exercised in the authentication section below and in tests/test_server_security.py.
    exercised = {
        100,
        101,
        102,
        103,
        104,
        106,
        107,
        108,
        200,
        201,
        204,
        205,
        206,
        207,
        300,
        301,
        303,
        304,
        400,
    }
    assert {int(c) for c in ErrorCode} == exercised


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (b'{"Continuous":[0.0,NaN]}', 206),
        (b'{"Continuous":[0.0,Infinity]}', 207),
        (b'{"Discrete":1}', 200),
        (b'{"Continuous":[0.0]}', 200),
        (b'{"Continuous":["x",0.0]}', 205),
        (b'{"Continuous":[0.0,2.0]}', 201),
    ],
)
def test_batch_action_errors_name_the_offending_env(bad: bytes, code: int) -> None:
    session = running(3)
    good = b'{"Continuous":[0.5,-0.5]}'
    payload = b'{"type":"batch_step","actions":[' + b",".join([good, good, bad]) + b"]}"
    assert "actions[2]" in expect_error(session, payload, code)
    assert [env.t for env in session.envs] == [0, 0, 0]


def test_vectorized_batch_decoding_equals_one_by_one() -> None:
    codec = ActionCodec(spaces.Box(-1, 1, (2,), np.float32))
    wires = [{"Continuous": [0.25 * k - 1, 1]} for k in range(8)] + [{"Continuous": [0, -1]}]
    batch = codec.decode_batch(wires)
    assert isinstance(batch, np.ndarray) and batch.dtype == np.float32 and batch.shape == (9, 2)
    np.testing.assert_array_equal(batch, np.stack([codec.decode(w) for w in wires]))


def test_with_several_envs_step_needs_only_env_0() -> None:
    session = ready(2)
    call(session, {"type": "reset", "seed": 1})  # env 0 only
    assert session.state is State.READY
    assert call(session, {"type": "step", "action": {"Continuous": [0, 0]}})[0]["type"] == "step"
    assert "[1]" in expect_error(
        session, {"type": "batch_step", "actions": [{"Continuous": [0, 0]}] * 2}, 301
    )
    call(session, {"type": "batch_reset", "env_ids": [1]})
    assert session.state is State.EPISODE_RUNNING


# --- framing deadlines --------------------------------------------------------------------------------------


def test_a_trickling_peer_cannot_stretch_a_frame_past_its_io_timeout() -> None:
    """One byte every 50 ms never trips a per-recv timeout of 0.3 s; the frame's own budget must."""
    a, b = socket.socketpair()
    stop = threading.Event()

    def trickle() -> None:
        a.sendall(struct.pack("<I", 1000))
        while not stop.wait(0.05):
            try:
                a.sendall(b"x")
            except OSError:
                return

    thread = threading.Thread(target=trickle)
    with a, b:
        thread.start()
        try:
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                read_frame(b, io_timeout=0.3)
            assert time.monotonic() - start < 2.0  # not 1000 bytes x 50 ms
        finally:
            stop.set()
            thread.join()


def test_read_frame_honours_a_deadline_and_a_smaller_size_limit() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(struct.pack("<I", 2000))
        with pytest.raises(PayloadTooLargeError) as err:
            read_frame(b, max_size=1024)
        assert err.value.size == 2000
        a.sendall(struct.pack("<I", 10) + b"abc")
        b.settimeout(5)
        with pytest.raises(TimeoutError):
            read_frame(b, io_timeout=30, deadline=time.monotonic() + 0.1)


# --- authentication (the session's part: no sockets) ------------------------------------------------------

TOKEN = "correct-horse-battery-staple"


class CountingSource:
    """A toy source that counts the environments it made: refusals must make none."""

    def __init__(self) -> None:
        self.made = 0
        self.source = EnvSource(name="toy/Toy-v0", version="1.0.0", make=self._make)

    def _make(self) -> ToyEnv:
        self.made += 1
        return ToyEnv()


def guarded(num_envs: int = 2, **kwargs: Any) -> tuple[Session, CountingSource]:
    from clankers.server.auth import TokenCheck

    counting = CountingSource()
    return Session(counting.source, num_envs, token=TokenCheck(TOKEN), **kwargs), counting


@pytest.mark.parametrize(
    ("token", "words"),
    [(None, "requires a token"), ("wrong", "wrong token"), (TOKEN[:-1], "wrong token"), (TOKEN + " ", "wrong"),
     (7, "wrong token"), ("\ud800", "wrong token"), ("", "wrong token")],
)  # fmt: skip
def test_a_wrong_or_missing_token_is_107_and_ends_the_session_without_envs(token: Any, words: str) -> None:
    session, counting = guarded()
    init = {**INIT, "protocol_version": "1.3.0"} if token is None else {**INIT, "token": token}
    assert words in expect_error(session, init, 107)
    assert session.closed and counting.made == 0
    assert session.state is State.CONNECTED


def test_the_token_is_checked_before_anything_else_in_init() -> None:
    session, counting = guarded()
    expect_error(session, {"type": "init", "protocol_version": "9.0.0"}, 107)  # not 100, not 204
    assert counting.made == 0


def test_an_unauthenticated_peer_gets_one_answer_per_connection() -> None:
    for request_, code in [(VALID["ping"], 300), (b"{oops", 101), ({"type": "warp"}, 102)]:
        session, counting = guarded()
        expect_error(session, request_, code)
        assert session.closed and counting.made == 0  # the transport hangs up after this answer


def test_the_right_token_opens_the_session_and_auth_is_negotiated_from_1_3() -> None:
    session, counting = guarded()
    response, _ = call(
        session, {**INIT, "protocol_version": "1.3.0", "token": TOKEN, "capabilities": {"auth": True}}
    )
    assert response["type"] == "init_response" and response["capabilities"] == {"auth": True}
    assert session.authenticated and counting.made == 2
    # After the handshake, errors are ordinary again: the session continues.
    expect_error(session, {"type": "warp"}, 102)
    assert not session.closed
    # A replayed handshake on the same connection is refused and makes no environment.
    expect_error(session, {**INIT, "token": TOKEN}, 103)
    assert counting.made == 2
    old, _ = guarded()
    response, _ = call(
        old, {**INIT, "protocol_version": "1.2.0", "token": TOKEN, "capabilities": {"auth": True}}
    )
    assert response["capabilities"] == {"auth": False}  # checked, but 1.2 has no such capability
    open_ = Session(CountingSource().source, 2)  # no token: auth is false (the token was not checked)
    response, _ = call(
        open_, {**INIT, "protocol_version": "1.3.0", "token": "x", "capabilities": {"auth": True}}
    )
    assert response["capabilities"] == {"auth": False}


def test_a_right_token_with_a_wrong_version_may_retry() -> None:
    session, counting = guarded()
    expect_error(session, {**INIT, "protocol_version": "2.0.0", "token": TOKEN}, 100)
    assert not session.closed and session.authenticated and counting.made == 0
    assert call(session, {**INIT, "token": TOKEN})[0]["type"] == "init_response"


def test_a_refused_admission_is_108_and_makes_no_environment() -> None:
    from clankers.server.protocol import fail

    def full() -> None:
        raise fail(ErrorCode.SERVER_BUSY, "server busy: test")

    session, counting = guarded(admit=full)
    assert "busy" in expect_error(session, {**INIT, "token": TOKEN}, 108)
    assert session.closed and counting.made == 0
    admitted: list[bool] = []
    ok, counting = guarded(admit=lambda: admitted.append(True))
    call(ok, {**INIT, "token": TOKEN})
    assert admitted == [True] and counting.made == 2


def test_pings_do_not_count_as_work() -> None:
    session = ready(1)
    before = session.last_work
    time.sleep(0.01)
    call(session, VALID["ping"])
    call(session, VALID["spaces"])
    assert session.last_work == before
    call(session, VALID["reset"])
    assert session.last_work > before


# --- configuration, tokens, TLS contexts --------------------------------------------------------------------


def test_token_check_is_a_digest_comparison() -> None:
    from clankers.server.auth import TokenCheck

    check = TokenCheck(TOKEN)
    assert check.matches(TOKEN)
    assert not any(check.matches(x) for x in (TOKEN.upper(), TOKEN[:5], TOKEN * 2, None, b"x", 1, "\ud800"))
    assert TOKEN not in repr(vars(check))  # only the digest is kept


def test_load_token_reads_a_file_or_the_environment(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from clankers.server.auth import load_token

    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    assert load_token(path, environ={"CLANKERS_TOKEN": "other"}) == TOKEN  # the file wins
    assert load_token(None, environ={"CLANKERS_TOKEN": " env-token \n"}) == "env-token"
    assert load_token(None, environ={}) is None
    assert "chmod 600" not in caplog.text
    path.chmod(0o644)
    load_token(path)
    assert "chmod 600" in caplog.text  # readable by others: accepted, with a warning
    path.write_text("  \n")
    with pytest.raises(ConfigError, match="empty"):
        load_token(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_token(tmp_path / "missing")


def test_server_config_refuses_silent_exposure() -> None:
    from clankers.server import ServerConfig
    from clankers.server.config import is_loopback

    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "localhost", "LOCALHOST")] == [True] * 5
    assert [is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.2", "example.org", "")] == [False] * 5
    for host in ("0.0.0.0", "::", "192.168.1.5", "robot.local"):
        with pytest.raises(ConfigError, match="--token-file") as err:
            ServerConfig(host=host)
        assert "CLANKERS_TOKEN" in str(err.value) and "--insecure" in str(err.value)
        assert ServerConfig(host=host, insecure=True).exposed
        assert not ServerConfig(host=host, token=TOKEN).exposed
    assert not ServerConfig().exposed
    with pytest.raises(ConfigError, match="at least 16"):
        ServerConfig(token="short")
    with pytest.raises(ConfigError, match="tls_cert"):
        ServerConfig(tls_key="key.pem")
    assert TOKEN not in repr(ServerConfig(token=TOKEN))  # a SecretStr: never in logs or tracebacks
    for bad in ({"host": "0.0.0.0", "token": "tiny-TOKEN"}, {"token": TOKEN, "max_clients": 0}):
        with pytest.raises(ConfigError) as err:
            ServerConfig(**bad)
        assert "TOKEN" not in str(err.value) and TOKEN[-6:] not in str(err.value)  # no input echoed
    for bad in ({"handshake_timeout": 0}, {"max_per_address": 0}, {"max_pending": 0}, {"reclaim_after": -1},
                {"max_handshake_frame": 10}, {"surprise": 1}):  # fmt: skip
        with pytest.raises(ConfigError):
            ServerConfig(**bad)


def test_tls_contexts_explain_missing_files(tmp_path: Path) -> None:
    from clankers.server.auth import client_tls_context, server_tls_context

    assert client_tls_context() is None
    assert client_tls_context(tls=True).check_hostname  # verifies the server by default
    with pytest.raises(ConfigError, match="CA file"):
        client_tls_context(ca_file=tmp_path / "none.pem")
    with pytest.raises(ConfigError, match="not found"):
        server_tls_context(tmp_path / "cert.pem", tmp_path / "key.pem")
    (tmp_path / "cert.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="PEM"):
        server_tls_context(tmp_path / "cert.pem")
