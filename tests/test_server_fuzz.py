"""Fuzzing a live server: thousands of random and mutated frames, then a valid client must still work.

Every well-framed request must get exactly one well-formed response (an error with a documented code, or
a real response), never code 400 (which would mean a server bug), and the server must keep serving.
Framing attacks (truncated frames, oversized headers) run on throwaway connections.
"""

from __future__ import annotations

import json
import random
import re
import struct
from typing import Any

import numpy as np

from clankers.server import GymClient, ProtocolServer, ServerConfig, env_source
from clankers.server.protocol import ErrorCode
from server_toy_envs import RawClient

FRAMES = 4000  # well-framed random/mutated requests
ATTACKS = 200  # framing attacks, each on its own connection
SEED = 20240501

TEMPLATES: list[dict[str, Any]] = [
    {"type": "init", "protocol_version": "1.2.0", "client_name": "fuzz", "client_version": "0",
     "capabilities": {"binary_batch": True, "binary_obs": True, "batch_step": True}, "seed": 3},
    {"type": "spaces"},
    {"type": "reset", "seed": 1},
    {"type": "step", "action": {"Continuous": [0.1, -0.2]}},
    {"type": "batch_reset", "env_ids": [0, 1], "seeds": [1, None]},
    {"type": "batch_step", "actions": [{"Continuous": [0.5, 0.0]}, {"Continuous": [-0.5, 1.0]}]},
    {"type": "ping", "timestamp": 1},
    {"type": "close"},
]  # fmt: skip


def random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(10 if depth < 3 else 7)
    return [
        lambda: None,
        lambda: rng.random() < 0.5,
        lambda: rng.choice([0, 1, -1, 2**63, 2**64, -(2**70), 10**30]),
        lambda: rng.choice([0.5, -1e308, 1e-300, 3.4028235e38, 1.5, -0.0]),
        lambda: rng.choice(["", "step", "Continuous", "1.2.0", "\u00e9\u4e2d", "x" * 300]),
        lambda: rng.choice(["NaN", "Infinity"]),  # as strings
        lambda: rng.randrange(-5, 5),
        lambda: [random_json(rng, depth + 1) for _ in range(rng.randrange(4))],
        lambda: {
            rng.choice(["Continuous", "Discrete", "MultiDiscrete", "type", "k"]): random_json(rng, depth + 1)
        },
        lambda: {"Continuous": [rng.uniform(-2, 2) for _ in range(rng.randrange(4))]},
    ][choice]()


def mutate(rng: random.Random, message: dict[str, Any]) -> bytes:
    msg = json.loads(json.dumps(message))
    op = rng.randrange(8)
    if op == 0 and len(msg) > 1:
        msg.pop(rng.choice([k for k in msg if k != "type"] or ["type"]))
    elif op == 1:
        msg[rng.choice(list(msg))] = random_json(rng)
    elif op == 2:
        msg["type"] = rng.choice(["step", "batch_step", "init", "reset", "Step", "", "close_all"])
    elif op == 3:
        msg[rng.choice(["extra", "seed", "action", "actions", "env_ids"])] = random_json(rng)
    payload = json.dumps(msg).encode()
    if op == 4:  # flip bytes
        data = bytearray(payload)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if op == 5:  # truncate the JSON (the frame itself stays well-formed)
        return payload[: rng.randrange(len(payload))]
    if op == 6:  # NaN / Infinity / overflowing numbers where a number was
        token = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1.5", b"3", b"true", b"null"])
        numbers = [m.span() for m in re.finditer(rb"-?\d+\.\d+", payload)]
        if numbers:
            start, end = rng.choice(numbers)
            return payload[:start] + token + payload[end:]
    return payload


def random_payload(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return rng.randbytes(rng.randrange(0, 200))
    return json.dumps(random_json(rng)).encode()


def test_fuzzed_frames_never_break_the_server() -> None:
    rng = random.Random(SEED)
    documented = {int(c) for c in ErrorCode}
    codes: dict[int, int] = {}
    ok = 0
    # max_per_address: the attacks below come from 127.0.0.1 faster than their threads may notice the
    # hang-ups; this test is about parsing, tests/test_server_security.py about the limits.
    config = ServerConfig(port=0, num_envs=2, io_timeout=0.5, max_per_address=ATTACKS + 8)
    with ProtocolServer(env_source("cartpole"), config) as server:
        conn = RawClient(server.address)
        sent = 0
        for k in range(FRAMES):
            r = rng.random()
            if r < 0.25:
                payload = random_payload(rng)
            elif r < 0.35:
                payload = json.dumps(rng.choice(TEMPLATES)).encode()  # valid, keeps the state machine moving
            else:
                payload = mutate(rng, rng.choice(TEMPLATES))
            conn.send_frame(payload)
            sent += 1
            response = json.loads(conn.recv_frame())
            assert isinstance(response, dict) and isinstance(response.get("type"), str), response
            if "obs_encoding" in response:
                conn.recv_frame()  # the announced binary frame
            if response["type"] == "error":
                assert response["code"] in documented, response
                assert response["code"] != ErrorCode.INTERNAL_ERROR, (k, payload, response)
                codes[response["code"]] = codes.get(response["code"], 0) + 1
            else:
                ok += 1
            if response["type"] == "close":
                conn = RawClient(server.address)
            # Steer back into the deeper states now and then, so mutations reach action validation.
            recovery = {300: TEMPLATES[0], 301: TEMPLATES[4]}.get(response.get("code"))
            if recovery is not None and rng.random() < 0.8:
                conn.send_frame(json.dumps(recovery).encode())
                answer = json.loads(conn.recv_frame())
                if "obs_encoding" in answer:
                    conn.recv_frame()
                sent += 1

        for _ in range(ATTACKS):  # framing attacks on throwaway connections
            attack = RawClient(server.address)
            kind = rng.randrange(4)
            if kind == 0:  # announce more than we send, then hang up
                attack.sock.sendall(
                    struct.pack("<I", rng.randrange(1, 1000)) + rng.randbytes(rng.randrange(0, 5))
                )
            elif kind == 1:  # a partial length header
                attack.sock.sendall(rng.randbytes(rng.randrange(1, 4)))
            elif kind == 2:  # oversized: error 104, then the server hangs up
                attack.sock.sendall(struct.pack("<I", rng.randrange(16 * 1024 * 1024 + 1, 2**32)))
                assert json.loads(attack.recv_frame())["code"] == 104
            else:  # raw garbage, any length
                attack.sock.sendall(rng.randbytes(rng.randrange(1, 64)))
            attack.sock.close()

        # The server is still up and serves a valid client a full episode.
        with GymClient(*server.address) as client:
            client.request({"type": "batch_reset", "env_ids": [0, 1], "seeds": [0, 1]})
            for _ in range(20):
                step = client.request(
                    {
                        "type": "batch_step",
                        "actions": [{"Continuous": [0.0, 0.0]}, {"Continuous": [0.0, 0.0]}],
                    }
                )
                assert np.isfinite(step["_obs"]).all()
        conn.sock.close()
    summary = dict(sorted(codes.items()))
    print(
        f"\nfuzz: {sent} frames sent ({FRAMES} fuzzed; {ok} accepted; errors by code {summary}), {ATTACKS} attacks"
    )
    assert len(codes) >= 10  # the mutations reach deep into validation, not just the JSON parser
