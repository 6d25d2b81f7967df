"""The result of ``check_policy``: findings per requirement, the conformance level, and its rendering.

Levels are cumulative: a file reaches a level when every finding at that level and below passes.
Warnings are advice and never block a level.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from clankers.policy.graph import TensorInfo
from clankers.policy.spec import FORMAT_VERSION, KEYS_1_0, KNOWN_KEYS

#: Conformance levels, lowest first. "none" means not even loadable.
LEVELS = ("none", "basic", "standard", "verified")
_MAX_VALUE_CHARS = 400


@dataclass
class Finding:
    """One requirement of the format and whether the file meets it."""

    level: str  # the conformance level this requirement belongs to (basic/standard/verified)
    ok: bool
    subject: str  # what was checked, e.g. "input obs" or "metadata action_scale"
    message: str
    warning: bool = False  # advice only: never blocks a level


@dataclass
class CheckReport:
    """What ``check_policy`` found: the tensors, every metadata key, and a verdict per requirement."""

    path: str
    checked_against: str = FORMAT_VERSION
    declared_version: str | None = None
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    # --- verdict -----------------------------------------------------------------------------------------

    def add(self, level: str, ok: bool, subject: str, message: str, *, warning: bool = False) -> bool:
        self.findings.append(Finding(level, bool(ok), subject, message, warning))
        return bool(ok)

    @property
    def level(self) -> str:
        """The highest conformance level whose requirements (and all lower ones) pass."""
        reached = "none"
        for name in LEVELS[1:]:
            if any(f.level == name and not f.ok and not f.warning for f in self.findings):
                break
            if not any(f.level == name for f in self.findings):
                break  # a level with no checks run (e.g. after a fatal error) is not reached
            reached = name
        return reached

    @property
    def conforms(self) -> bool:
        """True when the file conforms to the format: level ``standard`` or higher."""
        return LEVELS.index(self.level) >= LEVELS.index("standard")

    @property
    def failures(self) -> list[Finding]:
        """Every unmet requirement (warnings excluded), lowest level first."""
        return sorted(
            (f for f in self.findings if not f.ok and not f.warning), key=lambda f: LEVELS.index(f.level)
        )

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.warning and not f.ok]

    # --- output ------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``clankers check --json``)."""
        return {
            "path": self.path,
            "conforms": self.conforms,
            "level": self.level,
            "checked_against": self.checked_against,
            "declared_version": self.declared_version,
            "inputs": [_tensor_dict(t) for t in self.inputs],
            "outputs": [_tensor_dict(t) for t in self.outputs],
            "metadata": dict(self.metadata),
            "findings": [asdict(f) for f in self.findings],
            "failures": [asdict(f) for f in self.failures],
        }

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = [Text(f"clanker policy check: {self.path}", style="bold")]
        tensors = Table(title="tensors", title_justify="left", expand=False)
        for col in ("kind", "name", "dtype", "shape"):
            tensors.add_column(col)
        for kind, items in (("input", self.inputs), ("output", self.outputs)):
            for t in items:
                tensors.add_row(*(Text(c) for c in (kind, t.name, t.dtype, t.shape_text())))
        parts.append(tensors)

        verdicts: dict[str, list[Finding]] = {}
        for f in self.findings:
            verdicts.setdefault(f.subject, []).append(f)
        meta = Table(title="metadata", title_justify="left", expand=False)
        meta.add_column("key")
        meta.add_column("value", overflow="fold", max_width=60)
        meta.add_column("verdict", overflow="fold", max_width=50)
        keys = [k for k in KNOWN_KEYS if k in KEYS_1_0 or k in self.metadata]
        keys += sorted(k for k in self.metadata if k not in KNOWN_KEYS)
        for key in keys:
            found = verdicts.get(f"metadata {key}", [])
            bad = [f for f in found if not f.ok]
            if bad:
                style = "yellow" if all(f.warning for f in bad) else "red"
                verdict = Text("; ".join(f.message for f in bad), style=style)
            elif found:
                verdict = Text("ok", style="green")
            else:
                verdict = Text("not checked")
            meta.add_row(Text(key), Text(_shorten(self.metadata.get(key, "(absent)"))), verdict)
        parts.append(meta)

        checks = Table(title="requirements", title_justify="left", expand=False)
        for col in ("", "level", "subject", "detail"):
            checks.add_column(col, overflow="fold")
        for f in sorted(self.findings, key=lambda f: LEVELS.index(f.level)):
            mark = (
                Text("PASS", style="green")
                if f.ok
                else Text(*(("WARN", "yellow") if f.warning else ("FAIL", "red")))
            )
            checks.add_row(mark, Text(f.level), Text(f.subject), Text(f.message))
        parts.append(checks)

        if self.conforms:
            summary = Text(
                f"conforms to clanker policy format {self.checked_against}: level {self.level}",
                style="bold green",
            )
        else:
            summary = Text(
                f"does NOT conform to clanker policy format {self.checked_against}: level {self.level} "
                f"({len(self.failures)} unmet requirement(s))",
                style="bold red",
            )
        parts.append(summary)
        higher = [f for f in self.failures if LEVELS.index(f.level) > LEVELS.index(self.level)]
        for f in higher:
            parts.append(Text(f"  missing for {f.level}: {f.subject}: {f.message}"))
        return Group(*parts)

    def to_text(self, width: int = 120) -> str:
        """The report as plain text (what ``clankers check`` prints, without colour)."""
        console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
        console.print(self)
        return console.export_text()


def _tensor_dict(t: TensorInfo) -> dict[str, Any]:
    return {"name": t.name, "dtype": t.dtype, "shape": list(t.shape)}


def _shorten(value: str) -> str:
    """Long values (a parity probe) are cut in the rendered table; ``to_dict`` keeps them whole."""
    if len(value) <= _MAX_VALUE_CHARS:
        return value
    return value[:_MAX_VALUE_CHARS] + f"... ({len(value)} characters)"
