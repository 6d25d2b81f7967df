"""The browser viewer, seen by a real headless Chromium: a live policy and a recording both show the robot.

The viewer and the browser run inside a private network namespace (``unshare -n`` with only ``lo`` up):
a browser makes requests of its own, and nothing may leave loopback.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs Debian's chromium, unshare and root (for the network namespace); .ci/run installs chromium",
)

SCRIPT = """
set -u
ip link set lo up
"$PYTHON" -m clankers.cli view zero --env cartpole --port 18731 --duration 120 > "$OUT/live.log" 2>&1 &
live=$!
"$PYTHON" -m clankers.cli view "$RECORDING" --port 18732 --duration 120 > "$OUT/recording.log" 2>&1 &
recorded=$!
for port in 18731 18732; do
  for _ in $(seq 1 120); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.5; done
done
sleep 1
for name in live:18731 recording:18732; do
  # The scene reaches the page over a websocket in real time while the screenshot waits in virtual time:
  # on a busy machine the first shot can come before the geometry. Up to 3 shots, each waiting longer.
  for attempt in 1 2 3; do
    timeout 90 "$CHROMIUM" --headless=new --no-sandbox --use-angle=swiftshader --enable-unsafe-swiftshader \
      --user-data-dir="$OUT/profile-${name%%:*}" --no-first-run --window-size=900,700 \
      --virtual-time-budget=$((attempt * 10000)) \
      --screenshot="$OUT/${name%%:*}.png" "http://127.0.0.1:${name##*:}/" >> "$OUT/chromium.log" 2>&1
    echo "${name%%:*}: shot $attempt" >> "$OUT/attempts.log"
    "$PYTHON" "$OUT/drawn.py" "$OUT/${name%%:*}.png" && break
  done
done
kill $live $recorded 2>/dev/null
wait 2>/dev/null
exit 0
"""


#: Exit 0 when the screenshot shows the robot (the same count the tests assert, from _robot_pixels).
DRAWN = """
import sys
import numpy as np
from PIL import Image
{function}
with Image.open(sys.argv[1]) as image:
    sys.exit(0 if _robot_pixels(np.asarray(image.convert("RGB")).astype(int)) > 400 else 1)
"""


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Both viewers served at once inside one network namespace, one Chromium screenshot of each."""
    from clankers.envs import make_env
    from clankers.envs.recording import StateRecorder, write_recording
    from clankers.envs.rollout import evaluate

    out = tmp_path_factory.mktemp("viewer")
    env = StateRecorder(make_env("cartpole"))
    evaluate(lambda obs: np.zeros(2, np.float32), "cartpole", 1, seed=0, env_factory=lambda: env)
    recording = write_recording(out / "ep.mcap", env.finish(), env, {"task": "cartpole"})
    (out / "drawn.py").write_text(DRAWN.format(function=inspect.getsource(_robot_pixels)))
    variables = {**os.environ, "PYTHON": sys.executable, "RECORDING": str(recording), "OUT": str(out),
                 "CHROMIUM": str(CHROMIUM)}  # fmt: skip
    subprocess.run(["unshare", "-n", "bash", "-c", SCRIPT], env=variables, timeout=300, check=True)
    shots = {}
    for name in ("live", "recording"):
        shot = out / f"{name}.png"
        assert shot.is_file(), (out / f"{name}.log").read_text()[-2000:] + (out / "chromium.log").read_text()[
            -2000:
        ]
        with Image.open(shot) as image:
            shots[name] = np.asarray(image.convert("RGB")).astype(int)
    return shots


def _robot_pixels(pixels: np.ndarray) -> int:
    """Pixels of the clankers orange the viewer gives default-grey robots (shaded), in the 3D view
    (left of the control panel, right of viser's notification bar)."""
    view = pixels[:, 40:560]
    r, g, b = view[..., 0], view[..., 1], view[..., 2]
    return int(((r > 150) & (r - b > 70) & (g < r - 20)).sum())


@needs_browser
def test_live_view_draws_the_robot(screenshots: dict[str, np.ndarray]) -> None:
    assert _robot_pixels(screenshots["live"]) > 400, "the cart-pole is drawn in the 3D view"


@needs_browser
def test_recording_view_draws_the_robot(screenshots: dict[str, np.ndarray]) -> None:
    assert _robot_pixels(screenshots["recording"]) > 400


def test_play_pause_and_step() -> None:
    from clankers.viz.viewer import Viewer

    class Flag:
        def __init__(self, value: bool) -> None:
            self.value = value

    viewer = Viewer.__new__(Viewer)  # the controls' logic alone, without a server
    import threading

    viewer.playing = Flag(True)
    viewer._step_requested = threading.Event()
    assert viewer._advance()
    viewer.playing.value = False
    assert not viewer._advance()
    viewer._step_requested.set()
    assert viewer._advance() and not viewer._advance()  # one step per click
