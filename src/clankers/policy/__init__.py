"""The clanker policy format: the deployment contract between training and robots.

One self-describing ONNX file per policy: observation input(s), an action output, and metadata saying how
to turn the graph's output into a command. ``docs/policy-format.md`` is the normative specification.

This subpackage depends on numpy, onnx, onnxruntime, pydantic, rich and :mod:`clankers.errors` only, so a
robot can deploy a policy without torch, SB3 or the rest of clankers.
"""

from clankers.policy.check import CheckReport, Finding, check_policy
from clankers.policy.records import (
    ClosedLoopRecord,
    ObservationNormalization,
    ParityProbe,
    ParityRecord,
    RecurrentState,
    StateTensor,
)
from clankers.policy.report import LEVELS
from clankers.policy.runtime import OnnxPolicy
from clankers.policy.spaces import BoxSpace, DictSpace, DiscreteSpace, MultiBinarySpace, MultiDiscreteSpace
from clankers.policy.spec import FORMAT_VERSION, PolicyMetadata

__all__ = [
    "FORMAT_VERSION",
    "LEVELS",
    "BoxSpace",
    "CheckReport",
    "ClosedLoopRecord",
    "DictSpace",
    "DiscreteSpace",
    "Finding",
    "MultiBinarySpace",
    "MultiDiscreteSpace",
    "ObservationNormalization",
    "OnnxPolicy",
    "ParityProbe",
    "ParityRecord",
    "PolicyMetadata",
    "RecurrentState",
    "StateTensor",
    "check_policy",
]
