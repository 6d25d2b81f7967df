"""Training-framework adapters: trained models -> clanker policy files (torch lives here).

:func:`export_sb3` is the whole pipeline for a Stable-Baselines3 or sb3-contrib model: detect the
algorithm from the zip, wrap the deterministic actor with SB3's pre-processing (VecNormalize, image
transposition) and post-processing (distribution mode, unscale/clip, argmax), export with torch, attach
the format-1.1 metadata, then validate the candidate file (ONNX checker, tensor names and shapes,
onnxruntime at batch 1 and 5, per-sample parity with ``predict``, optionally closed-loop parity in an
environment, the deployment runtime, the conformance checker) and only then give it its final name.

Modules: ``detect`` (which algorithm), ``observations`` and ``vecnormalize`` (graph inputs),
``actions`` and ``actors`` (the graph per algorithm family), ``sb3`` (putting them together),
``shapes`` (declared tensor shapes, tracing inputs), ``onnx_writer`` (torch -> ONNX, atomic writes),
``metadata``, ``runner``, ``parity``, ``closed_loop``, ``checks`` and ``pipeline``. See ``docs/export.md``.
"""

from clankers.export.detect import detect_algorithm, load_model
from clankers.export.pipeline import ExportReport, export_sb3

__all__ = ["ExportReport", "detect_algorithm", "export_sb3", "load_model"]
