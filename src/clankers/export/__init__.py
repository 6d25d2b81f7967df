"""Training-framework adapters: trained models -> clanker policy files (torch lives here).

:func:`export_sb3` is the whole pipeline for a Stable-Baselines3 or sb3-contrib model (``pipeline``, read
top to bottom): read the zip or experiment folder and the statistics, build the deterministic actor with
SB3's pre- and post-processing, write the ONNX graph, verify a candidate file, give it its final name.
:class:`ExportOptions` holds every option, for the API and the CLI alike.

Modules by stage: 1 ``source`` (zips of any SB3 version), ``legacy`` (gym-era pickles read as data),
``folder`` (RL Zoo folders), ``vecnormalize``, ``detect`` (which algorithm); 2 ``sb3`` with
``observations``, ``actions`` and ``actors``; 3 ``onnx_writer`` and ``shapes``; 4 ``metadata``,
``runner``, ``parity``, ``closed_loop``, ``checks``. See ``docs/export.md``.
"""

from clankers.export.detect import detect_algorithm, load_model
from clankers.export.options import ExportOptions
from clankers.export.pipeline import ExportReport, export_sb3

__all__ = ["ExportOptions", "ExportReport", "detect_algorithm", "export_sb3", "load_model"]
