"""Security of the protocol server over real sockets (docs/protocol.md §12): tokens, TLS, fair limits.

Every timeout is shrunk to fractions of a second, so the attacks here (silent and trickling
connections, idle sessions holding every place, floods from one address) play out in well under a
second each. Refusals are checked to happen before any environment exists (a counting env source).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clankers.errors import ConnectionClosedError, ServerError
from clankers.server import GymClient, ProtocolServer, RemoteEnv, RemoteVectorEnv, ServerConfig
from clankers.server.session import EnvSource
from server_toy_envs import RawClient, ToyEnv
from test_server_fuzz import TEMPLATES, mutate, random_payload

TOKEN = "s3cret-token-for-the-tests-0123456789"
INIT = {"type": "init", "protocol_version": "1.3.0", "client_name": "t", "client_version": "0"}
STEP = {"type": "step", "action": {"Continuous": [0.0, 0.0]}}


class Counting:
    """Toy env source that counts the environments it made."""

    def __init__(self, **env_kwargs: Any) -> None:
        self.made = 0
        self.env_kwargs = env_kwargs
        self.source = EnvSource(name="toy/Toy-v0", version="1.0.0", make=self._make)

    def _make(self) -> ToyEnv:
        self.made += 1
        return ToyEnv(**self.env_kwargs)


@contextmanager
def serving(source: EnvSource, **config: Any) -> Iterator[ProtocolServer]:
    with ProtocolServer(source, ServerConfig(port=0, **config)) as server:
        yield server


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def hung_up(client: RawClient) -> bool:
    """The server closed this connection (possibly after one last error frame, returned by recv)."""
    try:
        while True:
            client.recv_frame()
    except (ConnectionError, OSError):
        return True


# --- tokens ------------------------------------------------------------------------------------------------


def test_a_token_server_serves_the_right_token_and_refuses_others() -> None:
    counting = Counting(horizon=50)
    with serving(counting.source, token=TOKEN, num_envs=2) as server:
        with GymClient(*server.address, token=TOKEN) as client:
            assert client.authenticated and client.protocol_version == "1.3.0"
            client.request({"type": "batch_reset", "env_ids": [0, 1]})
            assert client.request({"type": "batch_step", "actions": [STEP["action"]] * 2})["rewards"] == [
                1,
                1,
            ]
        assert counting.made == 2
        for token, words in [(None, "requires a token"), ("not-the-token-at-all!", "wrong token")]:
            with pytest.raises(ServerError, match=words) as err:
                GymClient(*server.address, token=token).connect()
            assert err.value.code == 107
        raw = RawClient(server.address)  # the earlier 1.0.0 client cannot send a token: refused
        response = raw.request({**INIT, "protocol_version": "1.0.0", "capabilities": {"binary_obs": True}})
        assert response["code"] == 107 and hung_up(raw)
        assert counting.made == 2  # no refused client got an environment
        assert wait_for(lambda: server.active_sessions == 0)


def test_wrong_tokens_replayed_handshakes_and_oversized_frames_before_auth_make_no_environment() -> None:
    counting = Counting()
    with serving(counting.source, token=TOKEN) as server:
        # A wrong token, then the right one on the same connection: the first answer was the last.
        raw = RawClient(server.address)
        assert raw.request({**INIT, "token": "guess-number-one-guess"})["code"] == 107
        with pytest.raises((ConnectionError, OSError)):
            raw.request({**INIT, "token": TOKEN})
        # A captured valid handshake replayed on the authenticated connection: 103, nothing made.
        raw = RawClient(server.address)
        assert raw.request({**INIT, "token": TOKEN})["type"] == "init_response"
        assert counting.made == 1
        assert raw.request({**INIT, "token": TOKEN})["code"] == 103
        assert raw.request({"type": "ping", "timestamp": 5})["type"] == "pong"  # the session goes on
        assert counting.made == 1
        raw.close()
        # Oversized before authentication: 104 at 64 KiB already (an init is < 1 KiB), then hang up.
        for announced in (64 * 1024 + 1, 16 * 1024 * 1024 + 1, 2**32 - 1):
            raw = RawClient(server.address)
            raw.send_bytes(struct.pack("<I", announced))
            response = raw.recv()
            assert response["code"] == 104 and "before the handshake" in response["message"]
            assert hung_up(raw)
        # Anything but an init before authentication: one error, then hang up.
        for payload in (b"{broken", json.dumps({"type": "reset"}).encode(), b"\x00" * 100):
            raw = RawClient(server.address)
            raw.send_frame(payload)
            assert raw.recv()["type"] == "error" and hung_up(raw)
        assert counting.made == 1


def test_random_frames_before_authentication_never_make_an_environment() -> None:
    rng = random.Random(14)
    counting = Counting()
    codes: set[int] = set()
    with serving(counting.source, token=TOKEN, max_per_address=1000) as server:
        for _ in range(150):
            raw = RawClient(server.address)
            template = {
                **rng.choice(TEMPLATES),
                "token": rng.choice([TOKEN[:-1], 0, None, "", TOKEN.upper()]),
            }
            raw.send_frame(random_payload(rng) if rng.random() < 0.3 else mutate(rng, template))
            response = raw.recv()
            assert response["type"] == "error", response
            codes.add(response["code"])
            assert hung_up(raw)
        assert counting.made == 0
        assert {107, 300} <= codes and 400 not in codes


# --- limits --------------------------------------------------------------------------------------------------


def test_the_handshake_deadline_drops_silent_and_trickling_connections() -> None:
    counting = Counting()
    with serving(counting.source, handshake_timeout=0.3, idle_timeout=30) as server:
        silent = RawClient(server.address)
        half = RawClient(server.address)
        half.send_bytes(struct.pack("<I", 200) + b'{"type":')
        trickle = RawClient(server.address)
        payload = json.dumps(INIT).encode()
        frame = struct.pack("<I", len(payload)) + payload
        start = time.monotonic()
        for byte in frame[:-1]:  # one byte at a time: every recv succeeds, the deadline still holds
            if time.monotonic() - start > 1.0:
                break
            try:
                trickle.send_bytes(bytes([byte]))
            except OSError:
                break
            time.sleep(0.02)
        assert hung_up(silent) and hung_up(half) and hung_up(trickle)
        assert time.monotonic() - start < 5.0
        assert counting.made == 0
        with GymClient(*server.address) as client:  # a handshaken session keeps the long idle timeout
            time.sleep(0.5)
            assert client.ping() >= 0


def test_the_lock_out_scenario_no_longer_denies_a_valid_client() -> None:
    """The issue's attack: every place taken by handshaken idle clients (one of which pings to look
    alive), a handshaken one stalled in a half frame, and more connections dribbling half frames
    before their handshake. A valid client still gets in and runs an episode."""
    counting = Counting(horizon=5)
    config = {"max_clients": 64, "reclaim_after": 0.2, "handshake_timeout": 1.0, "max_per_address": 1000}
    with serving(counting.source, **config) as server:
        pinger = RawClient(server.address)  # the oldest session, pinging now and then
        assert pinger.request(INIT)["type"] == "init_response"
        idle = [RawClient(server.address) for _ in range(62)]
        for client in idle:
            assert client.request(INIT)["type"] == "init_response"
        stalled = RawClient(server.address)
        assert stalled.request(INIT)["type"] == "init_response"
        stalled.send_bytes(struct.pack("<I", 1000) + b'{"type":"st')
        slow = [RawClient(server.address) for _ in range(16)]
        for client in slow:
            client.send_bytes(struct.pack("<I", 100) + b"{")
        assert wait_for(lambda: server.limits.sessions == 64)
        for _ in range(5):
            assert pinger.request({"type": "ping", "timestamp": 1})["type"] == "pong"
            time.sleep(0.06)

        valid = GymClient(*server.address, timeout=5)
        valid.connect()
        valid.request({"type": "reset", "seed": 0})
        steps = [valid.request(STEP) for _ in range(5)]
        assert steps[-1]["terminated"] and steps[-1]["info"]["episode_length"] == 5
        assert server.limits.reclaimed == 1
        reclaimed = pinger.recv()  # the pinger had not asked for any env work since its init
        assert reclaimed["code"] == 108 and "reclaimed" in reclaimed["message"] and hung_up(pinger)
        # A second valid client takes the next idle place (oldest first); the working one keeps its own.
        with GymClient(*server.address, timeout=5) as second:
            assert second.request({"type": "reset", "seed": 1})["type"] == "reset"
        assert server.limits.reclaimed == 2
        assert idle[0].recv()["code"] == 108
        assert valid.request({"type": "reset", "seed": 2})["type"] == "reset"
        valid.close()
        for client in [*idle, stalled, *slow]:
            client.close()


def test_when_no_session_is_idle_enough_a_new_client_is_refused_at_once() -> None:
    with serving(Counting().source, max_clients=2, reclaim_after=60) as server:
        busy = [GymClient(*server.address) for _ in range(2)]
        for client in busy:
            client.connect()
        with pytest.raises(ServerError, match="--max-clients") as err:
            GymClient(*server.address).connect()
        assert err.value.code == 108
        assert all(client.ping() >= 0 for client in busy)
        busy[0].close()
        assert wait_for(lambda: server.limits.sessions == 1)
        with GymClient(*server.address) as client:
            assert client.ping() >= 0


def test_connections_per_address_are_limited() -> None:
    with serving(Counting().source, max_per_address=2) as server:
        first = GymClient(*server.address)
        first.connect()
        pending = RawClient(server.address)  # handshaking connections count too
        third = RawClient(server.address)
        refused = third.recv()
        assert refused["code"] == 108 and "max_per_address" in refused["message"] and hung_up(third)
        assert server.limits.refused == 1
        pending.close()
        assert wait_for(lambda: server.active_sessions == 1)
        with GymClient(*server.address) as again:
            assert again.ping() >= 0 and first.ping() >= 0


def test_when_too_many_connections_handshake_the_oldest_is_dropped() -> None:
    with serving(Counting().source, max_pending=2, handshake_timeout=30) as server:
        oldest, middle = RawClient(server.address), RawClient(server.address)
        assert wait_for(lambda: server.limits.handshaking == 2)
        with GymClient(*server.address) as newest:  # a third handshake: the oldest makes room
            assert newest.ping() >= 0
        dropped = oldest.recv()
        assert dropped["code"] == 108 and "oldest" in dropped["message"] and hung_up(oldest)
        assert middle.request(INIT)["type"] == "init_response"  # the others were untouched


# --- TLS -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_with_a_token_end_to_end(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    counting = Counting(horizon=3)
    with serving(counting.source, token=TOKEN, tls_cert=cert, tls_key=key, num_envs=2) as server:
        host, port = server.address
        with GymClient(host, port, token=TOKEN, ca_file=cert) as client:
            assert client.tls and client.authenticated
            assert isinstance(client._sock, ssl.SSLSocket) and client._sock.version() in (
                "TLSv1.2",
                "TLSv1.3",
            )
        env = RemoteEnv(host, port, token=TOKEN, ca_file=cert)
        obs, _ = env.reset(seed=3)
        expected, _ = ToyEnv().reset(seed=3)
        np.testing.assert_array_equal(obs, expected)
        assert env.step(env.action_space.sample())[1] == 1.0
        env.close()
        venv = RemoteVectorEnv(host, port, token=TOKEN, ca_file=cert)
        batch, _ = venv.reset(seed=[1, 2])
        assert batch.shape == (2, 3)
        for _ in range(4):  # through an episode end (horizon 3): batch_reset over TLS too
            venv.step(venv.action_space.sample())
        venv.close()


def test_sb3_vec_env_over_tls_with_a_token(certificate: tuple[Path, Path]) -> None:
    pytest.importorskip("stable_baselines3")
    from clankers.server.sb3 import RemoteSB3VecEnv

    cert, key = certificate
    with serving(Counting(horizon=3).source, token=TOKEN, tls_cert=cert, tls_key=key, num_envs=2) as server:
        venv = RemoteSB3VecEnv(*server.address, token=TOKEN, ca_file=cert)
        assert venv.client.tls and venv.client.authenticated
        assert venv.reset().shape == (2, 3)
        _, rewards, dones, _ = venv.step(np.zeros((2, 2), np.float32))
        assert rewards.tolist() == [1.0, 1.0] and not dones.any()
        venv.close()


def test_tls_refuses_plain_clients_and_unverified_servers(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    counting = Counting()
    with serving(counting.source, token=TOKEN, tls_cert=cert, tls_key=key) as server:
        with pytest.raises((ConnectionClosedError, ConnectionError, OSError)):
            GymClient(*server.address, token=TOKEN, timeout=5).connect()  # plain TCP to a TLS port
        with pytest.raises(ssl.SSLCertVerificationError):
            GymClient(*server.address, token=TOKEN, tls=True).connect()  # not signed by a system CA
    other_name = serving(counting.source, token=TOKEN, tls_cert=cert, tls_key=key, host="127.0.0.2")
    with other_name as server, pytest.raises(ssl.SSLCertVerificationError, match="match"):
        GymClient(*server.address, ca_file=cert, token=TOKEN).connect()  # 127.0.0.2: not in the certificate
    assert counting.made == 0


def test_a_reclaimed_tls_session_is_told_why_over_tls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with serving(Counting().source, tls_cert=cert, tls_key=key, max_clients=1, reclaim_after=0) as server:
        first = GymClient(*server.address, ca_file=cert)
        first.connect()
        with GymClient(*server.address, ca_file=cert) as second:
            assert second.ping() >= 0
        with pytest.raises(ServerError, match="reclaimed") as err:
            first.receive()
        assert err.value.code == 108


# --- the command line -------------------------------------------------------------------------------------


def test_clankers_serve_refuses_exposure_and_tokens_on_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from clankers.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"], env={"CLANKERS_TOKEN": ""})
    assert result.exit_code == 2 and "--token-file" in result.output and "--insecure" in result.output
    result = runner.invoke(app, ["serve", "--token", TOKEN])
    assert result.exit_code == 2 and "No such option" in result.output
    short = tmp_path / "token"
    short.write_text("abc\n")
    result = runner.invoke(app, ["serve", "--token-file", str(short)])
    assert result.exit_code == 2 and "at least 16" in result.output


def _serve(args: list[str], env: dict[str, str], prefix: list[str] | None = None) -> tuple[Any, str]:
    proc = subprocess.Popen(
        [*(prefix or []), sys.executable, "-m", "clankers.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env},
    )  # fmt: skip
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl-C" in line or len(lines) > 20:
            break
    return proc, " ".join("".join(lines).split())  # rich wraps long lines when not on a terminal


def test_clankers_serve_takes_its_token_from_the_environment_and_serves_tls(
    certificate: tuple[Path, Path],
) -> None:
    import re

    cert, key = certificate
    proc, out = _serve(["--tls-cert", str(cert), "--tls-key", str(key)], {"CLANKERS_TOKEN": TOKEN})
    try:
        match = re.search(r"on 127\.0\.0\.1:(\d+) \(protocol 1\.3\.0, token required, TLS\)", out)
        assert match, out
        port = int(match.group(1))
        assert TOKEN not in " ".join(proc.args)  # never on the command line
        with GymClient("localhost", port, token=TOKEN, ca_file=cert) as client:
            assert client.authenticated and client.ping() >= 0
        with pytest.raises(ServerError) as err:
            GymClient("localhost", port, ca_file=cert).connect()
        assert err.value.code == 107
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare for a private network namespace")
def test_clankers_serve_insecure_binds_everywhere_with_a_warning() -> None:
    # In a private network namespace, so 0.0.0.0 reaches nothing but this test.
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("unprivileged network namespaces are not available here")
    proc, out = _serve(["--host", "0.0.0.0", "--insecure"], {"CLANKERS_TOKEN": ""}, prefix=["unshare", "-rn"])
    try:
        assert "WITHOUT a token" in out and "on 0.0.0.0:" in out and "no token, plain TCP" in out
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_run_remote_over_tls_with_a_token_file(
    certificate: tuple[Path, Path], tiny_cartpole_policy: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from clankers.cli import app
    from clankers.server.tasks import env_source

    cert, key = certificate
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    runner = CliRunner()
    with serving(env_source("cartpole"), token=TOKEN, tls_cert=cert, tls_key=key) as server:
        remote = f"localhost:{server.address[1]}"
        args = ["run", str(tiny_cartpole_policy), "--episodes", "2", "--remote", remote]
        result = runner.invoke(app, [*args, "--ca-file", str(cert), "--token-file", str(token_file)])
        assert result.exit_code == 0, result.output
        assert "mean return" in result.output
        result = runner.invoke(app, [*args, "--ca-file", str(cert)], env={"CLANKERS_TOKEN": ""})
        assert result.exit_code == 2 and "requires a token" in result.output


def test_threads_do_not_pile_up_under_a_connection_flood() -> None:
    """200 connections that hang up at once: the server's threads and table drain back to idle."""
    before = threading.active_count()
    with serving(Counting().source, max_per_address=1000, handshake_timeout=0.5) as server:
        socks = [socket.create_connection(server.address) for _ in range(200)]
        for sock in socks:
            sock.close()
        assert wait_for(lambda: server.active_sessions == 0)
        assert wait_for(lambda: threading.active_count() <= before + 2)
