"""Training-framework adapters: trained models -> clanker policy files (torch lives here).

:func:`export_sb3` is the whole pipeline for a Stable-Baselines3 model: load, wrap the deterministic actor
with SB3's post-processing, export with torch, attach the format's metadata, then validate the candidate
file (ONNX checker, tensor names and shapes, onnxruntime at batch 1 and 5, parity with ``predict``) and
only then give it its final name.
"""

from clankers.export.pipeline import ExportReport, export_sb3

__all__ = ["ExportReport", "export_sb3"]
