"""Loading a connector's settings: one rule for what a settings error may say.

A settings error reaches logs, Temporal failures and the DPO, and settings hold database
passwords and API tokens; pydantic's own message quotes the offending input. So the error
names the fields that are wrong and the environment prefix to look under, never a value.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from connectors.base._errors import ConfigurationError

__all__ = ["load_settings"]

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(settings_class: type[SettingsT], system: str) -> SettingsT:
    """`settings_class()` from the environment, or a ConfigurationError naming the bad fields."""
    try:
        return settings_class()
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        prefix = settings_class.model_config.get("env_prefix", "")
        raise ConfigurationError(
            f"invalid {system} settings ({prefix}*): {', '.join(fields)}"
        ) from None
