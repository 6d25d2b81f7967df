"""Load: 8 concurrent clients x 10,000 steps each against a server in its own process.

Every response is matched to its request: each client replays its episodes locally on an identical
environment (same seed, same actions) and checks every observation bit for bit, every reward and flag,
and the step counter. Cross-talk between sessions, a lost or duplicated response, or a reordering would
all show up as a mismatch.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import gymnasium as gym
import numpy as np

from clankers.server import GymClient

CLIENTS = 8
STEPS = 10_000
TASK = "CartPole-v1"  # a near-free env, so the test loads the protocol and not the physics

SERVER = (
    "from clankers.server import ServerConfig, env_source, serve\n"
    f"serve(env_source({TASK!r}), ServerConfig(port=0), on_bound=lambda a: print(a[1], flush=True))\n"
)


def run_client(port: int, index: int, results: dict[int, tuple[int, int]]) -> None:
    rng = np.random.default_rng(index)
    local = gym.make(TASK)
    with GymClient("127.0.0.1", port, client_name=f"load-{index}") as client:
        seed = 1000 + index
        obs, _ = local.reset(seed=seed)
        response = client.request({"type": "reset", "seed": seed})
        assert response["observation"]["data"] == obs.tolist()
        episodes, length = 1, 0
        for _ in range(STEPS):
            action = int(rng.integers(2))
            response = client.request({"type": "step", "action": {"Discrete": action}})
            obs, reward, terminated, truncated, _ = local.step(action)
            length += 1
            assert response["type"] == "step"
            assert response["observation"]["data"] == obs.tolist()
            assert (response["reward"], response["terminated"], response["truncated"]) == (
                reward,
                terminated,
                truncated,
            )
            assert response["info"]["episode_length"] == length
            if terminated or truncated:
                obs, _ = local.reset()
                response = client.request({"type": "reset"})
                assert response["observation"]["data"] == obs.tolist()
                episodes, length = episodes + 1, 0
    results[index] = (STEPS, episodes)


def test_eight_clients_ten_thousand_steps_each_nothing_lost() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        results: dict[int, tuple[int, int]] = {}
        errors: list[BaseException] = []

        def guarded(i: int) -> None:
            try:
                run_client(port, i, results)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=guarded, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        assert not errors, errors[0]
        assert sorted(results) == list(range(CLIENTS))
        assert sum(steps for steps, _ in results.values()) == CLIENTS * STEPS
        assert proc.poll() is None  # still serving
    finally:
        proc.terminate()
        proc.wait(timeout=10)
