"""The base of every clankers configuration model.

Configurations are data (code, task files, the CLI) validated by pydantic. Two choices hold for all of
them: they are frozen (a config cannot change under a running simulation) and they reject unknown keys
(a typo in a task file is an error, not a silently ignored setting). Validation failures surface as
:class:`clankers.errors.ConfigError`, so callers catch one hierarchy, with pydantic's field-level detail.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from clankers.errors import ConfigError


class ConfigModel(BaseModel):
    """Frozen pydantic model with strict keys whose validation errors raise :class:`ConfigError`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: How the error message names this kind of config ("invalid <label>: ..."); the class name by default.
    config_label: ClassVar[str | None] = None

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            label = type(self).config_label or type(self).__name__
            raise ConfigError(f"invalid {label}: {exc}") from exc
