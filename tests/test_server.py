"""The protocol server over real sockets (port 0): the earlier system's clients, robustness, concurrency,
timeouts, resource cleanup, and the Gymnasium clients against the real cart-pole."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from clankers.envs import make_env
from clankers.errors import ConfigError, ServerError
from clankers.server import (
    GymClient,
    ProtocolServer,
    RemoteEnv,
    RemoteVectorEnv,
    ServerConfig,
    env_source,
)
from clankers.server.session import EnvSource
from server_toy_envs import CLOSED, RawClient, toy_source


@contextmanager
def serving(source: EnvSource, **config: Any) -> Iterator[ProtocolServer]:
    server = ProtocolServer(source, ServerConfig(port=0, **config))
    with server:
        yield server


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# --- the earlier system's clients, unchanged -----------------------------------------------------------


def test_an_earlier_1_0_client_runs_cartpole_unchanged() -> None:
    with serving(env_source("cartpole"), num_envs=1) as server:
        client = RawClient(server.address)
        # The earlier GymClient always asks for binary_obs and speaks 1.0.0.
        init = client.request(
            {
                "type": "init",
                "protocol_version": "1.0.0",
                "client_name": "clankers_py",
                "client_version": "0.1.0",
                "capabilities": {"binary_obs": True},
                "seed": 42,
            }
        )
        assert init["type"] == "init_response" and init["protocol_version"] == "1.0.0"
        assert init["capabilities"] == {"binary_obs": False}  # so no binary frame will ever follow
        assert init["env_info"]["n_agents"] == 1
        assert init["env_info"]["action_space"] == {"Box": {"low": [-1.0, -1.0], "high": [1.0, 1.0]}}
        low = init["env_info"]["observation_space"]["Box"]["low"]
        assert all(isinstance(v, float) and abs(v) == pytest.approx(3.4028235e38) for v in low)

        reference = make_env("cartpole")
        obs, _ = reference.reset(seed=42)
        reset = client.request({"type": "reset", "seed": None})  # the handshake seed applies
        assert reset["observation"]["data"] == obs.tolist()
        steps = 0
        while True:
            action = [0.7, 0.0] if steps % 3 else [-0.4, 0.0]
            step = client.request({"type": "step", "action": {"Continuous": action}})
            obs, reward, terminated, truncated, _ = reference.step(np.array(action, np.float32))
            steps += 1
            assert step["observation"]["data"] == obs.tolist()  # bit for bit
            assert (step["reward"], step["terminated"], step["truncated"]) == (reward, terminated, truncated)
            assert step["info"]["episode_length"] == steps
            if terminated or truncated:
                break
        assert client.request({"type": "close"}) == {"type": "close"}
        assert client.closed_by_server()


def test_an_earlier_vec_client_batches_unchanged() -> None:
    with serving(env_source("cartpole"), num_envs=3) as server:
        client = RawClient(server.address)
        init = client.request(
            {
                "type": "init",
                "protocol_version": "1.0.0",
                "client_name": "clankers_py",
                "client_version": "0.1.0",
                "capabilities": {"batch_step": True, "binary_obs": True},
            }
        )
        assert init["capabilities"] == {"batch_step": True, "binary_obs": False}
        reset = client.request({"type": "batch_reset", "env_ids": [0, 1, 2]})  # no "seeds" key
        assert len(reset["observations"]) == 3 and all(len(o["data"]) == 4 for o in reset["observations"])
        step = client.request({"type": "batch_step", "actions": [{"Continuous": [0.1, 0.0]}] * 3})
        assert np.asarray([o["data"] for o in step["observations"]]).shape == (3, 4)
        assert step["terminated"] == [False] * 3 and step["rewards"] == [1.0] * 3
        client.close()


# --- robustness ------------------------------------------------------------------------------------------


def test_malformed_frames_get_errors_and_the_connection_stays_open() -> None:
    with serving(toy_source(), num_envs=2) as server:
        client = RawClient(server.address)
        for payload, code in [(b"{broken", 101), (b"\xff", 101), (b"[]", 101), (b'{"type":"warp"}', 102)]:
            client.send_bytes(struct.pack("<I", len(payload)) + payload)
            response = client.recv()
            assert (response["type"], response["code"]) == ("error", code)
        response = client.request({"type": "step", "action": {"Continuous": [0, 0]}})
        assert response["code"] == 300 and "connected" in response["message"]
        init = {"type": "init", "protocol_version": "1.2.0", "client_name": "t", "client_version": "0"}
        assert client.request(init)["type"] == "init_response"
        assert client.request({"type": "batch_step", "actions": [{"Continuous": [0, 0]}]})["code"] == 301
        client.request({"type": "batch_reset", "env_ids": [0, 1]})
        assert client.request({"type": "batch_step", "actions": [{"Continuous": [0, 0]}]})["code"] == 200
        assert client.request({"type": "ping", "timestamp": 77})["timestamp"] == 77


def test_an_oversized_frame_is_answered_104_then_the_connection_closes() -> None:
    with serving(toy_source()) as server:
        client = RawClient(server.address)
        client.send_bytes(struct.pack("<I", 16 * 1024 * 1024 + 1))
        response = client.recv()
        assert (response["type"], response["code"]) == ("error", 104)
        assert client.closed_by_server()
        assert wait_for(lambda: server.active_sessions == 0)
        with GymClient(*server.address) as fresh:  # the server is fine
            assert fresh.ping() >= 0


def test_disconnecting_mid_episode_or_mid_frame_frees_the_session() -> None:
    with serving(toy_source(horizon=100), num_envs=2) as server:
        clients = [GymClient(*server.address) for _ in range(3)]
        for c in clients:
            c.connect()
            c.request({"type": "batch_reset", "env_ids": [0, 1]})
            c.request({"type": "batch_step", "actions": [{"Continuous": [0, 0]}] * 2})
        assert server.active_sessions == 3
        before = len(CLOSED)
        clients[0].disconnect()  # mid-episode, no close message
        clients[1]._sock.sendall(struct.pack("<I", 100) + b'{"type":')  # mid-frame
        clients[1].disconnect()
        assert wait_for(lambda: server.active_sessions == 1)
        assert len(CLOSED) - before == 4  # both sessions' two envs were closed
        assert clients[2].ping() >= 0
        clients[2].close()
        assert wait_for(lambda: server.active_sessions == 0)


INIT = {"type": "init", "protocol_version": "1.2.0", "client_name": "t", "client_version": "0"}


def test_idle_and_stalled_clients_time_out() -> None:
    with serving(toy_source(), idle_timeout=0.3, io_timeout=0.3) as server:
        idle = RawClient(server.address)
        stalled = RawClient(server.address)
        for client in (idle, stalled):
            assert client.request(INIT)["type"] == "init_response"
        stalled.send_bytes(struct.pack("<I", 50) + b"{")  # starts a frame, never finishes it
        assert idle.closed_by_server() and stalled.closed_by_server()
        assert wait_for(lambda: server.active_sessions == 0)


def test_clients_beyond_max_clients_are_refused_politely() -> None:
    with serving(toy_source(), max_clients=1) as server:  # reclaim_after 60 s: the first is not idle enough
        first = GymClient(*server.address)
        first.connect()
        second = RawClient(server.address)
        response = second.request(INIT)
        assert response["type"] == "error" and response["code"] == 108 and "busy" in response["message"]
        assert "--max-clients" in response["message"]
        assert second.closed_by_server()
        assert first.ping() >= 0


def test_binds_to_localhost_by_default_and_validates_its_config() -> None:
    assert ServerConfig().host == "127.0.0.1" and ServerConfig().port == 9877
    with serving(toy_source()) as server:
        assert server.address[0] == "127.0.0.1"
    for bad in ({"port": 70000}, {"num_envs": 0}, {"max_clients": 0}, {"idle_timeout": 0}):
        with pytest.raises(ConfigError):
            ServerConfig(**bad)
    with pytest.raises(ConfigError, match="unknown task"):
        env_source("no-such-task")


def test_many_clients_each_get_their_own_environments() -> None:
    with serving(toy_source(horizon=1000), num_envs=1) as server:
        clients = [GymClient(*server.address) for _ in range(5)]
        for k, c in enumerate(clients):
            c.connect()
            c.request({"type": "reset", "seed": k})
        # Interleave: client k takes k + 1 steps; episode lengths must not leak between clients.
        for round_ in range(5):
            for k, c in enumerate(clients):
                if round_ <= k:
                    r = c.request({"type": "step", "action": {"Continuous": [0, 0]}})
                    assert r["info"]["episode_length"] == round_ + 1
        assert server.active_sessions == 5
        for c in clients:
            c.close()


def test_server_errors_surface_as_typed_client_errors() -> None:
    with serving(toy_source()) as server, GymClient(*server.address) as client:
        with pytest.raises(ServerError) as err:
            client.request({"type": "step", "action": {"Continuous": [0, 0]}})
        assert err.value.code == 301
        with pytest.raises(ServerError) as err:
            GymClient(*server.address, protocol_version="3.0.0").connect()
        assert err.value.code == 100


# --- the Gymnasium clients against the real cart-pole ----------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*infinity")  # the cart-pole's documented unbounded observations
def test_remote_env_passes_gymnasiums_checker_and_matches_in_process() -> None:
    from gymnasium.utils.env_checker import check_env

    with serving(env_source("cartpole")) as server:
        env = RemoteEnv(*server.address)
        check_env(env, skip_render_check=True)
        reference = make_env("cartpole")
        rng = np.random.default_rng(0)
        remote_obs, _ = env.reset(seed=11)
        local_obs, _ = reference.reset(seed=11)
        for _ in range(60):
            np.testing.assert_array_equal(remote_obs, local_obs)
            action = rng.uniform(-1, 1, 2).astype(np.float32)
            remote_obs, r1, te1, tr1, _ = env.step(action)
            local_obs, r2, te2, tr2, _ = reference.step(action)
            assert (r1, te1, tr1) == (r2, te2, tr2)
            if te1 or tr1:
                remote_obs, _ = env.reset()
                local_obs, _ = reference.reset()
        env.close()


@pytest.mark.parametrize("binary_batch", [False, True])
def test_remote_vector_env_matches_a_local_sync_vector_env(binary_batch: bool) -> None:
    caps = {"batch_step": True, "binary_batch": binary_batch}
    with serving(env_source("cartpole"), num_envs=3) as server:
        remote = RemoteVectorEnv(*server.address, capabilities=caps)
        assert remote.client.capabilities["binary_batch"] is binary_batch
        local = SyncVectorEnv(
            [lambda: make_env("cartpole") for _ in range(3)], autoreset_mode=AutoresetMode.SAME_STEP
        )
        a, _ = remote.reset(seed=5)
        b, _ = local.reset(seed=5)
        np.testing.assert_array_equal(a, b)
        rng = np.random.default_rng(1)
        finished = 0
        for _ in range(80):
            actions = rng.uniform(-1, 1, (3, 2)).astype(np.float32)
            a, ra, ta, tra, ia = remote.step(actions)
            b, rb, tb, trb, ib = local.step(actions)
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(ra, rb)
            np.testing.assert_array_equal(ta, tb)
            np.testing.assert_array_equal(tra, trb)
            if "final_obs" in ib:
                np.testing.assert_array_equal(ia["_final_obs"], ib["_final_obs"])
                for i in np.flatnonzero(ib["_final_obs"]):
                    np.testing.assert_array_equal(ia["final_obs"][i], ib["final_obs"][i])
                    finished += 1
        assert finished > 0  # the autoreset path was exercised
        remote.close()


def test_clankers_serve_command_serves_until_stopped() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clankers.cli",
            "serve",
            "--task",
            "cartpole",
            "--num-envs",
            "2",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+)", line)
        assert match, line
        with GymClient("127.0.0.1", int(match.group(1))) as client:
            assert client.env_info["n_agents"] == 2
            assert client.init_response["env_name"] == env_source("cartpole").name  # clankers/CartPole-v*
            assert client.ping() >= 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_gym_make_compatible_spaces() -> None:
    with serving(env_source("CartPole-v1")) as server:  # a Gymnasium id: a Discrete action space
        env = RemoteEnv(*server.address)
        assert env.action_space == gym.spaces.Discrete(2)
        env.reset(seed=0)
        _, reward, *_ = env.step(1)
        assert reward == 1.0
        env.close()


def test_clankers_tasks_serve_batches_through_their_threaded_vector_env() -> None:
    from clankers.server.backends import EnvListBackend, VectorBackend, split_infos
    from clankers.server.session import Session

    init = {"type": "init", "protocol_version": "1.2.0", "client_name": "t", "client_version": "0"}
    batched = Session(env_source("cartpole"), 3)
    batched.handle(init)
    assert isinstance(batched.backend, VectorBackend)
    single = Session(env_source("cartpole"), 1)
    single.handle(init)
    assert isinstance(single.backend, EnvListBackend)
    gym_task = Session(env_source("CartPole-v1"), 3)  # no vector entry point: a list of envs
    gym_task.handle(init)
    assert isinstance(gym_task.backend, EnvListBackend)
    for s in (batched, single, gym_task):
        s.close()
    infos = {"a": np.array([1, 2, 3]), "_a": np.array([True, False, True]), "d": {"x": np.zeros(3)}}
    assert split_infos(infos, 3) == [{"a": 1, "d": {"x": 0.0}}, {"d": {"x": 0.0}}, {"a": 3, "d": {"x": 0.0}}]


@pytest.mark.parametrize("version", ["1.0.0", "1.2.0"])
@pytest.mark.parametrize(
    ("obs_space", "act_space"),
    [
        (gym.spaces.Box(0, 255, (4, 5, 3), np.uint8), gym.spaces.Discrete(3)),
        (
            gym.spaces.Dict({"pos": gym.spaces.Box(-9, 9, (2,), np.float32), "mode": gym.spaces.Discrete(4)}),
            gym.spaces.MultiDiscrete([2, 3]),
        ),
        (gym.spaces.Box(-9, 9, (2, 3), np.float32), gym.spaces.MultiBinary(2)),
    ],
    ids=["image", "dict", "box2d"],
)
def test_python_clients_rebuild_every_space_kind(version: str, obs_space: Any, act_space: Any) -> None:
    from server_toy_envs import ToyEnv

    source = toy_source(observation_space=obs_space, action_space=act_space, horizon=3)
    with serving(source, num_envs=2) as server:
        env = RemoteEnv(*server.address, protocol_version=version)
        assert env.client.protocol_version == version
        obs, _ = env.reset(seed=4)
        local = ToyEnv(observation_space=obs_space, action_space=act_space)
        expected, _ = local.reset(seed=4)
        assert env.observation_space.contains(obs)

        def same(a: Any, b: Any) -> None:
            if isinstance(b, dict):
                for key in b:
                    np.testing.assert_array_equal(a[key], b[key])
            else:
                np.testing.assert_array_equal(np.asarray(a).ravel(), np.asarray(b).ravel())

        same(obs, expected)
        obs = env.step(env.action_space.sample())[0]
        same(obs, local.step(local.action_space.sample())[0])
        env.close()

        venv = RemoteVectorEnv(*server.address, protocol_version=version)
        batch, _ = venv.reset(seed=[4, 5])
        assert venv.observation_space.contains(batch)
        finals = 0
        for _ in range(4):  # crosses an episode end (horizon 3): SameStep autoreset
            batch, _, terminated, _, infos = venv.step(venv.action_space.sample())
            assert venv.observation_space.contains(batch)
            finals += int(terminated.sum())
            if terminated.any():
                assert infos["_final_obs"].tolist() == terminated.tolist()
        assert finals == 2
        venv.close()


def test_remote_vector_env_partial_reset_and_unsupported_options() -> None:
    with serving(env_source("cartpole"), num_envs=3) as server:
        venv = RemoteVectorEnv(*server.address)
        first, _ = venv.reset(seed=1)
        venv.step(np.zeros((3, 2), np.float32))
        partial, _ = venv.reset(seed=[None, 7, None], options={"reset_mask": np.array([False, True, False])})
        fresh = make_env("cartpole").reset(seed=7)[0]
        np.testing.assert_array_equal(partial[1], fresh)
        assert not np.array_equal(partial[0], first[0])  # env 0 kept its stepped observation
        with pytest.raises(ConfigError, match="only a seed"):
            venv.reset(options={"difficulty": 3})
        venv.close()
        env = RemoteEnv(*server.address)
        with pytest.raises(ConfigError):
            env.reset(options={"x": 1})
        env.close()


def test_clankers_serve_rejects_bad_arguments_with_exit_code_2() -> None:
    from typer.testing import CliRunner

    from clankers.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--task", "no-such-task"])
    assert result.exit_code == 2 and "unknown task" in result.output
    result = runner.invoke(app, ["serve", "--num-envs", "0"])
    assert result.exit_code == 2 and "num_envs" in result.output


def test_the_clients_import_without_mujoco() -> None:
    """A client on a robot's computer opens a socket without importing the simulator (or pydantic)."""
    code = (
        "import sys\n"
        "from clankers.server import GymClient, RemoteEnv, RemoteVectorEnv, load_token\n"
        "print(sorted(m for m in ('mujoco', 'pydantic', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
