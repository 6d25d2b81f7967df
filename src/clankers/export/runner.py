"""The exporter's own view of a candidate file: feed its graph exactly as the metadata says a runtime must.

Verification deliberately runs the file through bare onnxruntime with the tensor names, dtypes and state
conventions the exporter declares (raw observations, int64 actions, LSTM state reset to its initial value
at episode starts), independent of :class:`clankers.policy.OnnxPolicy`; the pipeline then also loads the
file with ``OnnxPolicy`` so the deployment runtime is held to the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnxruntime as ort

from clankers.export.sb3 import ExportableActor


class GraphRunner:
    """Runs a policy graph with onnxruntime (one thread, CPU), stateless or one recurrent step at a time."""

    def __init__(self, path: str | Path, actor: ExportableActor) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.actor = actor
        self.recurrent = actor.recurrent

    def initial_state(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Zeros, the initial LSTM state SB3 uses (``RecurrentState.init = 0.0``)."""
        assert self.recurrent is not None
        shape = self.recurrent.state_shape(batch)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def act(self, feed: Mapping[str, np.ndarray]) -> np.ndarray:
        """Actions for a batch of observations (non-recurrent graphs)."""
        return self.session.run(["action"], dict(feed))[0]

    def step(
        self,
        feed: Mapping[str, np.ndarray],
        state: tuple[np.ndarray, np.ndarray],
        episode_start: np.ndarray,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """One recurrent step; rows whose ``episode_start`` is true start from the initial state."""
        assert self.recurrent is not None
        h, c = (s.copy() for s in state)
        starts = np.asarray(episode_start, dtype=bool)
        h[:, starts] = 0.0
        c[:, starts] = 0.0
        names = self.recurrent.inputs
        action, h_next, c_next = self.session.run(
            ["action", *self.recurrent.outputs], {**feed, names[0]: h, names[1]: c}
        )
        return action, (h_next, c_next)
