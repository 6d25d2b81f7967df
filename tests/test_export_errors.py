"""Every failure on a foreign model is a typed ExportError with the cause and a fix, never a traceback.

A corpus of damaged inputs, each made from one good zip or statistics file: not a zip, a zip that is not
SB3's, corrupt and truncated members, a policy class from elsewhere, weights that do not fit, unreadable
statistics. The API must raise :class:`ExportError` (with a hint) and write nothing; ``clankers export``
must exit 2 with ``error:`` and ``hint:`` lines and no Python traceback.
"""

from __future__ import annotations

import base64
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from typer.testing import CliRunner

from clankers.errors import ExportError, UnsupportedModelError
from clankers.export import export_sb3
from export_toy_envs import env_id

SMALL = {"net_arch": [16]}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    root = tmp_path_factory.mktemp("export-errors")
    venv = VecNormalize(DummyVecEnv([lambda: gym.make(env_id("vector", "box"))]), norm_reward=False)
    PPO("MlpPolicy", venv, policy_kwargs=dict(SMALL), device="cpu", seed=0).save(root / "ppo.zip")
    PPO("MlpPolicy", venv, policy_kwargs={"net_arch": [32]}, device="cpu", seed=0).save(root / "ppo32.zip")
    SAC("MlpPolicy", venv, policy_kwargs=dict(SMALL), buffer_size=10, device="cpu", seed=0).save(
        root / "sac.zip"
    )
    venv.save(root / "vecnormalize.pkl")
    return {
        "ppo": root / "ppo.zip",
        "ppo32": root / "ppo32.zip",
        "sac": root / "sac.zip",
        "stats": root / "vecnormalize.pkl",
    }


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(target: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return target


def _edit_data(members: dict[str, bytes], change: Callable[[dict[str, Any]], None]) -> dict[str, bytes]:
    data = json.loads(members["data"])
    change(data)
    return {**members, "data": json.dumps(data).encode()}


def _serialized(raw: bytes) -> dict[str, str]:
    return {":type:": "<class 'type'>", ":serialized:": base64.b64encode(raw).decode()}


def _truncate(entry: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        raw = base64.b64decode(data[entry][":serialized:"])
        data[entry][":serialized:"] = base64.b64encode(raw[: len(raw) // 2]).decode()

    return change


def _set(entry: str, raw: bytes) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data[entry] = _serialized(raw)

    return change


# A class in a module nobody has (what a zip with a custom policy looks like elsewhere): protocol-0 text.
FOREIGN_CLASS = b"cmy_lab.policies\nFancyPolicy\np0\n."


def _corrupt_member(members: dict[str, bytes], tmp: Path) -> Path:
    """A zip whose 'data' member fails its CRC check (one stored byte flipped)."""
    path = tmp / "crc.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    raw = bytearray(path.read_bytes())
    at = raw.find(b'"policy_class"')
    raw[at + 3] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def _case(name: str, good: dict[str, Path], tmp: Path) -> tuple[Path, dict[str, Any]]:
    """(model path, extra options) of corpus entry ``name``."""
    ppo = _members(good["ppo"])
    if name == "random-bytes":
        (tmp / "x.zip").write_bytes(np.random.default_rng(0).bytes(2000))
        return tmp / "x.zip", {}
    if name == "zip-not-sb3":
        return _zip(tmp / "x.zip", {"readme.txt": b"hello"}), {}
    if name == "truncated-zip":
        raw = good["ppo"].read_bytes()
        (tmp / "x.zip").write_bytes(raw[: len(raw) * 3 // 5])
        return tmp / "x.zip", {}
    if name == "crc-error":
        return _corrupt_member(ppo, tmp), {}
    if name == "data-not-json":
        return _zip(tmp / "x.zip", {**ppo, "data": b'{"policy_class": '}), {}
    if name == "truncated-space-pickle":
        return _zip(tmp / "x.zip", _edit_data(ppo, _truncate("observation_space"))), {}
    if name == "truncated-policy-class":
        return _zip(tmp / "x.zip", _edit_data(ppo, _truncate("policy_class"))), {}
    if name == "no-policy-class":
        return _zip(tmp / "x.zip", _edit_data(ppo, lambda d: d.pop("policy_class"))), {}
    if name == "custom-policy-module":
        return _zip(tmp / "x.zip", _edit_data(ppo, _set("policy_class", FOREIGN_CLASS))), {}
    if name == "custom-extractor-in-kwargs":
        raw = pickle.dumps({"net_arch": [16], "features_extractor_class": "?"}, protocol=0)
        raw = raw.replace(b"V?\n", b"cmy_lab.nets\nExtractor\n")
        return _zip(tmp / "x.zip", _edit_data(ppo, _set("policy_kwargs", raw))), {}
    if name == "policy-class-not-a-policy":
        return _zip(tmp / "x.zip", _edit_data(ppo, _set("policy_class", pickle.dumps(int)))), {}
    if name == "policy-class-of-another-algorithm":
        sac_class = json.loads(_members(good["sac"])["data"])["policy_class"]
        return _zip(tmp / "x.zip", _edit_data(ppo, lambda d: d.__setitem__("policy_class", sac_class))), {}
    if name == "wrong-algo-option":
        return good["ppo"], {"algo": "SAC"}
    if name == "weights-of-another-architecture":
        return _zip(tmp / "x.zip", {**ppo, "policy.pth": _members(good["ppo32"])["policy.pth"]}), {}
    if name == "no-weights":
        return _zip(tmp / "x.zip", {k: v for k, v in ppo.items() if k != "policy.pth"}), {}
    if name == "corrupt-weights":
        return _zip(tmp / "x.zip", {**ppo, "policy.pth": b"PK\x03\x04garbage"}), {}
    if name == "stats-truncated":
        raw = good["stats"].read_bytes()
        (tmp / "v.pkl").write_bytes(raw[: len(raw) // 2])
        return good["ppo"], {"vecnormalize": tmp / "v.pkl"}
    if name == "stats-not-vecnormalize":
        (tmp / "v.pkl").write_bytes(pickle.dumps({"mean": [0.0]}))
        return good["ppo"], {"vecnormalize": tmp / "v.pkl"}
    if name == "stats-nan":
        from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

        stats = VecNormalize(DummyVecEnv([lambda: gym.make(env_id("vector", "box"))]))
        stats.obs_rms.var[0] = np.nan  # what a diverged run leaves behind
        stats.save(tmp / "v.pkl")
        return good["ppo"], {"vecnormalize": tmp / "v.pkl"}
    if name == "stats-missing":
        return good["ppo"], {"vecnormalize": tmp / "missing.pkl"}
    if name == "stats-of-another-model":
        from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

        VecNormalize(DummyVecEnv([lambda: gym.make(env_id("matrix", "box"))])).save(tmp / "v.pkl")
        return good["ppo"], {"vecnormalize": tmp / "v.pkl"}
    raise ValueError(name)


# name -> a phrase the message must contain
CORPUS = {
    "random-bytes": "not a Stable-Baselines3 model zip",
    "zip-not-sb3": "is a zip archive but not a Stable-Baselines3 model",
    "truncated-zip": "truncated or damaged zip",
    "crc-error": "cannot be read",
    "data-not-json": "'data' member is corrupt",
    "truncated-space-pickle": "observation_space is truncated or corrupt",
    "truncated-policy-class": "policy_class is truncated or corrupt",
    "no-policy-class": "without 'policy_class'",
    "custom-policy-module": "needs the module 'my_lab'",
    "custom-extractor-in-kwargs": "policy_kwargs needs the module 'my_lab'",
    "policy-class-not-a-policy": "not a Stable-Baselines3 policy class",
    "policy-class-of-another-algorithm": "SAC cannot rebuild the saved policy",
    "wrong-algo-option": "--algo SAC does not fit",
    "weights-of-another-architecture": "do not fit",
    "no-weights": "without policy weights",
    "corrupt-weights": "policy weights (policy.pth) cannot be read",
    "stats-truncated": "truncated",
    "stats-not-vecnormalize": "not VecNormalize statistics",
    "stats-nan": "NaN",
    "stats-missing": "does not exist",
    "stats-of-another-model": "statistics have shape",
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_damaged_input_is_a_typed_error(name: str, good: dict[str, Path], tmp_path: Path) -> None:
    model, options = _case(name, good, tmp_path)
    out = tmp_path / "out" / "policy.onnx"
    with pytest.raises(ExportError) as err:
        export_sb3(model, out, n_samples=100, **options)
    assert CORPUS[name] in str(err.value)
    assert err.value.hint, f"{name}: no fix named"
    assert not out.exists()


@pytest.mark.parametrize(
    "name",
    [
        "random-bytes",
        "truncated-space-pickle",
        "custom-policy-module",
        "weights-of-another-architecture",
        "stats-truncated",
    ],
)
def test_cli_reports_without_traceback(name: str, good: dict[str, Path], tmp_path: Path) -> None:
    from clankers.cli import app

    model, options = _case(name, good, tmp_path)
    args = ["export", str(model), "-o", str(tmp_path / "p.onnx"), "--n-samples", "100"]
    if "vecnormalize" in options:
        args += ["--vecnormalize", str(options["vecnormalize"])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "error: " in output and "hint: " in output and CORPUS[name] in output


def test_unreadable_training_entries_are_skipped(good: dict[str, Path], tmp_path: Path) -> None:
    """An entry no one needs to act (here: a callback pickled by a library that is gone) does not matter."""
    members = _edit_data(_members(good["ppo"]), _set("custom_callback", FOREIGN_CLASS))
    report = export_sb3(_zip(tmp_path / "x.zip", members), tmp_path / "p.onnx", n_samples=1000)
    assert report.level == "verified"
    assert any("skipped: custom_callback" in note for note in report.notes)


def test_unsupported_models_stay_unsupported(tmp_path: Path) -> None:
    """The typed refusal of a model the format cannot describe is an UnsupportedModelError (an ExportError)."""
    assert issubclass(UnsupportedModelError, ExportError)
    with pytest.raises(UnsupportedModelError):
        export_sb3(tmp_path / "x.zip", tmp_path / "p.onnx", algo="NoSuchAlgo")


def test_output_that_cannot_be_written(good: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(ExportError, match="is a folder") as err:
        export_sb3(good["ppo"], tmp_path / "taken", n_samples=100)
    assert err.value.hint
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="cannot create the folder") as err:
        export_sb3(good["ppo"], tmp_path / "file" / "policy.onnx", n_samples=100)
    assert err.value.hint
