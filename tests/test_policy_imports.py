"""The deployment contract stays light: importing and running clankers.policy pulls in no torch, SB3 or
other clankers subpackage (a robot installs onnxruntime, not a training stack). The one exception is
``clankers._gl``, which ``import clankers`` runs first: it imports only ``os``/``sys`` and reads the linker
cache to pick MuJoCo's headless GL backend (asserted below: it must stay that light)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _policy_graphs import identity_first, linear_model, save, standard_props

PROBE = """
import sys
import numpy as np
from clankers.policy import OnnxPolicy, check_policy
policy = OnnxPolicy(sys.argv[1])
policy.act(np.zeros(4))
check_policy(sys.argv[1])
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'stable_baselines3', 'sb3_contrib', 'gymnasium', 'mujoco'))
other = sorted(m for m in sys.modules if m.startswith('clankers.') and not m.startswith(('clankers.policy', 'clankers.errors')) and m != 'clankers._gl')
import json
print(json.dumps({'heavy': heavy, 'other': other}))
"""


def test_policy_imports_nothing_heavy(tmp_path: Path) -> None:
    path = save(linear_model(identity_first(), props=standard_props()), tmp_path / "p.onnx")
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert loaded == {"heavy": [], "other": []}


def test_gl_backend_choice_imports_nothing() -> None:
    probe = "import sys; before = set(sys.modules); import clankers; print(sorted(set(sys.modules) - before))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    added = json.loads(out.stdout.replace("'", '"'))
    assert set(added) <= {"__future__", "clankers", "clankers._gl"}, added
